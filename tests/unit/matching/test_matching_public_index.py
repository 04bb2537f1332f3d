"""One proposed name against the public index (watcher.matching.public_index.PublicIndex).

The reference is brute force: every public name matched against a catalog holding only the
proposed name, keeping the package-name kinds (the index never reports prefix kinds).
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.utils import NormalizedName, canonicalize_name

from watcher.catalog import Catalog
from watcher.matching import CatalogMatcher, Match, MatchKind, rules
from watcher.matching.combos import COMBO_KINDS
from watcher.matching.engine import one_edit_variants
from watcher.matching.public_index import PublicIndex
from watcher.names import is_valid

K = MatchKind
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
# Letters of the confusable and look-alike classes, over-represented so collisions happen.
FOCUSED = "acdeilmnorsuvw0125"
ALIKE: dict[str, tuple[str, ...]] = {
    "l": ("1", "i"),
    "i": ("l", "1"),
    "1": ("l", "i"),
    "o": ("0",),
    "0": ("o",),
    "m": ("rn",),
    "w": ("vv",),
    "d": ("cl",),
    "s": ("5",),
    "u": ("v",),
    "g": ("9", "q"),
}
AFFIXES = sorted(rules.AFFIXES)

words = st.one_of(
    st.text(FOCUSED, min_size=1, max_size=6),
    st.text(ALPHABET, min_size=1, max_size=6),
    st.sampled_from(["a", "x", "1"]),  # one-letter words: `tool-a-kit`
    st.sampled_from(AFFIXES),
)
names = st.lists(words, min_size=1, max_size=3).map("-".join)


def canon(name: str) -> NormalizedName:
    assert is_valid(name), name
    return canonicalize_name(name)


def reference(publics: Iterable[str], proposed: str) -> set[Match]:
    """Every package-name match of every public name against ``proposed``, pair by pair
    (the rules of issue 13 are not looked for in this direction)."""
    matcher = CatalogMatcher(Catalog(names={canon(proposed): proposed}))
    return {
        m
        for p in publics
        for m in matcher.match(canon(p))
        if not m.kind.on_prefix and m.kind not in COMBO_KINDS
    }


@st.composite
def neighbours(draw: st.DrawFn, name: str) -> str:
    """A public name near ``name`` under one of the rules (or not near at all)."""
    op = draw(
        st.sampled_from(("edit", "alike", "glue", "split", "reorder", "affix", "drop", "other"))
    )
    if len(name) < 2:  # a second edit can leave one character or none: nothing to edit
        return draw(names)
    parts = name.split("-")
    if op == "edit":  # insertion, deletion, substitution or swap, anywhere
        i = draw(st.integers(0, len(name)))
        kind = draw(st.sampled_from(("insert", "delete", "substitute", "swap")))
        ch = draw(st.sampled_from(ALPHABET + "-"))
        if kind == "insert":
            return name[:i] + ch + name[i:]
        i = min(i, len(name) - 1)
        if kind == "delete":
            return name[:i] + name[i + 1 :]
        if kind == "substitute":
            return name[:i] + ch + name[i + 1 :]
        i = max(0, min(i, len(name) - 2))
        return name[:i] + name[i + 1 : i + 2] + name[i] + name[i + 2 :]
    if op == "alike":
        spots = [i for i, ch in enumerate(name) if ch in ALIKE]
        if not spots:
            return name
        i = draw(st.sampled_from(spots))
        return name[:i] + draw(st.sampled_from(ALIKE[name[i]])) + name[i + 1 :]
    if op == "glue":
        return name.replace("-", "")
    if op == "split":
        i = draw(st.integers(1, max(1, len(name) - 1)))
        return f"{name[:i]}-{name[i:]}"
    if op == "reorder":
        return "-".join(draw(st.permutations(parts)))
    if op == "affix":
        affix = draw(st.sampled_from(AFFIXES))
        return draw(st.sampled_from((f"{affix}-{name}", f"{name}-{affix}")))
    if op == "drop":
        dropped = rules.dropped_letter_words(name)
        return draw(st.sampled_from(dropped)) if dropped else name
    return draw(names)


@st.composite
def index_and_query(draw: st.DrawFn) -> tuple[list[str], str]:
    proposed = draw(names)
    publics = draw(st.lists(names, max_size=10))
    for _ in range(draw(st.integers(0, 25))):
        near = draw(neighbours(proposed))
        if draw(st.booleans()):  # sometimes a second change: mostly no match
            near = draw(neighbours(near))
        publics.append(near)
    canonical = {canonicalize_name(p) for p in publics if is_valid(p)}
    return sorted(canonical), canonicalize_name(proposed)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sample=index_and_query())
def test_similar_equals_brute_force(sample: tuple[list[str], str]) -> None:
    publics, proposed = sample
    index = PublicIndex(publics)

    found = index.similar(NormalizedName(proposed))
    expected = reference(publics, proposed)

    assert len(found) == len(set(found)), "a match reported twice"
    assert set(found) <= expected
    missing = expected - set(found)
    assert not missing, sorted(missing)
    assert all(m.internal_name == proposed for m in found)
    # The candidates are a superset of what is reported.
    assert {m.public_name for m in found} <= index.candidates(proposed)


@settings(max_examples=100, deadline=None)
@given(proposed=names, publics=st.lists(names, max_size=15))
def test_candidates_are_a_superset_of_matches(proposed: str, publics: list[str]) -> None:
    canonical = sorted({canonicalize_name(p) for p in publics if is_valid(p)})
    query = canon(proposed)
    index = PublicIndex(canonical)

    candidates = index.candidates(query)

    assert candidates <= set(canonical)
    reported = {m.public_name for m in index.similar(query)}
    assert reported <= candidates


# --- every kind of neighbour, by name -----------------------------------------------------


PROPOSED = "acme-billing"
NEIGHBOURS: dict[str, MatchKind] = {
    "acme-billing": K.EXACT,
    "acmebilling": K.SEPARATOR,
    "acmebil-ling": K.SEPARATOR,
    "acme-bi11ing": K.CONFUSABLE,
    "acme-b1ll1ng": K.CONFUSABLE,
    "acrne-billing": K.LOOKALIKE,
    "acme-biling": K.TYPO,  # deletion
    "acme-billling": K.TYPO,  # insertion
    "acme-bolling": K.TYPO,  # substitution
    "acme-bililng": K.TYPO,  # swap, folded alike by the index, still a typo
    "acme-billnig": K.TYPO,  # swap in the second half
    "came-billing": K.TYPO,  # swap in the first half
    "acme-iblling": K.TYPO,  # swap across the half boundary (characters 6 and 7)
    "billing-acme": K.REORDER,
    "python-acme-billing": K.AFFIX,
    "acme-billing-py": K.AFFIX,
    "py-acme-billing-sdk": K.AFFIX,
}
UNRELATED = ["acme", "billing", "acme-payments", "django", "acme-billing-extra", "acbe-bixling"]


def test_every_kind_of_neighbour_is_found() -> None:
    index = PublicIndex([*NEIGHBOURS, *UNRELATED])

    found = {m.public_name: m.kind for m in index.similar(NormalizedName(PROPOSED))}

    assert found == NEIGHBOURS
    assert found.keys() <= index.candidates(PROPOSED)


@pytest.mark.parametrize(
    "proposed",
    ["acme-billing", "acme-bill", "billing", "abcde", "abcdef", "ab-cd", "a-bc-defg", "a-b-cdefg"],
)
def test_every_one_edit_public_name_is_found(proposed: str) -> None:
    # Exhaustive over positions and characters (a-z0-9, and "-" where it stays canonical):
    # both pigeonhole halves of every public length and the swap across the boundary.
    edits = {canonicalize_name(v) for v in one_edit_variants(proposed) if is_valid(v)}
    edits |= {canonicalize_name(proposed[:i] + "-" + proposed[i:]) for i in range(1, len(proposed))}
    publics = sorted(edits - {proposed})
    index = PublicIndex(publics)

    found = set(index.similar(NormalizedName(proposed)))

    expected = reference(publics, proposed)
    assert found == expected
    # Every single edit of a 5+ character name is reported (as a typo or a stronger kind).
    assert {m.public_name for m in found} == set(publics)


SHORT_PUBLICS = ["ab1o", "ablo", "ab10", "abl", "abloo", "ab-lo", "xablo", "abio"]


def test_short_names_only_match_exact_and_confusable() -> None:
    # Under five characters one edit hits too many real projects: no typo, no look-alike.
    index = PublicIndex(SHORT_PUBLICS)

    found = {m.public_name: m.kind for m in index.similar(NormalizedName("ablo"))}

    assert found == {
        "ablo": K.EXACT,
        "ab1o": K.CONFUSABLE,
        "ab10": K.CONFUSABLE,
        "ab-lo": K.CONFUSABLE,
        "abio": K.CONFUSABLE,
    }
    assert set(index.similar(NormalizedName("ablo"))) == reference(SHORT_PUBLICS, "ablo")


@pytest.mark.parametrize(
    ("proposed", "public"), [("tool-a-kit", "tool-kit"), ("acme-x-kit", "acme-kit")]
)
def test_similar_finds_a_dropped_one_letter_word(proposed: str, public: str) -> None:
    # `tool-a-kit` typed without its `a` is `tool--kit`, canonically `tool-kit`: two edits
    # away, so no pigeonhole half finds it.
    expected = reference([public], proposed)
    assert [m.kind for m in expected] == [K.TYPO]

    assert set(PublicIndex([public]).similar(NormalizedName(proposed))) == expected


# --- size and the empty index -------------------------------------------------------------


def test_len_and_nbytes() -> None:
    publics = ["acme-billing", "django", "requests-toolbelt", "a"]
    index = PublicIndex(publics)

    assert len(index) == 4
    assert index.nbytes > 0
    # More names, more keys.
    assert PublicIndex([*publics, "flask", "numpy-stubs"]).nbytes > index.nbytes


def test_empty_index() -> None:
    index = PublicIndex([])

    assert len(index) == 0
    assert index.nbytes == 0
    assert index.candidates("acme-billing") == set()
    assert index.similar(NormalizedName("acme-billing")) == []
    assert index.similar(NormalizedName("ab")) == []


def test_no_neighbour_finds_nothing() -> None:
    index = PublicIndex(["django", "flask", "numpy"])

    assert index.similar(NormalizedName("acme-billing")) == []
