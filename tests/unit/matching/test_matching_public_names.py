"""The check API's in-memory view of the known public names (watcher.matching.public_names)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from packaging.utils import NormalizedName

from watcher.matching.public_index import PublicIndex
from watcher.matching.public_names import PublicNames

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 29, 12, 1, tzinfo=UTC)


def view(*names: str) -> PublicNames:
    known = PublicNames()
    known.replace(PublicIndex(sorted(names)), T0)
    return known


def test_nothing_is_known_before_the_first_build() -> None:
    known = PublicNames()
    assert known.contains("requests") is None
    assert known.similar(NormalizedName("requests")) is None
    assert not known.loaded
    with pytest.raises(RuntimeError):
        known.apply(["x"], [], T0)


def test_membership_of_the_base_additions_and_removals() -> None:
    known = view("requests", "numpy", "acme-billing")
    assert known.contains("requests") is True
    assert known.contains("request") is False
    assert known.as_of == T0
    known.apply(["acme-billing2", "flask"], ["numpy"], T1)
    assert known.contains("flask") is True
    assert known.contains("numpy") is False
    assert known.removed == frozenset({"numpy"})
    assert (known.size, known.pending, known.as_of) == (4, 2, T1)
    known.apply(["numpy"], [], T1)  # back on the index
    assert known.contains("numpy") is True
    assert known.removed == frozenset()


def test_look_alikes_come_from_the_base_and_the_additions_not_removed_ones() -> None:
    known = view("acme-billing", "acme-biling", "requests")
    found = {m.public_name for m in known.similar(NormalizedName("acme-billing")) or []}
    assert found == {"acme-biling"}  # itself is not its own look-alike
    known.apply(["acme-bi11ing"], ["acme-biling"], T1)
    found = {m.public_name for m in known.similar(NormalizedName("acme-billing")) or []}
    assert found == {"acme-bi11ing"}


def test_answers_are_reused_until_the_view_changes() -> None:
    known = view("acme-billing", "acme-biling")
    first = known.similar(NormalizedName("acme-billing"))
    assert first == known.similar(NormalizedName("acme-billing"))
    assert [m.public_name for m in first or []] == ["acme-biling"]
    known.apply(["acme-bil1ing"], [], T1)  # a change: answered afresh
    again = {m.public_name for m in known.similar(NormalizedName("acme-billing")) or []}
    assert again == {"acme-biling", "acme-bil1ing"}
