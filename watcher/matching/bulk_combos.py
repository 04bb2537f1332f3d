"""The bulk filter's key families for the rules of :mod:`watcher.matching.combos`.

Each family only admits names to the short path of the matcher (``match_fuzzy``), and is
complete for its rule: one edit of a fold (pigeonhole halves of the folded buffer), a
version digit stripped (the fold without its last character), two edits (the first third,
or the first two characters with the last third, tagged by the internal name's length),
combosquats (the name without its first or last one or two words, exactly).

The edit families' keys are short (three letters of a name and its length), so many names
share one with some internal name. Each hit therefore names its candidates (the internal
strings that key came from) and every (public, candidate) pair is measured at once with
rapidfuzz's ``cpdist`` (optimal string alignment, in C): only names within the rule's
distance of a candidate reach the per-name rules.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from rapidfuzz import process
from rapidfuzz.distance import OSA

from watcher.matching import rules
from watcher.matching.bulk import (
    _DASH,
    I64,
    U64,
    FilterSpec,
    KeySet,
    _pair_hash,
    _retag,
    hash_strings,
)
from watcher.matching.bulk import (
    _Hasher as Hasher,
)

_SK_HEAD, _SK_TAIL, _T_HEAD, _T_TAIL, _COMBO, _FOLD = range(8, 14)
_DIGITS = np.frombuffer(b"0123456789", dtype=np.uint8)


class ComboFilter:
    """Catalog-side key tables of the combination rules and their survivor test."""

    def __init__(self, spec: FilterSpec) -> None:
        self._fuzzy = list(spec.fuzzy_skeletons)
        self._combined = _pieces(self._fuzzy)
        self._folds = KeySet(hash_strings(spec.folds, [_FOLD] * len(spec.folds)))
        # Two edits (see combos.two_edit_pieces): the first third (3 characters at least),
        # and the first two characters with the last third; tagged by the name's length.
        self._raw = list(spec.two_edit_names)
        sizes = [len(n) for n in self._raw]
        first_thirds = hash_strings(
            [n[: max(3, len(n) // 3)] for n in self._raw], [_T_HEAD * 1000 + z for z in sizes]
        )
        last_thirds = _pair_hash(
            hash_strings([n[:2] for n in self._raw], [_T_TAIL * 1000 + z for z in sizes]),
            hash_strings([n[len(n) - len(n) // 3 :] for n in self._raw]),
        )
        owners = np.arange(len(self._raw), dtype=np.int64)
        self._thirds = _Owned(
            np.concatenate([first_thirds, last_thirds]), np.concatenate([owners, owners])
        )
        self._two_edit_min = min(sizes, default=0)
        # Combosquats: the public name without its first or last one or two words.
        combos = list(spec.combo_names)
        self._combos = KeySet(hash_strings(combos, [_COMBO] * len(combos)))

    def survivors(self, names: Hasher, skeleton: Hasher, folded: Hasher) -> NDArray[np.bool_]:
        """Names the rules of :meth:`ComboRules.match_fuzzy` may match."""
        count = len(names.starts)
        hit = np.zeros(count, dtype=bool)
        rows = np.arange(count, dtype=np.int64)
        folds = folded.text.split(b"\n")
        found = _one_edit(folded, self._combined, folded.starts, folded.ends, rows)
        hit[_verify(found, folds, self._fuzzy, 1)] = True
        # A version digit at the end (`requests-2`): the fold without it, exactly or one
        # edit away (the fold has no separators: the digit is its last character).
        digit = np.flatnonzero(
            (names.ends > names.starts) & np.isin(names.data[names.ends - 1], _DIGITS)
        )
        if len(digit):
            starts, ends = folded.starts[digit], folded.ends[digit] - 1
            hit[digit] |= self._folds.contains(folded.hash(starts, ends, _FOLD))
            found = _one_edit(folded, self._combined, starts, ends, digit)
            hit[_verify(found, folds, self._fuzzy, 1, trim=1)] = True
        if self._two_edit_min:
            hit[_verify(self._two_edits(names), names.text.split(b"\n"), self._raw, 2)] = True
        if len(self._combos):
            hit |= self._combosquats(names)
        return hit

    def _two_edits(self, names: Hasher) -> tuple[I64, I64]:
        """(row, candidate) pairs sharing a two-edit key."""
        starts, ends = names.starts, names.ends
        size = ends - starts
        rows = np.arange(len(starts), dtype=np.int64)
        first = names.prefix(np.minimum(starts + 2, ends))
        pairs: list[tuple[I64, I64]] = []
        for delta in (-2, -1, 0, 1, 2):
            length = size + delta
            third = length // 3
            usable = (length >= self._two_edit_min) & (third <= size)
            head_end = np.minimum(starts + np.maximum(3, third), ends)
            tags = (_T_HEAD * 1000 + length).astype(np.uint64)
            probes = _retag(names.prefix(head_end), tags)
            pairs.append(self._thirds.find(probes, rows, usable))
            tags = (_T_TAIL * 1000 + length).astype(np.uint64)
            tail = names.hash(np.clip(ends - third, starts, ends), ends)
            pairs.append(self._thirds.find(_pair_hash(_retag(first, tags), tail), rows, usable))
        return _joined(pairs)

    def _combosquats(self, names: Hasher) -> NDArray[np.bool_]:
        """Names whose first or last one or two words removed leave a combosquat target."""
        starts, ends = names.starts, names.ends
        hit = np.zeros(len(starts), dtype=bool)
        dashes = np.flatnonzero(names.data == _DASH)
        if not len(dashes):
            return hit
        count = len(dashes)
        after = np.searchsorted(dashes, starts)  # the first dash at or after the start
        before = np.searchsorted(dashes, ends) - 1  # the last dash before the end
        for skip in (0, 1):
            front = after + skip
            at = dashes[np.minimum(front, count - 1)]
            ok = (front < count) & (at < ends)
            cut = np.where(ok, at + 1, ends)
            hit |= ok & self._combos.contains(names.hash(cut, ends, _COMBO))
            back = before - skip
            at = dashes[np.maximum(back, 0)]
            ok = (back >= 0) & (at >= starts)
            cut = np.where(ok, at, starts)
            hit |= ok & self._combos.contains(names.hash(starts, cut, _COMBO))
        return hit


class _Owned:
    """Key hashes with the catalog string each came from (keys may repeat)."""

    def __init__(self, hashes: U64, owners: I64) -> None:
        order = np.argsort(hashes, kind="stable")
        self.hashes = hashes[order]
        self.owners = owners[order]
        self.keys = KeySet(hashes)

    def __len__(self) -> int:
        return len(self.hashes)

    def find(self, probes: U64, rows: I64, usable: NDArray[np.bool_]) -> tuple[I64, I64]:
        """(row, owner) for every usable probe equal to a key, once per owner."""
        hit = np.flatnonzero(usable & self.keys.contains(probes))
        if not len(hit):
            return _EMPTY, _EMPTY
        wanted = probes[hit]
        left = np.searchsorted(self.hashes, wanted, side="left")
        count = np.searchsorted(self.hashes, wanted, side="right") - left
        total = int(count.sum())
        run_start = np.repeat(np.cumsum(count) - count, count)
        offsets = np.arange(total, dtype=np.int64) - run_start + np.repeat(left, count)
        return np.repeat(rows[hit], count), self.owners[offsets]


_EMPTY: I64 = np.zeros(0, dtype=np.int64)


def _joined(pairs: Sequence[tuple[I64, I64]]) -> tuple[I64, I64]:
    if not pairs:
        return _EMPTY, _EMPTY
    return np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])


def _verify(
    pairs: tuple[I64, I64],
    lines: Sequence[bytes],
    strings: Sequence[bytes],
    cutoff: int,
    trim: int = 0,
) -> I64:
    """The rows within ``cutoff`` edits of one of their candidates (each pair once);
    ``trim``: characters left out at the end of each line."""
    rows, owners = pairs
    if not len(rows):
        return _EMPTY
    width = max(1, len(strings))
    unique = np.unique(rows * width + owners)
    rows, owners = unique // width, unique % width
    end = -trim if trim else None
    queries = [lines[i][:end] for i in rows.tolist()]
    choices = [strings[j] for j in owners.tolist()]
    distance = process.cpdist(
        queries, choices, scorer=OSA.distance, score_cutoff=cutoff, dtype=np.int32
    )
    return np.unique(rows[distance <= cutoff])


class _Pieces:
    """Pigeonhole halves of strings for a one-edit search, with the string of each."""

    def __init__(self, heads: _Owned, tails: _Owned) -> None:
        self.heads = heads
        self.tails = tails


def _pieces(strings: Sequence[bytes]) -> _Pieces:
    heads, head_tags, head_owners, tails, tail_tags = [], [], [], [], []
    for owner, text in enumerate(strings):
        size, half = len(text), len(text) // 2
        heads += [text[:half], text[: half - 1]]
        head_tags += [_SK_HEAD * 1000 + size, _SK_HEAD * 1000 + size + 500]
        head_owners += [owner, owner]
        tails.append(text[half:])
        tail_tags.append(_SK_TAIL * 1000 + size)
    return _Pieces(
        _Owned(hash_strings(heads, head_tags), np.array(head_owners, dtype=np.int64)),
        _Owned(hash_strings(tails, tail_tags), np.arange(len(tails), dtype=np.int64)),
    )


def _one_edit(lines: Hasher, pieces: _Pieces, starts: I64, ends: I64, rows: I64) -> tuple[I64, I64]:
    """(row, candidate) pairs: ``lines[starts:ends]`` sharing a pigeonhole half with a
    string of ``pieces`` (of ``MIN_FUZZY_LENGTH`` characters or more)."""
    size = ends - starts
    pairs: list[tuple[I64, I64]] = []
    if not len(pieces.heads):
        return _EMPTY, _EMPTY
    for delta in (-1, 0, 1):
        length = size + delta
        half = length // 2
        usable = (length >= rules.MIN_FUZZY_LENGTH) & (half <= size)
        tags = (_SK_HEAD * 1000 + length).astype(np.uint64)
        head_end = np.clip(starts + half, starts, ends)
        probes = _retag(lines.hash(starts, head_end), tags)
        pairs.append(pieces.heads.find(probes, rows, usable))
        tags = (_SK_TAIL * 1000 + length).astype(np.uint64)
        tail_start = np.clip(ends - (length - half), starts, ends)
        pairs.append(pieces.tails.find(_retag(lines.hash(tail_start, ends), tags), rows, usable))
        if delta == 0:
            tags = (_SK_HEAD * 1000 + length + 500).astype(np.uint64)
            head_end = np.clip(starts + half - 1, starts, ends)
            probes = _retag(lines.hash(starts, head_end), tags)
            pairs.append(pieces.heads.find(probes, rows, usable))
    return _joined(pairs)
