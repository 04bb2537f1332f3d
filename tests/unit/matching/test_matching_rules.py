"""The rules' key functions, edit checks and explanations (watcher.matching.rules), and the
one-edit variants the engine precomputes for namespace roots (watcher.matching.engine)."""

from __future__ import annotations

from itertools import product

import pytest
from rapidfuzz.distance import OSA

from watcher.matching import rules
from watcher.matching.engine import one_edit_variants

ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def skeleton(name: str) -> str:
    return rules.skeleton_key(rules.ultra_key(name))


# --- key functions ------------------------------------------------------------------------


def test_noise_thresholds() -> None:
    # The issue: names of 4 characters or fewer only match exact/confusable; "acme" (4) is a
    # root whose look-alikes (acrne-tools, acm-tools) must still be found.
    assert rules.MIN_FUZZY_LENGTH == 5
    assert rules.MIN_FUZZY_ROOT == 4


@pytest.mark.parametrize(
    ("name", "key"),
    [("acme-billing", "acmebilling"), ("acmebilling", "acmebilling"), ("a-b-c", "abc")],
)
def test_separator_key_drops_separators(name: str, key: str) -> None:
    assert rules.separator_key(name) == key


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("acme-billing", "acmeb1111ng"),
        ("acme-bilIing".lower(), "acmeb1111ng"),
        ("acme-bi11ing", "acmeb1111ng"),
        ("g00gle", "g00g1e"),
        ("google", "g00g1e"),
        ("sample", "samp1e"),
    ],
)
def test_ultra_key_is_the_index_normalization(name: str, key: str) -> None:
    assert rules.ultra_key(name) == key


@pytest.mark.parametrize(
    ("seen", "real"),
    [
        ("acrne-billing", "acme-billing"),  # rn / m
        ("vvidget", "widget"),  # vv / w
        ("clocker", "docker"),  # cl / d
        ("ciocker", "docker"),  # ci reads c1 reads cl
        ("5ample", "sample"),  # 5 / s
        ("2ebra", "zebra"),  # 2 / z
        ("8ird-app", "bird-app"),  # 8 / b
        ("9oogle", "google"),  # 9 / g
        ("qoogle", "google"),  # q / g
        ("qveue", "queue"),  # u / v
        ("acme-bi11ing", "acme-billing"),  # ultra-equal is skeleton-equal too
    ],
)
def test_skeleton_key_folds_read_alikes(seen: str, real: str) -> None:
    assert skeleton(seen) == skeleton(real)


@pytest.mark.parametrize(
    ("a", "b"), [("acne", "acme"), ("acme-billing", "acme-bulling"), ("docker", "locker")]
)
def test_skeleton_key_keeps_different_names_apart(a: str, b: str) -> None:
    assert skeleton(a) != skeleton(b)


def test_reorder_key_sorts_words() -> None:
    assert rules.reorder_key(["billing", "acme"]) == "acme-billing"
    assert rules.reorder_key(["acme", "billing"]) == "acme-billing"
    assert rules.reorder_key(["c", "a", "b"]) == "a-b-c"


@pytest.mark.parametrize(
    ("words", "core"),
    [
        (["python", "acme", "billing"], ["acme", "billing"]),
        (["acme", "billing", "py"], ["acme", "billing"]),
        (["py", "python3", "acme", "billing", "client", "sdk"], ["acme", "billing"]),
        (["acme", "py", "billing"], ["acme", "py", "billing"]),  # only at the ends
        (["py", "lib"], []),
        (["acme"], ["acme"]),
    ],
)
def test_affix_core_strips_affix_words_at_both_ends(words: list[str], core: list[str]) -> None:
    assert rules.affix_core(words) == core


def test_affix_words_named_by_the_issue() -> None:
    assert {"py", "python", "lib", "sdk", "api", "client", "core"} <= rules.AFFIXES


# --- edit checks --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("acme-biling", "acme-billing", True),  # deletion
        ("acme-billling", "acme-billing", True),  # insertion
        ("acme-bilking", "acme-billing", True),  # substitution
        ("acme-bililng", "acme-billing", True),  # adjacent swap
        ("came-billing", "acme-billing", True),  # swap at the start
        ("acme-billign", "acme-billing", True),  # swap at the end
        ("acme-billing", "acme-billing", False),  # same name
        ("acme-bilin", "acme-billing", False),  # two deletions
        ("acme-bulling", "acme-billing", True),
        ("acme-bullung", "acme-billing", False),  # two substitutions
        ("acme-bilnilg", "acme-billing", False),  # a non-adjacent swap
        ("ab", "ba", True),
        ("a", "", True),
    ],
)
def test_is_one_edit(a: str, b: str, expected: bool) -> None:
    assert rules.is_one_edit(a, b) is expected
    assert rules.is_one_edit(b, a) is expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("acme-bililng", "acme-billing", True),
        ("came-billing", "acme-billing", True),
        ("ba", "ab", True),
        ("acme-billing", "acme-billing", False),
        ("acme-bilking", "acme-billing", False),  # substitution
        ("acme-billingg", "acme-billing", False),  # lengths differ
        ("cab", "abc", False),  # a rotation, not a swap
        ("bacd", "abdc", False),  # two swaps
    ],
)
def test_is_adjacent_swap(a: str, b: str, expected: bool) -> None:
    assert rules.is_adjacent_swap(a, b) is expected
    assert rules.is_adjacent_swap(b, a) is expected


def test_keyboard_neighbours() -> None:
    near = rules.KEYBOARD_NEIGHBOURS
    assert set(near) == set(ALPHABET)
    assert near["g"] == frozenset("rtyfhvbn")
    assert near["5"] == frozenset("46rty")
    for ch, others in near.items():
        assert ch not in others
        assert all(ch in near[other] for other in others)  # symmetric


# --- explanations -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("public", "internal", "detail"),
    [
        ("acme-biling", "acme-billing", "dropped one 'l' of a double at position 9"),
        ("acme-bililng", "acme-billing", "swapped 'l' and 'i' at position 9"),
        ("came-billing", "acme-billing", "swapped 'a' and 'c' at position 1"),
        ("acme-billling", "acme-billing", "doubled 'l' at position 10"),
        ("xacme-billing", "acme-billing", "inserted 'x' at position 1"),
        ("acme-billings", "acme-billing", "inserted 's' at position 13"),
        ("acme-blling", "acme-billing", "dropped 'i' at position 7"),
        ("acme-billin", "acme-billing", "dropped 'g' at position 12"),
        ("acme-bilking", "acme-billing", "'k' for 'l' at position 9 (keyboard neighbours)"),
        ("acmd-billing", "acme-billing", "'d' for 'e' at position 4 (keyboard neighbours)"),
        ("acme-billinx", "acme-billing", "'x' for 'g' at position 12"),
        ("acme0billing", "acme-billing", "'0' for '-' at position 5"),
    ],
)
def test_explain_typo(public: str, internal: str, detail: str) -> None:
    assert rules.explain_typo(public, internal) == detail


@pytest.mark.parametrize(
    ("public", "internal", "detail"),
    [
        ("acrne-billing", "acme-billing", "'rn' reads as 'm'"),
        ("vvidget-store", "widget-store", "'vv' reads as 'w'"),
        ("clocker-tools", "docker-tools", "'cl' reads as 'd'"),
        ("5ample-kit", "sample-kit", "'5' reads as 's'"),
        ("2ebra-maker", "zebra-maker", "'2' reads as 'z'"),
        ("qoogle-api", "google-api", "'q' reads as 'g'"),
        ("tum-tools", "turn-tools", "'m' reads as 'rn'"),
    ],
)
def test_explain_lookalike(public: str, internal: str, detail: str) -> None:
    assert rules.explain_lookalike(public, internal) == detail


def test_explain_confusable() -> None:
    assert rules.explain_confusable("acme-bi1ling", "acme-billing").startswith(
        "'1' for 'l': same name once separators are dropped and l/i/1 and o/0 are read alike"
    )
    assert rules.explain_confusable("acmebilling", "acme-billing") == (
        "same name once separators are dropped (the index would refuse it next to ours)"
    )


@pytest.mark.parametrize(
    ("public", "internal", "detail"),
    [
        ("acmebilling", "acme-billing", "separators removed between words"),
        ("acme-billing", "acmebilling", "separators added between words"),
        ("acmeb-illing", "acme-billing", "separators moved between words"),
    ],
)
def test_explain_separator(public: str, internal: str, detail: str) -> None:
    assert rules.explain_separator(public, internal) == detail


def test_explain_separator_added_to_a_name_with_separators() -> None:
    assert rules.explain_separator("acme-bill-ing", "acme-billing") == (
        "separators added between words"
    )


@pytest.mark.parametrize(
    ("public", "internal", "detail"),
    [
        ("python-acme-billing", "acme-billing", "added 'python-' in front"),
        ("acme-billing-py", "acme-billing", "added '-py' at the end"),
        (
            "py-acme-billing-lib",
            "acme-billing",
            "added 'py-' in front and added '-lib' at the end",
        ),
        ("acme-billing", "acme-billing-sdk", "removed '-sdk' at the end"),
        ("acme-billing", "client-acme-billing", "removed 'client-' in front"),
        (
            "py-acme-billing",
            "acme-billing-lib",
            "same name once affix words (py, python, lib, sdk, api, client, ...) are ignored",
        ),
    ],
)
def test_explain_affix(public: str, internal: str, detail: str) -> None:
    assert rules.explain_affix(public.split("-"), internal.split("-")) == detail


# --- one_edit_variants --------------------------------------------------------------------


@pytest.mark.parametrize("word", ["ab", "aa", "a1", "z"])
def test_one_edit_variants_is_exactly_the_osa_ball(word: str) -> None:
    # Exhaustive brute force over every a-z0-9 string one character shorter to one longer.
    ball = {
        candidate
        for size in range(max(len(word) - 1, 0), len(word) + 2)
        for candidate in map("".join, product(ALPHABET, repeat=size))
        if OSA.distance(candidate, word) == 1
    }
    assert one_edit_variants(word) == ball


def test_one_edit_variants_of_a_root() -> None:
    variants = one_edit_variants("acme")
    assert {"acm", "cme", "acne", "acmw", "came", "acem", "xacme", "acmes"} <= variants
    assert "acme" not in variants
    assert "acrne" not in variants  # two edits: that is the look-alike rule's job
    assert all(OSA.distance(v, "acme") == 1 for v in variants)
    assert all(set(v) <= set(ALPHABET) for v in variants)
