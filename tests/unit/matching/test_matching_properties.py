"""Property-based tests of the matching engine against brute-force references.

The engine never compares a public name with every internal name (hash indexes and
pigeonhole candidates); the references here do exactly that, pair by pair, with
rapidfuzz's optimal-string-alignment distance for the edit rules.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.utils import NormalizedName, canonicalize_name
from rapidfuzz.distance import OSA

from watcher.catalog import Catalog
from watcher.matching import Match, MatchKind, build_matcher, rules
from watcher.matching.engine import CatalogMatcher, one_edit_variants
from watcher.names import is_valid

K = MatchKind
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
EDIT_CHARS = ALPHABET + "-"
# Letters of the confusable and look-alike classes, over-represented so collisions happen.
FOCUSED = "acdeilmnorsuvw0125"

# Kinds a single edit of a name of 5+ characters may be reported as.
ONE_EDIT_KINDS = frozenset({K.EXACT, K.SEPARATOR, K.CONFUSABLE, K.LOOKALIKE, K.TYPO})
SHORT_NAME_KINDS = frozenset({K.EXACT, K.CONFUSABLE, K.SHORT})
# The kinds of issue 13: checked against their definitions (``holds``), the others against
# the brute-force reference.
NEW_KINDS = frozenset({K.ALIAS, K.SHORT, K.COMBINED, K.TWO_TYPOS, K.AFFIX_SWAP, K.COMBOSQUAT})
# Never reported for roots shorter than MIN_FUZZY_ROOT (prefix_affix: see the engine tests).
FUZZY_ROOT_KINDS = frozenset({K.PREFIX_SEPARATOR, K.PREFIX_LOOKALIKE, K.PREFIX_TYPO})

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

words = st.one_of(
    st.text(FOCUSED, min_size=1, max_size=6),
    st.text(ALPHABET, min_size=1, max_size=6),
    st.sampled_from(sorted(rules.AFFIXES)),
)


def joined(parts: list[str]) -> str:
    return "-".join(parts)


# Valid canonical names: words of [a-z0-9] joined by single '-'.
names = st.lists(words, min_size=1, max_size=3).map(joined)
long_names = names.filter(lambda n: len(n) >= rules.MIN_FUZZY_LENGTH)


def canon(name: str) -> NormalizedName:
    assert is_valid(name), name
    return canonicalize_name(name)


def catalog_of(
    internal: Iterable[str], prefixes: Iterable[str] = (), allow: Iterable[str] = ()
) -> Catalog:
    return Catalog(
        names={canon(n): n for n in internal},
        prefixes={canon(p): p for p in prefixes},
        allow=frozenset(canon(a) for a in allow),
    )


@st.composite
def one_edit(draw: st.DrawFn, name: str, chars: str = EDIT_CHARS) -> str:
    """``name`` with one insertion, deletion, substitution or adjacent swap."""
    ops = ["insert"]
    if name:
        ops += ["delete", "substitute"]
    if len(name) >= 2:
        ops.append("swap")
    op = draw(st.sampled_from(ops))
    if op == "insert":
        i = draw(st.integers(0, len(name)))
        return name[:i] + draw(st.sampled_from(chars)) + name[i:]
    i = draw(st.integers(0, len(name) - 1))
    if op == "delete":
        return name[:i] + name[i + 1 :]
    if op == "substitute":
        return name[:i] + draw(st.sampled_from(chars)) + name[i + 1 :]
    i = min(i, len(name) - 2)
    return name[:i] + name[i + 1] + name[i] + name[i + 2 :]


def collapses_a_word(public: str, name: str) -> bool:
    """True if one edit, then canonicalization, removed a whole one-character word.

    ``tool-a-kit`` minus its ``a`` is ``tool--kit``, a valid project name whose canonical
    form ``tool-kit`` is two edits from ``tool-a-kit``.
    """
    return OSA.distance(public, name) > 1


def by_target(matches: list[Match]) -> dict[tuple[bool, str], MatchKind]:
    """Kinds by (is a prefix kind, target), checking no target is reported twice."""
    out: dict[tuple[bool, str], MatchKind] = {}
    for m in matches:
        key = (m.kind.on_prefix, m.internal_name)
        assert key not in out, f"{m.internal_name} reported as {out.get(key)} and {m.kind}"
        out[key] = m.kind
    return out


def reference_kind(public: str, internal: str) -> MatchKind | None:
    """The package-name kind of one pair, rule by rule in precedence order."""
    fuzzy = len(internal) >= rules.MIN_FUZZY_LENGTH
    if public == internal:
        return K.EXACT
    if fuzzy and rules.separator_key(public) == rules.separator_key(internal):
        return K.SEPARATOR
    ultra_p, ultra_i = rules.ultra_key(public), rules.ultra_key(internal)
    if ultra_p == ultra_i:
        # A swap of two letters is what a typist does, even when the index folds them.
        swap = fuzzy and rules.is_adjacent_swap(public, internal)
        return K.TYPO if swap else K.CONFUSABLE
    if not fuzzy:
        return None
    if rules.skeleton_key(ultra_p) == rules.skeleton_key(ultra_i):
        return K.LOOKALIKE
    if OSA.distance(public, internal) == 1 or public in rules.dropped_letter_words(internal):
        return K.TYPO
    p_words, i_words = public.split("-"), internal.split("-")
    if len(p_words) > 1 and len(i_words) > 1 and sorted(p_words) == sorted(i_words):
        return K.REORDER
    core = rules.affix_core(p_words)
    if core and core == rules.affix_core(i_words):
        return K.AFFIX if rules.affix_contains(p_words, i_words) else K.AFFIX_SWAP
    return None


# --- (1) any single edit of a name of 5+ characters is found ------------------------------


@SETTINGS
@given(data=st.data(), name=long_names, others=st.lists(names, max_size=20))
def test_any_single_edit_is_found(data: st.DataObject, name: str, others: list[str]) -> None:
    edited = data.draw(one_edit(name))
    if not is_valid(edited):
        return  # a leading or trailing separator: not a project name
    public = canonicalize_name(edited)
    if collapses_a_word(public, name):
        return  # see test_deleting_a_one_character_word_is_found (a known gap)
    matcher = build_matcher(catalog_of([name, *others]))

    kinds = by_target(matcher.match(public))

    kind = kinds.get((False, name))
    assert kind in ONE_EDIT_KINDS, (public, name, kind)
    if public == name:  # "acme--billing" canonicalizes back to "acme-billing"
        assert kind is K.EXACT
    else:
        assert kind is not K.EXACT
    if kind is K.TYPO:
        assert rules.is_one_edit(public, name)


def every_edit(name: str, chars: str) -> set[str]:
    """Every deletion and adjacent swap of ``name``, every insertion and substitution of
    one of ``chars``, at every position."""
    out: set[str] = set()
    for i in range(len(name) + 1):
        out.update(name[:i] + ch + name[i:] for ch in chars)
    for i in range(len(name)):
        out.add(name[:i] + name[i + 1 :])
        out.update(name[:i] + ch + name[i + 1 :] for ch in chars)
        if i + 1 < len(name):
            out.add(name[:i] + name[i + 1] + name[i] + name[i + 2 :])
    return out


@settings(max_examples=100, deadline=None)
@given(name=long_names, chars=st.text(EDIT_CHARS, min_size=1, max_size=3))
def test_every_edit_at_every_position_is_found(name: str, chars: str) -> None:
    # Exhaustive over positions: the pigeonhole halves and their boundary are all hit.
    matcher = build_matcher(catalog_of([name]))
    for edited in every_edit(name, chars):
        public = canonicalize_name(edited)
        if is_valid(edited) and not collapses_a_word(public, name):
            kind = by_target(matcher.match(public)).get((False, name))
            assert kind in ONE_EDIT_KINDS, (public, name, kind)


@SETTINGS
@given(data=st.data(), root=st.text(ALPHABET, min_size=rules.MIN_TYPO_ROOT, max_size=8))
def test_any_single_edit_of_a_root_is_found(data: st.DataObject, root: str) -> None:
    edited = data.draw(one_edit(root, ALPHABET))
    word = data.draw(st.text(ALPHABET, min_size=1, max_size=6))
    public = canon(f"{edited}-{word}")  # acm-tools, acne-tools, acmxe-tools...
    matcher = build_matcher(catalog_of([], [root]))

    kind = by_target(matcher.match(public)).get((True, root))

    assert kind is not None, (public, root)
    assert kind is not K.PREFIX_AFFIX
    if edited == root:
        assert kind is K.PREFIX
    assert edited in one_edit_variants(root) or edited == root


# --- (2) equivalence with brute force -----------------------------------------------------


@st.composite
def catalog_and_publics(draw: st.DrawFn) -> tuple[list[str], list[NormalizedName]]:
    internal = sorted(set(draw(st.lists(names, min_size=1, max_size=30))))
    public = draw(st.lists(names, max_size=10))
    for _ in range(draw(st.integers(0, 15))):
        edited = draw(one_edit(draw(st.sampled_from(internal))))
        if is_valid(edited):
            public.append(edited)
    for _ in range(draw(st.integers(0, 5))):  # two edits: typically no match at all
        twice = draw(one_edit(draw(one_edit(draw(st.sampled_from(internal))))))
        if len(twice) > 1 and is_valid(twice):
            public.append(twice)
    return internal, sorted({canonicalize_name(p) for p in public})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sample=catalog_and_publics())
def test_brute_force_equivalence(sample: tuple[list[str], list[NormalizedName]]) -> None:
    internal, publics = sample
    matcher = build_matcher(catalog_of(internal))

    for public in publics:
        reported = {key[1]: kind for key, kind in by_target(matcher.match(public)).items()}
        # The edit-distance rules against rapidfuzz, pair by pair.
        for name in internal:
            if len(name) >= rules.MIN_FUZZY_LENGTH and OSA.distance(public, name) <= 1:
                assert reported.get(name) in ONE_EDIT_KINDS, (public, name, reported)
        for name, kind in reported.items():
            if kind is K.TYPO:
                dropped = public in rules.dropped_letter_words(name)
                assert OSA.distance(public, name) == 1 or dropped, (public, name)
                assert len(name) >= rules.MIN_FUZZY_LENGTH
        # Every package-name rule, pair by pair, in precedence order (the kinds of issue 13
        # come after all of these: they only report targets none of these found).
        expected = {n: k for n in internal if (k := reference_kind(public, n)) is not None}
        older = {n: k for n, k in reported.items() if k not in NEW_KINDS or k is K.AFFIX_SWAP}
        assert older == expected, public
        for name, kind in reported.items():
            if kind in NEW_KINDS:
                assert holds(kind, public, name), (public, name, kind)


def holds(kind: MatchKind, public: str, name: str) -> bool:
    """The definition of each kind of issue 13, pair by pair."""
    glued_public, glued = rules.separator_key(public), rules.separator_key(name)
    if kind is K.TWO_TYPOS:
        # two edits of a long name or of its alias, its first two characters kept
        return public[:2] == name[:2] or len(name) < 8
    if kind is K.SHORT:
        return len(name) < rules.MIN_FUZZY_LENGTH and OSA.distance(glued_public, glued) <= 2
    if kind is K.COMBOSQUAT:
        return public.startswith(name + "-") or public.endswith("-" + name)
    return public != name


# --- (3) noise control and precedence -----------------------------------------------------


@st.composite
def full_catalogs(
    draw: st.DrawFn,
) -> tuple[list[str], list[str], list[NormalizedName], list[str]]:
    internal = sorted(set(draw(st.lists(names, min_size=1, max_size=20))))
    prefixes = sorted(set(draw(st.lists(names, max_size=4))))
    targets = internal + prefixes
    public = draw(st.lists(names, max_size=8))
    for _ in range(draw(st.integers(0, 12))):
        target = draw(st.sampled_from(targets))
        word = draw(words)
        variant = draw(
            st.sampled_from(
                (
                    target,
                    draw(one_edit(target)),
                    f"{target}-{word}",  # under a root
                    f"{target}{word}",  # glued to a root
                    f"{draw(st.sampled_from(sorted(rules.AFFIXES)))}-{target}",
                )
            )
        )
        if is_valid(variant):
            public.append(variant)
    allow = draw(st.lists(st.sampled_from(public), max_size=3)) if public else []
    return internal, prefixes, sorted({canonicalize_name(p) for p in public}), allow


@SETTINGS
@given(sample=full_catalogs())
def test_noise_control(
    sample: tuple[list[str], list[str], list[NormalizedName], list[str]],
) -> None:
    internal, prefixes, publics, allow = sample
    matcher = build_matcher(catalog_of(internal, prefixes, allow))
    allowed = {canonicalize_name(a) for a in allow}

    for public in publics:
        matches = matcher.match(public)
        if public in allowed:
            assert matches == []
            continue
        kinds = by_target(matches)  # no (family, target) pair reported twice
        severities = [m.severity for m in matches]
        assert severities == sorted(severities, reverse=True)
        assert all(m.public_name == public and m.detail for m in matches)
        for (on_prefix, target), kind in kinds.items():
            if on_prefix:
                assert target in prefixes
                if len(target) < rules.MIN_FUZZY_ROOT:
                    assert kind not in FUZZY_ROOT_KINDS, (public, target, kind)
                if len(target) < rules.MIN_TYPO_ROOT:
                    assert kind is not K.PREFIX_TYPO, (public, target, kind)
                # The namespace itself, by its own definition.
                is_member = public == target or public.startswith(target + "-")
                assert (kind is K.PREFIX) == is_member, (public, target, kind)
            else:
                assert target in internal
                # Exact is the canonical name, and nothing else is ever reported for it.
                assert (kind is K.EXACT) == (public == target), (public, target, kind)
                if len(target) < rules.MIN_FUZZY_LENGTH:
                    assert kind in SHORT_NAME_KINDS, (public, target, kind)
        for target in internal:
            if target == public:
                assert kinds.get((False, target)) is K.EXACT
        for root in prefixes:
            if public == root or public.startswith(root + "-"):
                assert kinds.get((True, root)) is K.PREFIX


@SETTINGS
@given(internal=st.lists(names, min_size=1, max_size=10), data=st.data())
def test_allowlisted_names_never_match(internal: list[str], data: st.DataObject) -> None:
    # Allowlist internal names, their edits and names under a root built from them.
    name = data.draw(st.sampled_from(internal))
    candidates = [name, data.draw(one_edit(name)), f"{name}-x", f"py-{name}"]
    allow = [c for c in candidates if is_valid(c)]
    matcher = build_matcher(catalog_of(internal, [name], allow))
    for public in allow:
        assert matcher.match(canonicalize_name(public)) == []


@pytest.mark.parametrize(
    ("edited", "name"),
    [
        ("tool--kit", "tool-a-kit"),
        ("acme--billing", "acme-x-billing"),
        ("tool---kit", "tool-a-kit"),
    ],
)
def test_deleting_a_one_character_word_is_found(edited: str, name: str) -> None:
    public = canonicalize_name(edited)
    assert collapses_a_word(public, name)
    assert build_matcher(catalog_of([name])).match(public) != []


# --- the bulk path (match_many) finds exactly what match finds, name by name --------------


@SETTINGS
@given(sample=full_catalogs())
def test_match_many_equals_match_one_by_one(
    sample: tuple[list[str], list[str], list[NormalizedName], list[str]],
) -> None:
    internal, prefixes, publics, allow = sample
    # Multi-word roots: see test_match_many_multi_word_root_typo (a known gap).
    matcher = CatalogMatcher(catalog_of(internal, [p for p in prefixes if "-" not in p], allow))

    one_by_one = sorted(m for public in publics for m in matcher.match(public))

    assert sorted(matcher.match_many(publics)) == one_by_one


@pytest.mark.parametrize("public", ["acmr-corp-x", "came-corp-x", "acm-corp-x"])
def test_match_many_multi_word_root_typo(public: str) -> None:
    matcher = CatalogMatcher(catalog_of(["acme-billing"], ["acme-corp"]))
    one = matcher.match(canonicalize_name(public))
    assert [m.kind for m in one] == [K.PREFIX_TYPO]
    assert matcher.match_many([public]) == one


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_match_many_is_complete_with_multi_word_roots(data: st.DataObject) -> None:
    # The bulk pre-filter (survivors) must never drop a name that match() reports. Catalogs
    # hold multi-word roots ("acme-corp"); public names are near the names and roots in
    # every way the rules know (one edit, a look-alike character, a separator added or
    # removed, a one-letter word dropped, affixes, reorders), one or two changes at a time.
    internal = sorted(set(data.draw(st.lists(names, min_size=1, max_size=12))))
    multi_word_root = data.draw(st.lists(words, min_size=2, max_size=3).map(joined))
    prefixes = sorted({multi_word_root, *data.draw(st.lists(names, max_size=3))})
    affixes = st.sampled_from(sorted(rules.AFFIXES))
    alike: dict[str, tuple[str, ...]] = {
        "l": ("1", "i"),
        "i": ("l", "1"),
        "1": ("l", "i"),
        "o": ("0",),
        "0": ("o",),
        "m": ("rn",),
        "w": ("vv",),
        "d": ("cl",),
        "s": ("5",),
        "5": ("s",),
        "z": ("2",),
        "b": ("8",),
        "g": ("9", "q"),
        "u": ("v",),
    }

    def change(name: str) -> str:
        op = data.draw(st.sampled_from(("edit", "alike", "split", "glue", "drop")))
        if op == "edit":  # typo; a separator added, removed or replaced
            return data.draw(one_edit(name))
        if op == "alike":  # a confusable or look-alike character
            spots = [i for i, ch in enumerate(name) if ch in alike]
            if not spots:
                return name
            i = data.draw(st.sampled_from(spots))
            return name[:i] + data.draw(st.sampled_from(alike[name[i]])) + name[i + 1 :]
        if op == "split":  # a separator inside a word
            i = data.draw(st.integers(0, len(name)))
            return f"{name[:i]}-{name[i:]}"
        if op == "glue":  # two words glued
            i = data.draw(st.integers(0, name.count("-")))
            parts = name.split("-")
            return joined([*parts[:i], "".join(parts[i : i + 2]), *parts[i + 2 :]])
        dropped = rules.dropped_letter_words(name)  # `tool-a-kit` -> `tool-kit`
        return data.draw(st.sampled_from(dropped)) if dropped else name

    public: list[str] = data.draw(st.lists(names, max_size=5))
    for _ in range(data.draw(st.integers(1, 25))):
        target = data.draw(st.sampled_from(internal + prefixes))
        near = change(target)
        if data.draw(st.booleans()):
            near = change(near)
        word, affix = data.draw(words), data.draw(affixes)
        permuted = joined(data.draw(st.permutations(target.split("-"))))
        variants = (
            target,
            near,
            f"{near}-{word}",  # a root's neighbour, then a word
            f"{target}-{word}",  # under a root
            f"{target}{word}",  # glued to a root
            f"{affix}-{target}",  # affix added before a name or a root
            f"{target}-{affix}",  # ... or after
            f"{affix}-{near}-{word}",
            permuted,  # reorder
            f"{permuted}-{word}",
        )
        public.append(data.draw(st.sampled_from(variants)))
    valid = [p for p in public if is_valid(p)]
    allow = data.draw(st.lists(st.sampled_from(valid), max_size=2)) if valid else []
    publics = sorted({canonicalize_name(p) for p in valid})
    matcher = CatalogMatcher(catalog_of(internal, prefixes, allow))

    one_by_one = sorted(m for p in publics for m in matcher.match(p))
    bulk = sorted(matcher.match_many(publics))

    assert len(bulk) == len(set(bulk)), "a match reported twice"
    assert set(bulk) <= set(one_by_one)

    missing = [m for m in one_by_one if m not in set(bulk)]
    assert missing == []
    assert bulk == one_by_one
