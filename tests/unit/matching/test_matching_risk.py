"""Match kinds, their severities and the risk verdict (watcher.matching.model)."""

from __future__ import annotations

import pytest
from packaging.utils import canonicalize_name

from watcher.matching import KIND_SEVERITY, Match, MatchKind, Risk, assess_risk
from watcher.matching.model import severity_of


def match(kind: MatchKind, public: str = "acme-x", internal: str = "acme") -> Match:
    return Match(canonicalize_name(public), canonicalize_name(internal), kind, "detail")


EXACT = match(MatchKind.EXACT, "acme-billing", "acme-billing")
PREFIX = match(MatchKind.PREFIX, "acme-billing", "acme")
SEPARATOR = match(MatchKind.SEPARATOR, "acmebilling", "acme-billing")
CONFUSABLE = match(MatchKind.CONFUSABLE, "acme-bi1ling", "acme-billing")
LOOKALIKE = match(MatchKind.LOOKALIKE, "acrne-billing", "acme-billing")
TYPO = match(MatchKind.TYPO, "acme-biling", "acme-billing")
REORDER = match(MatchKind.REORDER, "billing-acme", "acme-billing")
AFFIX = match(MatchKind.AFFIX, "python-acme-billing", "acme-billing")
PREFIX_SEPARATOR = match(MatchKind.PREFIX_SEPARATOR, "acmetools")
PREFIX_LOOKALIKE = match(MatchKind.PREFIX_LOOKALIKE, "acrne-tools")
PREFIX_TYPO = match(MatchKind.PREFIX_TYPO, "acm-tools")
PREFIX_AFFIX = match(MatchKind.PREFIX_AFFIX, "python-acme-tools")


def test_kind_values_are_stable() -> None:
    # Stored in the database: renaming one would orphan existing rows. The order is the
    # order of precedence when one public name hits one target through several rules.
    assert [str(k) for k in MatchKind] == [
        "exact",
        "separator",
        "confusable",
        "lookalike",
        "typo",
        "reorder",
        "affix",
        "alias",
        "short_name",
        "combined",
        "two_typos",
        "affix_swap",
        "combosquat",
        "prefix",
        "prefix_separator",
        "prefix_confusable",
        "prefix_lookalike",
        "prefix_typo",
        "prefix_affix",
    ]


def test_on_prefix_marks_the_namespace_kinds() -> None:
    on_prefix = {k for k in MatchKind if k.on_prefix}
    assert on_prefix == {
        MatchKind.PREFIX,
        MatchKind.PREFIX_SEPARATOR,
        MatchKind.PREFIX_CONFUSABLE,
        MatchKind.PREFIX_LOOKALIKE,
        MatchKind.PREFIX_TYPO,
        MatchKind.PREFIX_AFFIX,
    }


def test_every_kind_has_a_default_severity() -> None:
    assert KIND_SEVERITY == {
        MatchKind.EXACT: Risk.CRITICAL,
        MatchKind.CONFUSABLE: Risk.HIGH,
        MatchKind.LOOKALIKE: Risk.HIGH,
        MatchKind.PREFIX: Risk.HIGH,
        MatchKind.SEPARATOR: Risk.MEDIUM,
        MatchKind.TYPO: Risk.MEDIUM,
        MatchKind.REORDER: Risk.MEDIUM,
        MatchKind.AFFIX: Risk.MEDIUM,
        MatchKind.PREFIX_CONFUSABLE: Risk.MEDIUM,
        MatchKind.PREFIX_LOOKALIKE: Risk.MEDIUM,
        MatchKind.PREFIX_SEPARATOR: Risk.LOW,
        MatchKind.PREFIX_TYPO: Risk.LOW,
        MatchKind.PREFIX_AFFIX: Risk.LOW,
        # issue 13
        MatchKind.ALIAS: Risk.MEDIUM,
        MatchKind.SHORT: Risk.MEDIUM,
        MatchKind.COMBINED: Risk.MEDIUM,
        MatchKind.TWO_TYPOS: Risk.MEDIUM,
        MatchKind.AFFIX_SWAP: Risk.LOW,
        MatchKind.COMBOSQUAT: Risk.LOW,
    }
    assert all(KIND_SEVERITY[k] > Risk.NONE for k in MatchKind)


def test_match_severity_is_its_kind_severity() -> None:
    assert EXACT.severity is Risk.CRITICAL
    assert PREFIX.severity is Risk.HIGH
    assert TYPO.severity is Risk.MEDIUM
    assert PREFIX_TYPO.severity is Risk.LOW
    for kind in MatchKind:
        assert match(kind).severity is KIND_SEVERITY[kind]


def test_a_low_score_lowers_a_fuzzy_kind_to_low() -> None:
    # Issue 13: the score decides between the kind's severity and low, never above.
    weak = Match(TYPO.public_name, TYPO.internal_name, MatchKind.TYPO, "detail", 0.8)
    strong = Match(TYPO.public_name, TYPO.internal_name, MatchKind.TYPO, "detail", 0.9)
    assert (weak.severity, strong.severity) == (Risk.LOW, Risk.MEDIUM)
    for kind in MatchKind:
        assert severity_of(kind, 0.0) <= KIND_SEVERITY[kind]
        assert severity_of(kind, 1.0) is KIND_SEVERITY[kind]
    assert severity_of(MatchKind.EXACT, 0.0) is Risk.CRITICAL  # equivalences keep theirs


def test_risk_order_and_names() -> None:
    assert Risk.NONE < Risk.LOW < Risk.MEDIUM < Risk.HIGH < Risk.CRITICAL
    assert [str(r) for r in Risk] == ["none", "low", "medium", "high", "critical"]


@pytest.mark.parametrize(
    ("matches", "public_exists", "allowed", "risk"),
    [
        # The public project exists: the strongest match's severity.
        ([EXACT], True, False, Risk.CRITICAL),
        ([PREFIX], True, False, Risk.HIGH),
        ([PREFIX, EXACT], True, False, Risk.CRITICAL),
        ([EXACT, PREFIX], True, False, Risk.CRITICAL),
        ([CONFUSABLE], True, False, Risk.HIGH),
        ([LOOKALIKE, PREFIX_LOOKALIKE], True, False, Risk.HIGH),
        ([SEPARATOR, PREFIX_SEPARATOR], True, False, Risk.MEDIUM),
        ([PREFIX, TYPO], True, False, Risk.HIGH),
        ([REORDER], True, False, Risk.MEDIUM),
        ([AFFIX, PREFIX_AFFIX], True, False, Risk.MEDIUM),
        ([PREFIX_TYPO], True, False, Risk.LOW),
        ([PREFIX_SEPARATOR], True, False, Risk.LOW),
        # The name is still free: medium when it is ours (exact or inside a prefix)...
        ([EXACT], False, False, Risk.MEDIUM),
        ([PREFIX], False, False, Risk.MEDIUM),
        ([EXACT, PREFIX], False, False, Risk.MEDIUM),
        ([TYPO, PREFIX], False, False, Risk.MEDIUM),
        # ...low when it only resembles ours, however severe the kind would be.
        ([CONFUSABLE], False, False, Risk.LOW),
        ([LOOKALIKE, PREFIX_LOOKALIKE], False, False, Risk.LOW),
        ([TYPO], False, False, Risk.LOW),
        ([SEPARATOR, PREFIX_SEPARATOR], False, False, Risk.LOW),
        ([REORDER], False, False, Risk.LOW),
        ([AFFIX, PREFIX_AFFIX], False, False, Risk.LOW),
        ([PREFIX_TYPO], False, False, Risk.LOW),
        # No match, or our own project: nothing.
        ([], True, False, Risk.NONE),
        ([], False, False, Risk.NONE),
        ([EXACT], True, True, Risk.NONE),
        ([PREFIX], False, True, Risk.NONE),
        ([CONFUSABLE], True, True, Risk.NONE),
        ([TYPO], False, True, Risk.NONE),
        ([], True, True, Risk.NONE),
    ],
)
def test_assess_risk(matches: list[Match], public_exists: bool, allowed: bool, risk: Risk) -> None:
    assert assess_risk(matches, public_exists=public_exists, allowed=allowed) is risk


def test_assess_risk_accepts_any_iterable() -> None:
    assert assess_risk(iter([PREFIX]), public_exists=True, allowed=False) is Risk.HIGH
    assert assess_risk(iter([TYPO]), public_exists=False, allowed=False) is Risk.LOW
    assert assess_risk((m for m in [EXACT]), public_exists=False, allowed=False) is Risk.MEDIUM
