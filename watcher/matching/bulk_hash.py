"""Substring hashing and key tables for the bulk filter (:mod:`.bulk`).

The hash of any substring of a buffer (mixed with its length and a tag, the key family)
comes from the C module ``_probe``: eight bytes at a time, each word multiplied by its own
constant, no per-buffer tables. The catalog hashes its keys with :func:`hash_strings`, the
scan hashes every name's keys with :class:`Hasher` or probes a :class:`KeySet` directly
(hash and bitmap test in one C loop): both give the same value for the same bytes and tag.
Equal hashes of different strings only let a name through to the exact checks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray
from rapidfuzz import process
from rapidfuzz.distance import OSA

from watcher.matching import _probe

T = TypeVar("T", bound=np.generic)
U64 = NDArray[np.uint64]
I64 = NDArray[np.int64]
Mask = NDArray[np.bool_]
# Candidate strings of a pair search: a list, or an object array (gathered in C).
Strings = Sequence[bytes] | NDArray[np.object_]

# Must equal TAG_MIX in _probe.c: a tag added here (``tag``, ``hash_strings``) is the one
# the C hash adds.
TAG_MIX = np.uint64(0xC2B2AE3D27D4EB4F)


class Hasher:
    """Substring hashes of one buffer of lines (hashed in C, :mod:`._probe`)."""

    def __init__(self, buffer: bytes) -> None:
        # Room for the most lines the buffer can hold (all empty); the pages past the last
        # line are never touched, so never really allocated.
        ends = np.empty(len(buffer) + 1, dtype=np.int64)
        ends = ends[: _probe.line_ends(buffer, ends)]
        self.starts: I64 = np.empty_like(ends)
        self.starts[0] = 0
        np.add(ends[:-1], 1, out=self.starts[1:])
        self.ends: I64 = ends
        self.data = np.frombuffer(buffer, dtype=np.uint8)
        self.text = buffer

    def rows_text(self, rows: I64, trim: int = 0) -> list[bytes]:
        """The lines ``rows`` as bytes, without their last ``trim`` characters."""
        ends = self.ends[rows] - trim if trim else self.ends[rows]
        text = self.text
        return [text[s:e] for s, e in zip(self.starts[rows].tolist(), ends.tolist(), strict=True)]

    def prefix(self, end: I64, tag: int = 0) -> U64:
        """Hash of each line's ``[start:end]``."""
        return self.hash(self.starts, end, tag)

    def head(self, rows: I64, end: I64, tag: int = 0) -> U64:
        """:meth:`prefix` of the lines ``rows`` only (``end`` one per row)."""
        starts = self.starts if len(rows) == len(self.starts) else self.starts[rows]
        return self.hash(starts, end, tag)

    def hash(self, start: I64, end: I64, tag: int = 0) -> U64:
        """Hash of ``buffer[start:end]`` per element, mixed with its length and ``tag``."""
        out = np.empty(len(start), dtype=np.uint64)
        _probe.hash_ranges(self.text, _int64(start), _int64(end), tag, out)
        return out


def _int64(values: I64) -> I64:
    return np.ascontiguousarray(values, dtype=np.int64)


def distinct(values: NDArray[T]) -> NDArray[T]:
    """The sorted distinct values (``np.unique`` without its import of ``numpy.ma``, which
    costs a command's start a twentieth of a second)."""
    ordered = np.sort(values)
    if len(ordered) < 2:
        return ordered
    keep = np.empty(len(ordered), dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def hash_strings(values: Iterable[bytes], tags: Iterable[int] | None = None) -> U64:
    """Hashes of whole strings, identical to :meth:`Hasher.hash` of the same bytes."""
    items = list(values)
    if not items:
        return np.zeros(0, dtype=np.uint64)
    hasher = Hasher(b"\n".join(items))
    out = hasher.hash(hasher.starts, hasher.ends)
    if tags is not None:
        # All tags at once (a tag only adds tag * TAG_MIX): one pass, however many tags.
        with np.errstate(over="ignore"):
            out += np.fromiter(tags, dtype=np.uint64, count=len(items)) * TAG_MIX
    return out


def tag(untagged: U64, value: int) -> U64:
    """``untagged`` with the tag ``value`` (a family), as :func:`hash_strings` adds it."""
    with np.errstate(over="ignore"):
        return untagged + np.uint64(value) * TAG_MIX


def pair_hash(first: U64, last: U64) -> U64:
    """One key from two hashes (order matters)."""
    with np.errstate(over="ignore"):
        return first * np.uint64(0xFF51AFD7ED558CCD) + last


class KeySet:
    """Hashes of the catalog's keys of one family: a bitmap on the top bits answers most
    queries with one gather; the few hits are confirmed by binary search.

    The bitmap has about 64 entries a key (one query in 64 or fewer passes it for nothing),
    no more: a small one stays in the cache, and a cache miss costs more than the gather."""

    def __init__(self, values: U64) -> None:
        self.keys: U64 = distinct(values)
        bits = min(22, max(16, len(self.keys).bit_length() + 6))
        self._shift = np.uint64(64 - bits)
        self.bitmap = np.zeros(1 << bits, dtype=bool)
        self.bitmap[(self.keys >> self._shift).view(np.int64)] = True
        # The same bits, eight to a byte, for the probes in C: an eighth of the cache.
        self.packed = np.packbits(self.bitmap, bitorder="little")

    def __len__(self) -> int:
        return len(self.keys)

    def maybe(self, values: U64) -> I64:
        """Indexes of the values the bitmap does not rule out."""
        # As int64 (the same bits, all small): indexing with uint64 would copy them first.
        return np.flatnonzero(self.bitmap[(values >> self._shift).view(np.int64)])

    def maybe_ranges(self, lines: Hasher, start: I64, end: I64, tag: int) -> tuple[I64, U64]:
        """Indexes of the ranges ``lines[start:end]`` (tagged ``tag``) whose hash the bitmap
        does not rule out, and those hashes: hashed and tested in C, with no array of every
        range's hash (the few that pass are hashed again)."""
        if not len(self.keys) or not len(start):
            return EMPTY, np.zeros(0, dtype=np.uint64)
        start, end = _int64(start), _int64(end)
        out = np.empty(len(start), dtype=np.int64)
        count = _probe.probe(lines.text, start, end, tag, self.packed, int(self._shift), out)
        index = out[:count]
        return index, lines.hash(start[index], end[index], tag)

    def contains(self, values: U64) -> Mask:
        """Which of ``values`` are keys."""
        out = np.zeros(len(values), dtype=bool)
        if not len(self.keys):
            return out
        maybe = self.maybe(values)
        if len(maybe):
            out[maybe] = self._confirm(values[maybe])
        return out

    def contains_ranges(self, lines: Hasher, start: I64, end: I64, tag: int) -> Mask:
        """Which of the ranges ``lines[start:end]``, tagged ``tag``, are keys."""
        out = np.zeros(len(start), dtype=bool)
        maybe, values = self.maybe_ranges(lines, start, end, tag)
        if len(maybe):
            out[maybe] = self._confirm(values)
        return out

    def index(self, wanted: U64) -> tuple[I64, Mask]:
        """The position of each of ``wanted`` among the keys, and whether it is there."""
        index = np.searchsorted(self.keys, wanted)
        np.minimum(index, len(self.keys) - 1, out=index)
        return index, self.keys[index] == wanted

    def _confirm(self, wanted: U64) -> Mask:
        return self.index(wanted)[1]


EMPTY: I64 = np.zeros(0, dtype=np.int64)


class Owned:
    """Key hashes with the catalog strings each came from (a key may have several)."""

    def __init__(self, hashes: U64, owners: I64) -> None:
        order = np.argsort(hashes, kind="stable")
        ordered = hashes[order]
        self.owners = owners[order]
        self.keys = KeySet(hashes)
        # Each distinct key's run in `owners`: one binary search a probe, not two.
        self._first = np.searchsorted(ordered, self.keys.keys, side="left")
        self._count = np.searchsorted(ordered, self.keys.keys, side="right") - self._first

    def __len__(self) -> int:
        return len(self.owners)

    def find(self, probes: U64, rows: I64) -> tuple[I64, I64]:
        """(row, owner) for every probe equal to a key, once per owner."""
        hit = self.keys.maybe(probes)
        return self._owners(rows[hit], probes[hit])

    def find_ranges(
        self, lines: Hasher, start: I64, end: I64, tag: int, rows: I64
    ) -> tuple[I64, I64]:
        """:meth:`find` of the hashes of ``lines[start:end]`` tagged ``tag`` (in C)."""
        hit, wanted = self.keys.maybe_ranges(lines, start, end, tag)
        return self._owners(rows[hit], wanted)

    def _owners(self, rows: I64, wanted: U64) -> tuple[I64, I64]:
        if not len(rows):
            return EMPTY, EMPTY
        index, found = self.keys.index(wanted)
        count = np.where(found, self._count[index], 0)
        total = int(count.sum())
        if not total:
            return EMPTY, EMPTY
        run_start = np.repeat(np.cumsum(count) - count, count)
        offsets = np.arange(total, dtype=np.int64) - run_start
        offsets += np.repeat(self._first[index], count)
        return np.repeat(rows, count), self.owners[offsets]


def string_array(items: Sequence[bytes]) -> NDArray[np.object_]:
    """``items`` as an object array: a pair search gathers its candidates in C."""
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def joined(pairs: Sequence[tuple[I64, I64]]) -> tuple[I64, I64]:
    """Lists of (rows, owners) pairs as one."""
    if not pairs:
        return EMPTY, EMPTY
    return np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])


def verify(
    pairs: tuple[I64, I64],
    lines: Hasher,
    strings: Strings,
    cutoff: int,
    trim: int = 0,
) -> I64:
    """The rows within ``cutoff`` edits of one of their candidates (each pair once);
    ``trim``: characters left out at the end of each line."""
    return distinct(close_pairs(pairs, lines, strings, cutoff, trim)[0])


def close_pairs(
    pairs: tuple[I64, I64],
    lines: Hasher,
    strings: Strings,
    cutoff: int,
    trim: int = 0,
) -> tuple[I64, I64]:
    """The distinct (row, candidate) pairs within ``cutoff`` edits, measured in C."""
    rows, owners = pairs
    if not len(rows):
        return EMPTY, EMPTY
    width = max(1, len(strings))
    unique = distinct(rows * width + owners)
    rows, owners = unique // width, unique % width
    # A row has two candidates on average: slice each row's text once (Python work a
    # row), and repeat it for its pairs with a gather of an object array (C work a pair).
    first = np.empty(len(rows), dtype=bool)
    first[0] = True
    np.not_equal(rows[1:], rows[:-1], out=first[1:])  # rows are sorted: runs of one row
    texts = np.empty(int(first.sum()), dtype=object)
    texts[:] = lines.rows_text(rows[first], trim)
    queries = texts[np.cumsum(first) - 1].tolist()
    if isinstance(strings, np.ndarray):
        choices = strings[owners].tolist()
    else:
        choices = [strings[j] for j in owners.tolist()]
    distance = process.cpdist(
        queries, choices, scorer=OSA.distance, score_cutoff=cutoff, dtype=np.int32
    )
    close = distance <= cutoff
    return rows[close], owners[close]


class Pieces:
    """Pigeonhole halves of strings for a one-edit search, with the string of each.

    A string of length L is keyed by its first ``L // 2`` characters, its first
    ``L // 2 - 1`` (for a swap across the middle) and its last ``L - L // 2``. The keys are
    not tagged by L: a line of length P probes three head lengths and two tail lengths
    (those of L = P - 1, P, P + 1), and candidates more than one character longer or
    shorter are dropped. One edit leaves one of the pieces intact, so the pairs found hold
    every pair one edit apart (and more, which the caller's distance check drops)."""

    def __init__(self, strings: Sequence[bytes], min_length: int) -> None:
        kept = [i for i, text in enumerate(strings) if len(text) >= min_length]
        heads = [strings[i][: len(strings[i]) // 2] for i in kept]
        heads += [strings[i][: len(strings[i]) // 2 - 1] for i in kept]
        tails = [strings[i][len(strings[i]) // 2 :] for i in kept]
        owners = np.array(kept, dtype=np.int64)
        self.heads = Owned(hash_strings(heads, [_HEAD] * len(heads)), np.tile(owners, 2))
        self.tails = Owned(hash_strings(tails, [_TAIL] * len(tails)), owners)
        self.sizes = np.array([len(s) for s in strings], dtype=np.int64)
        sizes = [len(strings[i]) for i in kept]
        self._window = (min(sizes, default=0) - 1, max(sizes, default=0) + 1)

    def __len__(self) -> int:
        return len(self.tails)

    def find(self, lines: Hasher, starts: I64, ends: I64, rows: I64) -> tuple[I64, I64]:
        """(row, candidate) pairs: ``lines[starts:ends]`` sharing a pigeonhole piece with a
        string of a length one character from its own or closer. ``starts`` are the
        lines' own (``lines.starts[rows]``): the heads use the lines' cached offsets."""
        size = ends - starts
        near = np.flatnonzero((size >= self._window[0]) & (size <= self._window[1]))
        if not len(self.tails) or not len(near):
            return EMPTY, EMPTY
        if len(near) < len(size):  # most often every line is near: no copies then
            starts, ends, rows, size = starts[near], ends[near], rows[near], size[near]
        all_rows, all_sizes = rows, size
        half = size // 2
        pairs: list[tuple[I64, I64]] = []
        for step in (0, 1):
            tail_start = np.maximum(ends - (half + step), starts)
            pairs.append(self.tails.find_ranges(lines, tail_start, ends, _TAIL, rows))
        for step in (-1, 0, 1):
            if step == 1:
                # The head one longer than half only serves odd lengths (a string one
                # longer); for even ones it finds strings two or more longer.
                odd = np.flatnonzero(size % 2 == 1)
                starts, ends, rows, half = starts[odd], ends[odd], rows[odd], half[odd]
            head_end = np.minimum(starts + np.maximum(half + step, 0), ends)
            head_start = lines.starts if len(rows) == len(lines.starts) else lines.starts[rows]
            pairs.append(self.heads.find_ranges(lines, head_start, head_end, _HEAD, rows))
        found, owners = joined(pairs)
        found_sizes = all_sizes[np.searchsorted(all_rows, found)]
        keep = np.abs(self.sizes[owners] - found_sizes) <= 1
        return found[keep], owners[keep]


_HEAD, _TAIL = 1, 2  # the pieces' tags (their tables are their own)
