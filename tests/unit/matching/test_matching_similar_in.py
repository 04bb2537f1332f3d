"""One proposed name against a buffer of public names, without an index
(watcher.matching.public_index.similar_in, watcher.matching.public_names.ListedNames): the
same answer as :meth:`PublicIndex.similar` over the same names, order included."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.utils import NormalizedName, canonicalize_name

from tests.unit.matching.test_matching_public_index import (
    AFFIXES,
    NEIGHBOURS,
    PROPOSED,
    UNRELATED,
    index_and_query,
)
from watcher.matching import MatchKind
from watcher.matching.public_index import NAME_KINDS, PublicIndex, similar_in
from watcher.matching.public_names import ListedNames, PublicNames

AS_OF = datetime(2026, 11, 29, tzinfo=UTC)


def buffer(names: Sequence[str]) -> bytes:
    return "\n".join(names).encode()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sample=index_and_query(), data=st.data())
def test_a_scan_of_the_buffer_answers_as_the_index(
    sample: tuple[list[str], str], data: st.DataObject
) -> None:
    publics, proposed = sample
    # The store's batches come in any order, a name possibly twice (listing and feeds).
    listed = publics + data.draw(
        st.lists(st.sampled_from(publics), max_size=5) if publics else st.just([])
    )
    listed = data.draw(st.permutations(listed))
    name = NormalizedName(proposed)

    expected = PublicIndex(publics).similar(name, itself=False)

    assert similar_in(name, buffer(listed)) == expected
    assert ListedNames(buffer(listed), AS_OF).similar(name) == expected


def planted(rng: random.Random, proposed: str) -> list[str]:
    """Look-alikes of ``proposed`` under every rule, and near misses."""
    words = proposed.split("-")
    out = [
        proposed.replace("-", ""),
        "-".join(reversed(words)),
        f"{rng.choice(AFFIXES)}-{proposed}",
        f"{proposed}-{rng.choice(AFFIXES)}",
        proposed.replace("l", "1").replace("o", "0"),
        proposed.replace("m", "rn"),
        f"{proposed}-extra-words",
    ]
    for _ in range(6):  # one edit anywhere: insertion, deletion, substitution, swap
        i = rng.randrange(len(proposed) - 1)
        ch = rng.choice("abcdefghijklmnopqrstuvwxyz0123456789")
        out += [
            proposed[:i] + ch + proposed[i:],
            proposed[:i] + proposed[i + 1 :],
            proposed[:i] + ch + proposed[i + 1 :],
            proposed[:i] + proposed[i + 1] + proposed[i] + proposed[i + 2 :],
        ]
    return out


def test_thousands_of_names_with_planted_look_alikes() -> None:
    rng = random.Random(14)
    syllables = ["ac", "me", "bil", "ling", "pay", "ments", "core", "to", "ol", "data", "x"]
    filler = {
        "-".join(
            "".join(rng.choice(syllables) for _ in range(rng.randint(1, 3)))
            for _ in range(rng.randint(1, 3))
        )
        for _ in range(4000)
    }
    proposals = ["acme-billing", "payments-core", "internal-tool", "data-tool", "abcd", "mellow"]
    publics = set(filler) | set(NEIGHBOURS) | set(UNRELATED)
    for proposed in proposals:
        publics.update(planted(rng, proposed))
    names = sorted({canonicalize_name(p) for p in publics if p.strip("-") == p and p})
    index = PublicIndex(names)
    shuffled = names * 2  # duplicates, in another order
    rng.shuffle(shuffled)
    listed = ListedNames(buffer(shuffled), AS_OF)

    total = 0
    for proposed in [*proposals, *rng.sample(names, 30)]:
        name = NormalizedName(proposed)
        expected = index.similar(name, itself=False)
        total += len(expected)
        assert listed.similar(name) == expected, proposed
    assert total > 100  # the planted look-alikes were found, not only nothing both ways
    found = {m.public_name: m.kind for m in listed.similar(NormalizedName(PROPOSED))}
    assert {p: k for p, k in NEIGHBOURS.items() if p != PROPOSED}.items() <= found.items()


def test_only_the_kinds_the_index_reports_and_never_the_name_itself() -> None:
    text = buffer(["acme-billing", "acme-billing-darwin-lite", "acme", "acmebilling"])

    found = similar_in(NormalizedName("acme-billing"), text)

    # A combosquat and a prefix are the forward matcher's, not this direction's.
    assert [(m.public_name, m.kind) for m in found] == [("acmebilling", MatchKind.SEPARATOR)]
    assert all(m.kind in NAME_KINDS for m in found)
    assert similar_in(NormalizedName("acme-billing"), b"") == []


@pytest.mark.parametrize(
    ("names", "name", "expected"),
    [
        (["requests"], "requests", True),
        (["requests", "flask"], "requests", True),
        (["flask", "requests"], "requests", True),
        (["flask", "requests", "numpy"], "requests", True),
        (["requests-oauth", "my-requests", "xrequestsx"], "requests", False),
        ([], "requests", False),
    ],
)
def test_listed_names_contains_a_whole_line_only(
    names: list[str], name: str, expected: bool
) -> None:
    assert ListedNames(buffer(names), AS_OF).contains(name) is expected
    built = PublicNames()
    built.replace(PublicIndex(names), AS_OF)
    assert built.contains(name) is expected  # as the service's view answers
