"""Match severities and the risk verdict (watcher.matching.model)."""

from __future__ import annotations

import pytest
from packaging.utils import canonicalize_name

from watcher.matching import KIND_SEVERITY, Match, MatchKind, Risk, assess_risk


def match(kind: MatchKind, public: str = "acme-x", internal: str = "acme") -> Match:
    return Match(canonicalize_name(public), canonicalize_name(internal), kind, "detail")


EXACT = match(MatchKind.EXACT, "acme-billing", "acme-billing")
PREFIX = match(MatchKind.PREFIX, "acme-billing", "acme")


def test_kind_values_are_stable() -> None:
    # Stored in the database: renaming one would orphan existing rows.
    assert [str(k) for k in MatchKind] == ["exact", "prefix"]


def test_every_kind_has_a_severity() -> None:
    assert set(KIND_SEVERITY) == set(MatchKind)
    assert EXACT.severity is Risk.CRITICAL
    assert PREFIX.severity is Risk.HIGH


def test_risk_order_and_names() -> None:
    assert Risk.NONE < Risk.LOW < Risk.MEDIUM < Risk.HIGH < Risk.CRITICAL
    assert [str(r) for r in Risk] == ["none", "low", "medium", "high", "critical"]


@pytest.mark.parametrize(
    ("matches", "public_exists", "allowed", "risk"),
    [
        ([EXACT], True, False, Risk.CRITICAL),
        ([PREFIX], True, False, Risk.HIGH),
        ([PREFIX, EXACT], True, False, Risk.CRITICAL),
        ([EXACT, PREFIX], True, False, Risk.CRITICAL),
        ([EXACT], False, False, Risk.MEDIUM),
        ([PREFIX], False, False, Risk.MEDIUM),
        ([EXACT, PREFIX], False, False, Risk.MEDIUM),
        ([], True, False, Risk.NONE),
        ([], False, False, Risk.NONE),
        ([EXACT], True, True, Risk.NONE),
        ([PREFIX], False, True, Risk.NONE),
        ([], True, True, Risk.NONE),
    ],
)
def test_assess_risk(matches: list[Match], public_exists: bool, allowed: bool, risk: Risk) -> None:
    assert assess_risk(matches, public_exists=public_exists, allowed=allowed) is risk


def test_assess_risk_accepts_any_iterable() -> None:
    assert assess_risk(iter([PREFIX]), public_exists=True, allowed=False) is Risk.HIGH
