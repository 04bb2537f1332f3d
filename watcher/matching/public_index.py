"""The other direction: one proposed name against the whole public index.

"Which public names already look like ``acme-billing``?" A million names cannot each be a
dict entry per rule within the memory budget, so every rule's key of every public name is
reduced to a 64-bit hash and kept in one sorted NumPy array per rule, beside the position of
its name. A query computes the same keys for the proposed name, finds their hashes by
binary search, and confirms each candidate with the exact rules (a tiny catalog holding
only the proposed name), so hash collisions can cost time but never produce a wrong match.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence

import numpy as np
from numpy.typing import NDArray
from packaging.utils import NormalizedName

from watcher.catalog.model import Catalog
from watcher.matching import rules
from watcher.matching.combos import COMBO_KINDS
from watcher.matching.engine import CatalogMatcher
from watcher.matching.model import Match, MatchKind

# Rules are matched both ways: the public name is checked against the proposed name as if
# the proposed name were the only internal name. The rules of issue 13 (aliases, two edits,
# combinations, short names, combosquats) are not: their keys are not filed here.
NAME_KINDS = frozenset(k for k in MatchKind if not k.on_prefix) - COMBO_KINDS


def _hash(kind: str, key: str) -> int:
    # Python's string hash: fast, 64-bit, stable for the life of the process (the index
    # lives in memory and is rebuilt at start-up, so per-process salting is harmless).
    return hash((kind, key))


_RULES = ("exact", "skeleton", "reorder", "core", "head", "tail")


def _equivalence_keys(name: str) -> Iterator[tuple[str, str]]:
    """Keys of the rules that are equivalences: the same for a name and its look-alikes."""
    yield "exact", name
    yield "skeleton", rules.skeleton_key(rules.ultra_key(name))
    words = name.split("-")
    if len(words) > 1:
        yield "reorder", rules.reorder_key(words)
    core = rules.affix_core(words)
    if core:
        yield "core", "-".join(core)


def _keys(name: str) -> Iterator[tuple[str, str]]:
    """The (rule, key) pairs under which a public name is filed."""
    yield from _equivalence_keys(name)
    if len(name) >= rules.MIN_FUZZY_LENGTH - 1:
        half = len(name) // 2
        yield "head", f"{len(name)}:{name[:half]}"
        yield "tail", f"{len(name)}:{name[half:]}"


def _query_keys(name: str) -> Iterator[tuple[str, str]]:
    """The (rule, key) pairs under which public names resembling ``name`` are filed."""
    yield from _equivalence_keys(name)
    if len(name) >= rules.MIN_FUZZY_LENGTH:
        # Pigeonhole, as in the catalog matcher but from the other side: a public name one
        # edit away keeps its own first or second half inside ``name``.
        size = len(name)
        for length in (size - 1, size, size + 1):
            half = length // 2
            yield "head", f"{length}:{name[:half]}"
            yield "tail", f"{length}:{name[size - (length - half) :]}"
        # the swap across the public name's half boundary: swap it back
        half = size // 2
        if 1 <= half < size:
            yield "exact", name[: half - 1] + name[half] + name[half - 1] + name[half + 1 :]
        # `tool-a-kit` typed with its one-letter word dropped
        for variant in rules.dropped_letter_words(name):
            yield "exact", variant


class PublicIndex:
    """An in-memory index of public names for look-alike queries."""

    def __init__(self, names: Sequence[str]) -> None:
        """Index canonical ``names`` (the whole public index: about a million)."""
        self._names = list(names)
        # Compact typed buffers, one per rule, then NumPy: no list of millions of ints.
        hashes = {rule: array("q") for rule in _RULES}
        positions = {rule: array("i") for rule in _RULES}
        for position, name in enumerate(self._names):
            for kind, key in _keys(name):
                hashes[kind].append(_hash(kind, key))
                positions[kind].append(position)
        key_parts = [np.frombuffer(hashes[rule], dtype=np.int64) for rule in _RULES]
        id_parts = [np.frombuffer(positions[rule], dtype=np.int32) for rule in _RULES]
        keys = np.concatenate(key_parts)
        ids = np.concatenate(id_parts)
        del key_parts, id_parts, hashes, positions
        order = np.argsort(keys, kind="stable")
        self._keys: NDArray[np.int64] = keys[order]
        self._ids: NDArray[np.int32] = ids[order]

    def __len__(self) -> int:
        return len(self._names)

    @property
    def nbytes(self) -> int:
        """Memory held by the hash arrays (the names themselves are extra)."""
        return int(self._keys.nbytes + self._ids.nbytes)

    def candidates(self, name: str) -> set[str]:
        """Public names sharing a key with ``name`` (a superset of its matches)."""
        keyed = list(_query_keys(name))
        wanted = np.array([_hash(k, v) for k, v in keyed], dtype=np.int64)
        lo = np.searchsorted(self._keys, wanted, side="left").tolist()
        hi = np.searchsorted(self._keys, wanted, side="right").tolist()
        out: set[str] = set()
        for (rule, _), start, end in zip(keyed, lo, hi, strict=True):
            found = (self._names[i] for i in self._ids[start:end].tolist())
            if rule in ("head", "tail"):
                # Pigeonhole buckets of short names are large: keep only real one-edit pairs.
                out.update(p for p in found if rules.is_one_edit(name, p))
            else:
                out.update(found)
        return out

    def similar(self, name: NormalizedName, *, itself: bool = True) -> list[Match]:
        """Public names that would be reported against ``name`` if it were internal
        (without ``itself``: not ``name``'s own entry, which would be an exact match).

        ``Match.public_name`` is the public name, ``internal_name`` the proposed ``name``.
        """
        found = self.candidates(name)
        if not itself:
            # Most names look like nothing but themselves: no matcher to build for them.
            found.discard(name)
        if not found:
            return []
        # The rules of issue 13 are not reported in this direction: not built either.
        matcher = CatalogMatcher(Catalog(names={name: name}), combos=False)
        out: list[Match] = []
        for public in sorted(found):
            out.extend(m for m in matcher.match(NormalizedName(public)) if m.kind in NAME_KINDS)
        return out

    def contains(self, name: str) -> bool:
        """Whether canonical ``name`` is one of the indexed names (binary search, no scan)."""
        wanted = _hash("exact", name)
        start = int(np.searchsorted(self._keys, wanted, side="left"))
        end = int(np.searchsorted(self._keys, wanted, side="right"))
        return any(self._names[i] == name for i in self._ids[start:end].tolist())


def similar_in(name: NormalizedName, text: bytes) -> list[Match]:
    """What :meth:`PublicIndex.similar` (without ``itself``) would answer for ``name`` over
    ``text`` (canonical names, one per line, duplicates allowed), without an index.

    For a one-shot check: building the index costs about 8 s per million names, while one
    forward scan of the buffer, ``name`` being the only internal name, takes under one.
    """
    matcher = CatalogMatcher(Catalog(names={name: name}), combos=False)
    # A name listed twice (the listing and the feeds) is one match, as in the index.
    found = dict.fromkeys(
        m for m in matcher.match_buffer(text) if m.kind in NAME_KINDS and m.public_name != name
    )
    # The index's order: by public name, each name's matches as the matcher gives them.
    return sorted(found, key=lambda m: m.public_name)
