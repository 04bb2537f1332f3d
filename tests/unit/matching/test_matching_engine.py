"""Matching public names against the catalog (watcher.matching.engine.CatalogMatcher)."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from tests.benchmarks.corpus import build
from watcher.catalog import Catalog, load_catalog_file
from watcher.errors import InvalidName
from watcher.matching import (
    KIND_SEVERITY,
    CatalogMatcher,
    Match,
    Matcher,
    MatchKind,
    Risk,
    build_matcher,
)
from watcher.names import canonical

K = MatchKind
NEW_KINDS = {K.ALIAS, K.SHORT, K.COMBINED, K.TWO_TYPOS, K.AFFIX_SWAP, K.COMBOSQUAT}


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    path = tmp_path / "catalog.toml"
    path.write_text(
        'names = ["acme-billing", "Payments_Core", "internal-tool"]\n'
        'prefixes = ["Acme"]\n'
        'allow = ["acme-public-sdk"]\n'
    )
    return load_catalog_file(path)


@pytest.fixture
def matcher(catalog: Catalog) -> Matcher:
    return build_matcher(catalog)


def make(
    names: list[str] | tuple[str, ...] = (),
    prefixes: list[str] | tuple[str, ...] = (),
    allow: list[str] | tuple[str, ...] = (),
) -> Matcher:
    return build_matcher(
        Catalog(
            names={canonicalize_name(n): n for n in names},
            prefixes={canonicalize_name(p): p for p in prefixes},
            allow=frozenset(canonicalize_name(a) for a in allow),
        )
    )


def kinds(matches: list[Match]) -> list[tuple[MatchKind, str]]:
    return [(m.kind, m.internal_name) for m in matches]


def found(matcher: Matcher, name: str) -> set[tuple[MatchKind, str]]:
    return set(kinds(matcher.match(canonical(name))))


def only(matcher: Matcher, name: str, target: str) -> Match:
    """The one match of ``name`` against ``target`` (a package name or a prefix root)."""
    hits = [m for m in matcher.match(canonical(name)) if m.internal_name == target]
    assert len(hits) == 1, hits
    return hits[0]


# --- the seam, exact, prefix, allowlist (still valid from the exact+prefix matcher) --------


def test_build_matcher_gives_the_catalog_matcher(catalog: Catalog) -> None:
    assert isinstance(build_matcher(catalog), CatalogMatcher)


def test_empty_catalog_matches_nothing() -> None:
    matcher = CatalogMatcher(Catalog())
    for name in ("anything", "acme", "acme-billing", "a"):
        assert matcher.match(canonical(name)) == []


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
    assert match.detail == "same name as internal 'Payments_Core' after PEP 503 normalization"


def test_prefix_root_matches(matcher: Matcher) -> None:
    matches = matcher.match(canonical("acme"))

    assert kinds(matches) == [(MatchKind.PREFIX, "acme")]
    assert matches[0].severity is Risk.HIGH
    assert matches[0].detail == "is the namespace root"


@pytest.mark.parametrize(
    "spelling", ["acme-x", "acme_x", "acme.x", "ACME-X", "acme-x-y", "acme--x", "acme-tools"]
)
def test_prefix_member_matches(matcher: Matcher, spelling: str) -> None:
    matches = matcher.match(canonical(spelling))

    assert kinds(matches) == [(MatchKind.PREFIX, "acme")]
    assert matches[0].public_name == canonical(spelling)
    assert matches[0].detail == "under the internal namespace 'acme-*'"


@pytest.mark.parametrize(
    "name",
    ["x-acme", "ecma", "payments-core-x", "core", "billing", "tool", "internal", "zzzzzz"],
)
def test_not_a_match(matcher: Matcher, name: str) -> None:
    assert matcher.match(canonical(name)) == []


def test_trailing_separator_never_reaches_the_matcher() -> None:
    # "acme_" would canonicalize to "acme-" and look like a prefix member, but it is not
    # a valid project name, so it is refused before matching.
    with pytest.raises(InvalidName):
        canonical("acme_")


@pytest.mark.parametrize("name", ["acme-public-sdk", "Acme.Public_SDK"])
def test_allowlisted_names_never_match(matcher: Matcher, name: str) -> None:
    # acme-public-sdk is under the prefix.
    assert matcher.match(canonical(name)) == []


def test_an_allowlisted_internal_name_never_matches() -> None:
    # The catalog file refuses a name both internal and allowlisted; the matcher, given
    # such a catalog anyway, lets the allowlist win.
    matcher = make(["internal-tool", "acme-billing"], allow=["internal-tool"])
    assert matcher.match(canonical("internal-tool")) == []
    assert matcher.match(canonical("acme-billing")) != []


def test_allowlist_beats_every_rule() -> None:
    squats = ["acmebilling", "acrne-billing", "acme-biling", "billing-acme", "acme-billing-py"]
    matcher = make(["acme-billing"], ["acme"], allow=squats)
    for name in squats:
        assert matcher.match(canonical(name)) == []
    assert matcher.match(canonical("acme-bililng")) != []  # not allowlisted


def test_allowlisted_neighbour_of_an_allowlisted_name_still_matches() -> None:
    # The allowlist is exact: a typo of an allowed project is not allowed.
    matcher = make(["acme-billing"], ["acme"], allow=["acme-public-sdk"])
    assert found(matcher, "acme-public-sdx") == {(K.PREFIX, "acme")}


def test_exact_and_prefix_together_exact_first(matcher: Matcher) -> None:
    matches = matcher.match(canonical("Acme.Billing"))

    assert kinds(matches) == [(MatchKind.EXACT, "acme-billing"), (MatchKind.PREFIX, "acme")]
    assert [m.severity for m in matches] == [Risk.CRITICAL, Risk.HIGH]
    assert all(m.public_name == "acme-billing" for m in matches)


def test_nested_prefixes_all_match_in_name_order() -> None:
    matcher = make(prefixes=["acme-billing", "acme"])

    matches = matcher.match(canonical("acme-billing-v2"))

    assert kinds(matches) == [(MatchKind.PREFIX, "acme"), (MatchKind.PREFIX, "acme-billing")]


def test_name_that_is_also_a_prefix_root() -> None:
    matcher = make(["acme"], ["acme"])

    matches = matcher.match(canonical("ACME"))

    assert kinds(matches) == [(MatchKind.EXACT, "acme"), (MatchKind.PREFIX, "acme")]


# --- the issue's examples -----------------------------------------------------------------

ISSUE_EXAMPLES: list[tuple[str, set[tuple[MatchKind, str]]]] = [
    ("acme_billing", {(K.EXACT, "acme-billing"), (K.PREFIX, "acme")}),
    ("acmebilling", {(K.SEPARATOR, "acme-billing"), (K.PREFIX_SEPARATOR, "acme")}),
    ("acme-bilIing", {(K.CONFUSABLE, "acme-billing"), (K.PREFIX, "acme")}),
    ("acrne-billing", {(K.LOOKALIKE, "acme-billing"), (K.PREFIX_LOOKALIKE, "acme")}),
    ("acme-biling", {(K.TYPO, "acme-billing"), (K.PREFIX, "acme")}),
    ("acme-bililng", {(K.TYPO, "acme-billing"), (K.PREFIX, "acme")}),
    ("billing-acme", {(K.REORDER, "acme-billing")}),
    ("python-acme-billing", {(K.AFFIX, "acme-billing"), (K.PREFIX_AFFIX, "acme")}),
    ("acme-billing-py", {(K.AFFIX, "acme-billing"), (K.PREFIX, "acme")}),
    ("acrne-tools", {(K.PREFIX_LOOKALIKE, "acme")}),
    ("acmetools", {(K.PREFIX_SEPARATOR, "acme")}),
    # Issue 13: one edit of a root shorter than MIN_TYPO_ROOT is mostly another word.
    ("acm-tools", set()),
]


@pytest.fixture
def acme() -> Matcher:
    return make(["acme-billing"], ["acme"])


@pytest.mark.parametrize(("name", "expected"), ISSUE_EXAMPLES)
def test_issue_examples(acme: Matcher, name: str, expected: set[tuple[MatchKind, str]]) -> None:
    matches = acme.match(canonical(name))

    assert set(kinds(matches)) == expected
    assert len(matches) == len(expected)
    assert all(m.detail for m in matches)
    assert all(m.public_name == canonical(name) for m in matches)


@pytest.mark.parametrize(
    ("name", "target", "detail"),
    [
        ("acme_billing", "acme-billing", "same name after PEP 503 normalization"),
        ("acmebilling", "acme-billing", "separators removed between words"),
        ("acmebilling", "acme", "namespace root 'acme' glued to the next word"),
        ("acrne-billing", "acme-billing", "'rn' reads as 'm'"),
        ("acrne-billing", "acme", "namespace root 'acme': 'rn' reads as 'm'"),
        ("acme-biling", "acme-billing", "dropped one 'l' of a double at position 9"),
        ("acme-bililng", "acme-billing", "swapped 'l' and 'i' at position 9"),
        ("billing-acme", "acme-billing", "same words in another order"),
        ("python-acme-billing", "acme-billing", "added 'python-' in front"),
        ("python-acme-billing", "acme", "affix words before the namespace root 'acme'"),
        ("acme-billing-py", "acme-billing", "added '-py' at the end"),
        ("acme-billing-py", "acme", "under the internal namespace 'acme-*'"),
        ("acrne-tools", "acme", "namespace root 'acme': 'rn' reads as 'm'"),
        ("acmetools", "acme", "namespace root 'acme' glued to the next word"),
    ],
)
def test_issue_example_details(acme: Matcher, name: str, target: str, detail: str) -> None:
    assert only(acme, name, target).detail == detail


def test_confusable_detail_names_the_index_rule(acme: Matcher) -> None:
    detail = only(acme, "acme-bilIing", "acme-billing").detail
    assert detail.startswith("'i' for 'l': same name once separators are dropped")
    assert "l/i/1 and o/0" in detail


def test_matches_come_strongest_first(acme: Matcher) -> None:
    for name, _ in ISSUE_EXAMPLES:
        severities = [m.severity for m in acme.match(canonical(name))]
        assert severities == sorted(severities, reverse=True), name
    assert kinds(acme.match(canonical("acme-biling"))) == [
        (K.PREFIX, "acme"),
        (K.TYPO, "acme-billing"),
    ]


def test_each_match_severity_is_its_kind_default(acme: Matcher) -> None:
    for name, _ in ISSUE_EXAMPLES:
        for m in acme.match(canonical(name)):
            assert m.severity is KIND_SEVERITY[m.kind]


# --- each rule on its own -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "detail"),
    [
        ("acmebilling", "separators removed between words"),
        ("acmeb-illing", "separators moved between words"),
        ("a-cme-billing", None),
        ("acme-bill-ing", None),
    ],
)
def test_separator(acme: Matcher, name: str, detail: str | None) -> None:
    match = only(acme, name, "acme-billing")
    assert match.kind is K.SEPARATOR
    assert match.severity is Risk.MEDIUM
    if detail is not None:
        assert match.detail == detail


def test_separator_added_to_a_glued_internal_name() -> None:
    match = only(make(["acmebilling"]), "acme-billing", "acmebilling")
    assert (match.kind, match.detail) == (K.SEPARATOR, "separators added between words")


def test_separator_added_detail_when_both_have_separators(acme: Matcher) -> None:
    assert only(acme, "acme-bill-ing", "acme-billing").detail == "separators added between words"


@pytest.mark.parametrize(
    "name", ["acme-bilIing", "acme-bi11ing", "acme-bil1ing", "acme-biiling", "acme-bi1-ling"]
)
def test_confusable(acme: Matcher, name: str) -> None:
    match = only(acme, name, "acme-billing")
    assert match.kind is K.CONFUSABLE
    assert match.severity is Risk.HIGH
    assert "same name once separators are dropped" in match.detail


def test_confusable_o_and_zero() -> None:
    match = only(make(["google-auth"]), "g00gle-auth", "google-auth")
    assert match.kind is K.CONFUSABLE
    assert match.detail.startswith("'00' for 'oo'")


@pytest.mark.parametrize(
    ("name", "internal", "detail"),
    [
        ("acrne-billing", "acme-billing", "'rn' reads as 'm'"),
        ("vvidget-store", "widget-store", "'vv' reads as 'w'"),
        ("clocker-tools", "docker-tools", "'cl' reads as 'd'"),
        ("5ample-kit", "sample-kit", "'5' reads as 's'"),
        ("2ebra-maker", "zebra-maker", "'2' reads as 'z'"),
        ("qoogle-auth", "google-auth", "'q' reads as 'g'"),
        ("qveue-runner", "queue-runner", "'v' reads as 'u'"),
        ("tum-tools", "turn-tools", "'m' reads as 'rn'"),
    ],
)
def test_lookalike(name: str, internal: str, detail: str) -> None:
    match = only(make([internal]), name, internal)
    assert (match.kind, match.detail, match.severity) == (K.LOOKALIKE, detail, Risk.HIGH)


@pytest.mark.parametrize(
    ("name", "detail"),
    [
        ("acme-biling", "dropped one 'l' of a double at position 9"),
        ("acme-billling", "doubled 'l' at position 10"),
        ("acme-blling", "dropped 'i' at position 7"),
        ("acme-billings", "inserted 's' at position 13"),
        ("acme-bilking", "'k' for 'l' at position 9 (keyboard neighbours)"),
        ("acme-billinx", "'x' for 'g' at position 12"),
        ("acme-bililng", "swapped 'l' and 'i' at position 9"),
        ("came-billing", "swapped 'a' and 'c' at position 1"),
        ("acme-billign", "swapped 'n' and 'g' at position 11"),
        ("acmeabilling", "'a' for '-' at position 5"),
        ("acme-bil-ing", "'-' for 'l' at position 9"),
    ],
)
def test_typo(acme: Matcher, name: str, detail: str) -> None:
    match = only(acme, name, "acme-billing")
    assert (match.kind, match.detail, match.severity) == (K.TYPO, detail, Risk.MEDIUM)


def test_typo_across_the_pigeonhole_boundary() -> None:
    # "abcdef" is indexed by "abc" and "def"; swapping "c" and "d" touches both halves.
    matcher = make(["abcdef", "abcdeg", "zzcdef"])
    assert found(matcher, "abdcef") == {(K.TYPO, "abcdef")}
    # Odd length: "abcdefg" is indexed by "abc" and "defg".
    matcher = make(["abcdefg"])
    assert found(matcher, "abdcefg") == {(K.TYPO, "abcdefg")}
    assert found(matcher, "abcedfg") == {(K.TYPO, "abcdefg")}


def test_typo_between_catalog_names_of_several_lengths() -> None:
    matcher = make(["abcde", "abcdef", "abcdefg"])
    # One edit of several names at once: each is reported, each as a typo.
    assert found(matcher, "abcdex") == {(K.TYPO, "abcde"), (K.TYPO, "abcdef")}
    assert found(matcher, "abcdefx") == {(K.TYPO, "abcdef"), (K.TYPO, "abcdefg")}


def test_reorder() -> None:
    matcher = make(["acme-billing-core", "acme-billing"])
    match = only(matcher, "billing-acme", "acme-billing")
    assert (match.kind, match.detail) == (K.REORDER, "same words in another order")
    assert only(matcher, "core-acme-billing", "acme-billing-core").kind is K.REORDER
    assert only(matcher, "billing-core-acme", "acme-billing-core").kind is K.REORDER


@pytest.mark.parametrize(
    ("name", "internal", "detail"),
    [
        ("python-acme-billing", "acme-billing", "added 'python-' in front"),
        ("py-acme-billing", "acme-billing", "added 'py-' in front"),
        ("acme-billing-py", "acme-billing", "added '-py' at the end"),
        ("acme-billing-client", "acme-billing", "added '-client' at the end"),
        ("acme-billing-sdk", "acme-billing", "added '-sdk' at the end"),
        (
            "lib-acme-billing-api",
            "acme-billing",
            "added 'lib-' in front and added '-api' at the end",
        ),
    ],
)
def test_affix(name: str, internal: str, detail: str) -> None:
    match = only(make([internal]), name, internal)
    assert (match.kind, match.detail, match.severity) == (K.AFFIX, detail, Risk.MEDIUM)


@pytest.mark.parametrize(
    ("name", "internal", "detail"),
    [
        ("acme-billing", "acme-billing-core", "removed '-core' at the end"),
        ("acme-billing", "python-acme-billing", "removed 'python-' in front"),
        ("payments", "payments-core", "removed '-core' at the end"),
    ],
)
def test_affix_removed_is_low_when_much_of_the_name_goes(
    name: str, internal: str, detail: str
) -> None:
    # Issue 13: what is left is a more generic name, mostly that generic project.
    match = only(make([internal]), name, internal)
    assert (match.kind, match.detail, match.severity) == (K.AFFIX, detail, Risk.LOW)


def test_affix_words_in_the_middle_are_not_affixes() -> None:
    assert make(["acme-billing"]).match(canonical("acme-py-billing")) == []


# --- precedence and noise control ---------------------------------------------------------


def test_exact_is_never_also_a_typo() -> None:
    # "acme-billing" is one edit from "acme-billinh" (another internal name) and equal to
    # itself: exact for itself, typo only for the other.
    matcher = make(["acme-billing", "acme-billinh"])
    assert found(matcher, "acme-billing") == {
        (K.EXACT, "acme-billing"),
        (K.TYPO, "acme-billinh"),
    }


def test_one_kind_per_target_first_in_precedence() -> None:
    # "acmebilling" is a separator change, a confusable (the ultra form is equal), a
    # look-alike (so is the skeleton) and one deletion: reported once, as separator.
    assert found(make(["acme-billing"]), "acmebilling") == {(K.SEPARATOR, "acme-billing")}
    # "acme-bi1ling": confusable, look-alike and typo at once: reported as confusable.
    assert found(make(["acme-billing"]), "acme-bi1ling") == {(K.CONFUSABLE, "acme-billing")}


def test_a_swap_is_a_typo_even_when_ultra_equal(acme: Matcher) -> None:
    # "bililng" and "billing" are the same once l and i both read "1".
    match = only(acme, "acme-bililng", "acme-billing")
    assert match.kind is K.TYPO


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("lib", {(K.EXACT, "lib")}),
        ("1ib", {(K.CONFUSABLE, "lib")}),
        ("l1b", {(K.CONFUSABLE, "lib")}),
        ("li-b", {(K.CONFUSABLE, "lib")}),  # a separator: the index refuses it, so confusable
        ("ilb", {(K.CONFUSABLE, "lib")}),  # a swap, but a short name: confusable only
        ("libs", set()),  # typo
        ("lob", set()),  # typo
        ("py-lib", set()),  # affix
        ("abcd", set()),  # typo of abc-d
        ("abc", {(K.CONFUSABLE, "ab-c")}),
        ("c-ab", set()),  # reorder
        ("lo1", {(K.SHORT, "lo1i")}),  # issue 13: a dropped letter of a short name
        ("l011", {(K.CONFUSABLE, "lo1i")}),
    ],
)
def test_names_of_four_characters_or_fewer_only_match_exact_or_confusable(
    name: str, expected: set[tuple[MatchKind, str]]
) -> None:
    matcher = make(["lib", "ab-c", "lo1i"])
    assert found(matcher, name) == expected


def test_the_fifth_character_turns_fuzzy_rules_on() -> None:
    matcher = make(["zebra"])
    assert found(matcher, "zebras") == {(K.TYPO, "zebra")}
    assert found(matcher, "zbera") == {(K.TYPO, "zebra")}
    assert found(matcher, "2ebra") == {(K.LOOKALIKE, "zebra")}
    assert found(matcher, "zebra-py") == {(K.AFFIX, "zebra")}


# --- the prefix rules applied to the root -------------------------------------------------


@pytest.mark.parametrize(
    ("name", "root", "kind", "detail"),
    [
        ("g1obex-x", "globex", K.PREFIX_CONFUSABLE, "namespace root 'globex': '1' for 'l'"),
        ("gl0bex-x", "globex", K.PREFIX_CONFUSABLE, "namespace root 'globex': '0' for 'o'"),
        ("g1obex", "globex", K.PREFIX_CONFUSABLE, "namespace root 'globex': '1' for 'l'"),
        ("acrne-tools", "acme", K.PREFIX_LOOKALIKE, "namespace root 'acme': 'rn' reads as 'm'"),
        ("glbex-tools", "globex", K.PREFIX_TYPO, "namespace root 'globex': dropped 'o'"),
        ("glboex-tools", "globex", K.PREFIX_TYPO, "namespace root 'globex': swapped 'o' and 'b'"),
        ("acmetools", "acme", K.PREFIX_SEPARATOR, "namespace root 'acme' glued"),
        ("globexx-tools", "globex", K.PREFIX_SEPARATOR, "namespace root 'globex' glued"),
        ("python-acme-tools", "acme", K.PREFIX_AFFIX, "affix words before"),
        ("py-lib-acme-tools", "acme", K.PREFIX_AFFIX, "affix words before"),
    ],
)
def test_prefix_rules(name: str, root: str, kind: MatchKind, detail: str) -> None:
    match = only(make(prefixes=["acme", "globex"]), name, root)
    assert match.kind is kind
    assert match.detail.startswith(detail)
    assert match.severity is KIND_SEVERITY[kind]


@pytest.mark.parametrize(("name"), ["ab-x", "ab", "a8-x", "abx-tools", "b-tools", "abtools"])
def test_short_roots_only_match_prefix_or_prefix_confusable(name: str) -> None:
    # "ab" is shorter than MIN_FUZZY_ROOT: no look-alike, typo or glued-root matches.
    matches = make(prefixes=["ab"]).match(canonical(name))
    assert {m.kind for m in matches} <= {K.PREFIX, K.PREFIX_CONFUSABLE}
    assert (name.startswith("ab-") or name == "ab") == bool(matches)


def test_short_root_confusable() -> None:
    match = only(make(prefixes=["io"]), "i0-tools", "io")
    assert match.kind is K.PREFIX_CONFUSABLE


def test_short_root_after_an_affix_word_is_not_matched() -> None:
    assert make(prefixes=["ab"]).match(canonical("py-ab-x")) == []


def test_multi_word_root() -> None:
    matcher = make(prefixes=["acme-corp"])
    assert found(matcher, "acme-corp-x") == {(K.PREFIX, "acme-corp")}
    assert found(matcher, "acmecorp-x") == {(K.PREFIX_SEPARATOR, "acme-corp")}
    assert found(matcher, "acme-c0rp-x") == {(K.PREFIX_CONFUSABLE, "acme-corp")}
    assert found(matcher, "acrne-corp-x") == {(K.PREFIX_LOOKALIKE, "acme-corp")}
    assert found(matcher, "acme-corq-x") == {(K.PREFIX_TYPO, "acme-corp")}
    assert found(matcher, "python-acme-corp-x") == {(K.PREFIX_AFFIX, "acme-corp")}
    assert matcher.match(canonical("acme-x")) == []


@pytest.mark.parametrize(
    ("name", "detail"),
    [
        ("acme-corq-x", "namespace root 'acme-corp': 'q' for 'p' at position 9"),
        ("acme-c0rp-x", "namespace root 'acme-corp': '0' for 'o': same name once separators"),
    ],
)
def test_multi_word_root_details(name: str, detail: str) -> None:
    match = only(make(prefixes=["acme-corp"]), name, "acme-corp")
    assert match.detail.startswith(detail)


def test_root_with_a_separator_inside_is_matched_whatever_the_other_roots() -> None:
    # `ac-me` is the root with a separator added: prefix_separator, whatever other roots exist.
    alone = found(make(prefixes=["acme"]), "ac-me")
    with_other = found(make(prefixes=["acme", "foo-bar"]), "ac-me")
    assert alone == {(K.PREFIX_SEPARATOR, "acme")}
    assert alone == with_other


def test_prefix_and_name_matches_are_reported_separately() -> None:
    # A target that is both an internal name and a root gets one match of each family.
    matcher = make(["acme-corp"], ["acme-corp"])
    assert found(matcher, "acme-c0rp") == {
        (K.CONFUSABLE, "acme-corp"),
        (K.PREFIX_CONFUSABLE, "acme-corp"),
    }


# --- the planted look-alikes of the benchmark corpus --------------------------------------


def test_every_planted_lookalike_is_found_with_its_kind() -> None:
    corpus = build(public_count=20_000, internal_count=500, prefix_count=5)
    matcher = build_matcher(
        Catalog(
            names={canonicalize_name(n): n for n in corpus.names},
            prefixes={canonicalize_name(p): p for p in corpus.prefixes},
        )
    )
    planted_kinds = {kind for _, _, kind in corpus.planted}
    # The kinds of issue 13 have their own tests (test_matching_combos.py).
    not_planted = {K.PREFIX_CONFUSABLE, *NEW_KINDS}
    assert planted_kinds == {str(k) for k in MatchKind if k not in not_planted}

    missed = []
    for display, target, kind in corpus.planted:
        expected = MatchKind(kind)
        hits = [
            m
            for m in matcher.match(canonical(display))
            if m.internal_name == target and m.kind.on_prefix == expected.on_prefix
        ]
        if [m.kind for m in hits] != [expected] or not hits[0].detail:
            missed.append((display, target, kind, [(m.kind, m.detail) for m in hits]))
    assert missed == []
    assert len(corpus.planted) >= 150
