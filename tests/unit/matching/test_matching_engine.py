"""Exact and prefix matching (watcher.matching.engine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from watcher.catalog import Catalog, load_catalog_file
from watcher.errors import InvalidName
from watcher.matching import Match, Matcher, MatchKind, NamespaceMatcher, Risk, build_matcher
from watcher.names import canonical


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    path = tmp_path / "catalog.toml"
    path.write_text(
        'names = ["acme-billing", "Payments_Core", "internal-tool"]\n'
        'prefixes = ["Acme"]\n'
        'allow = ["acme-public-sdk", "internal-tool"]\n'
    )
    return load_catalog_file(path)


@pytest.fixture
def matcher(catalog: Catalog) -> Matcher:
    return build_matcher(catalog)


def kinds(matches: list[Match]) -> list[tuple[MatchKind, str]]:
    return [(m.kind, m.internal_name) for m in matches]


def test_build_matcher_gives_the_namespace_matcher(catalog: Catalog) -> None:
    assert isinstance(build_matcher(catalog), NamespaceMatcher)


@pytest.mark.parametrize(
    "spelling", ["payments-core", "payments.core", "Payments_Core", "PAYMENTS__CORE"]
)
def test_exact_match_across_spellings(matcher: Matcher, spelling: str) -> None:
    matches = matcher.match(canonical(spelling))

    assert len(matches) == 1
    match = matches[0]
    assert match.kind is MatchKind.EXACT
    assert match.public_name == "payments-core"
    assert match.internal_name == "payments-core"
    assert match.severity is Risk.CRITICAL
    assert "'Payments_Core'" in match.detail


def test_prefix_root_matches(matcher: Matcher) -> None:
    matches = matcher.match(canonical("acme"))

    assert kinds(matches) == [(MatchKind.PREFIX, "acme")]
    assert matches[0].severity is Risk.HIGH
    assert "namespace root 'Acme'" in matches[0].detail


@pytest.mark.parametrize(
    "spelling", ["acme-x", "acme_x", "acme.x", "ACME-X", "acme-x-y", "acme--x"]
)
def test_prefix_member_matches(matcher: Matcher, spelling: str) -> None:
    matches = matcher.match(canonical(spelling))

    assert kinds(matches) == [(MatchKind.PREFIX, "acme")]
    assert matches[0].public_name == canonical(spelling)
    assert "'Acme'-*" in matches[0].detail


@pytest.mark.parametrize(
    "name", ["acmex", "xacme", "x-acme", "acm", "ac-me", "payments-core-x", "core"]
)
def test_not_a_match(matcher: Matcher, name: str) -> None:
    assert matcher.match(canonical(name)) == []


def test_trailing_separator_never_reaches_the_matcher() -> None:
    # "acme_" would canonicalize to "acme-" and look like a prefix member, but it is not
    # a valid project name, so it is refused before matching.
    with pytest.raises(InvalidName):
        canonical("acme_")


@pytest.mark.parametrize("name", ["acme-public-sdk", "Acme.Public_SDK", "internal-tool"])
def test_allowlisted_names_never_match(matcher: Matcher, name: str) -> None:
    # acme-public-sdk is under the prefix; internal-tool is even an internal name.
    assert matcher.match(canonical(name)) == []


def test_exact_and_prefix_together_exact_first(matcher: Matcher) -> None:
    matches = matcher.match(canonical("Acme.Billing"))

    assert kinds(matches) == [(MatchKind.EXACT, "acme-billing"), (MatchKind.PREFIX, "acme")]
    assert [m.severity for m in matches] == [Risk.CRITICAL, Risk.HIGH]
    assert all(m.public_name == "acme-billing" for m in matches)


def test_nested_prefixes_all_match_in_name_order(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text('prefixes = ["acme-billing", "acme"]\n')
    matcher = build_matcher(load_catalog_file(path))

    matches = matcher.match(canonical("acme-billing-v2"))

    assert kinds(matches) == [(MatchKind.PREFIX, "acme"), (MatchKind.PREFIX, "acme-billing")]


def test_name_that_is_also_a_prefix_root(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text('names = ["acme"]\nprefixes = ["acme"]\n')
    matcher = build_matcher(load_catalog_file(path))

    matches = matcher.match(canonical("ACME"))

    assert kinds(matches) == [(MatchKind.EXACT, "acme"), (MatchKind.PREFIX, "acme")]


def test_empty_catalog_matches_nothing() -> None:
    assert NamespaceMatcher(Catalog()).match(canonical("anything")) == []
