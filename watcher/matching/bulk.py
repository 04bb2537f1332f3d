"""The whole-index pre-filter, vectorized: every key of every name hashed at once with NumPy.

Matching a million names one by one in Python costs several microseconds a name; reading and
canonicalizing them costs a fraction of one. This module keeps the scan within a small
multiple of reading: it never touches a name as a Python object unless that name can match.

Names arrive as one buffer of canonical names separated by newlines. Every key the rules
need is either a substring of a name (pigeonhole pieces for typos, the first and last
word) or a substring of a whole-buffer transform (the skeleton: single-character
look-alikes folded, separators dropped, ``rn``/``vv``/``c1`` folded; one ``bytes.translate``
and three ``bytes.replace`` calls over the buffer). A polynomial hash of any substring is
``(S[j] - S[i]) * B**-i`` from one prefix sum ``S`` (arithmetic modulo 2**64, where an odd
base is invertible), so each key of every name costs a few vectorized operations and one
binary search in a small sorted table of the catalog's keys.

The filter only decides which names reach the exact rules; a hash collision can let a
name through, never hold a matching one back. Completeness is the contract: a name that
:meth:`CatalogMatcher.match` would report always survives (tests check it against the
per-name rules).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from watcher.matching import rules

if TYPE_CHECKING:
    from watcher.matching.engine import CatalogMatcher

U64 = NDArray[np.uint64]
I64 = NDArray[np.int64]

_BASE = 0x100000001B3  # odd, so invertible modulo 2**64
_BASE_INV = pow(_BASE, -1, 2**64)
_LENGTH_MIX = np.uint64(0x9E3779B97F4A7C15)
_TAG_MIX = np.uint64(0xC2B2AE3D27D4EB4F)
_CHUNK_BYTES = 1 << 20
_NEWLINE = ord("\n")
_DASH = ord("-")

_SKELETON_BYTES = bytes.maketrans(
    bytes(k for k, v in rules.SKELETON_TABLE.items() if v is not None),
    "".join(str(v) for v in rules.SKELETON_TABLE.values() if v is not None).encode(),
)
_SEQS = tuple((a.encode(), b.encode()) for a, b in rules.SKELETON_SEQS)


def skeleton_buffer(buffer: bytes) -> bytes:
    """The skeleton of every line of ``buffer`` (lines stay lines)."""
    return _fold_sequences(fold_buffer(buffer))


def fold_buffer(buffer: bytes) -> bytes:
    """The skeleton without multi-character folds (``combos.fold``) of every line."""
    return buffer.translate(_SKELETON_BYTES, b"-")


def _fold_sequences(out: bytes) -> bytes:
    for seq, repl in _SEQS:
        out = out.replace(seq, repl)
    return out


class _Powers:
    """B**k and B**-k modulo 2**64, grown on demand."""

    def __init__(self) -> None:
        self.up: U64 = np.ones(1, dtype=np.uint64)
        self.down: U64 = np.ones(1, dtype=np.uint64)

    def ensure(self, size: int) -> None:
        if len(self.up) > size:
            return
        count = max(size + 1, 2 * len(self.up))
        with np.errstate(over="ignore"):
            up = np.full(count, _BASE, dtype=np.uint64)
            up[0] = 1
            self.up = np.cumprod(up, dtype=np.uint64)
            down = np.full(count, _BASE_INV, dtype=np.uint64)
            down[0] = 1
            self.down = np.cumprod(down, dtype=np.uint64)


_POWERS = _Powers()


class _Hasher:
    """Substring hashes of one buffer."""

    def __init__(self, buffer: bytes) -> None:
        data = np.frombuffer(buffer, dtype=np.uint8)
        _POWERS.ensure(len(data))
        self.sums = np.zeros(len(data) + 1, dtype=np.uint64)
        with np.errstate(over="ignore"):
            np.cumsum(data.astype(np.uint64) * _POWERS.up[: len(data)], out=self.sums[1:])
        newlines = np.flatnonzero(data == _NEWLINE)
        self.starts: I64 = np.concatenate(([0], newlines + 1)).astype(np.int64)
        self.ends: I64 = np.concatenate((newlines, [len(data)])).astype(np.int64)
        self.data = data
        self.text = buffer
        # Every line's own offset, used by all keys that start where the line starts.
        self._base = self.sums[self.starts]
        self._scale = _POWERS.down[self.starts]

    def prefix(self, end: I64) -> U64:
        """Untagged hash of each line's ``[start:end]``: one gather instead of three."""
        with np.errstate(over="ignore"):
            value = (self.sums[end] - self._base) * self._scale
            value += (end - self.starts).astype(np.uint64) * _LENGTH_MIX
        return value

    def hash(self, start: I64, end: I64, tag: int = 0) -> U64:
        """Hash of ``buffer[start:end]`` per element, mixed with its length and ``tag``."""
        with np.errstate(over="ignore"):
            value = (self.sums[end] - self.sums[start]) * _POWERS.down[start]
            value += (end - start).astype(np.uint64) * _LENGTH_MIX
            if tag:
                value += np.uint64(tag) * _TAG_MIX
        return value


def hash_strings(values: Iterable[bytes], tags: Iterable[int] | None = None) -> U64:
    """Hashes of whole strings, identical to :meth:`_Hasher.hash` of the same bytes."""
    items = list(values)
    if not items:
        return np.zeros(0, dtype=np.uint64)
    hasher = _Hasher(b"\n".join(items))
    out = hasher.hash(hasher.starts, hasher.ends)
    if tags is not None:
        # All tags at once (a tag only adds tag * _TAG_MIX): one pass, however many tags.
        with np.errstate(over="ignore"):
            out += np.fromiter(tags, dtype=np.uint64, count=len(items)) * _TAG_MIX
    return out


class KeySet:
    """Hashes of the catalog's keys of one family: a bitmap on the top bits answers most
    queries with one gather; the few hits are confirmed by binary search."""

    _BITS = 22

    def __init__(self, values: U64) -> None:
        self.keys: U64 = np.unique(values)
        self.bitmap = np.zeros(1 << self._BITS, dtype=bool)
        self.bitmap[self.keys >> np.uint64(64 - self._BITS)] = True

    def __len__(self) -> int:
        return len(self.keys)

    def contains(self, values: U64) -> NDArray[np.bool_]:
        out = np.zeros(len(values), dtype=bool)
        if not len(self.keys):
            return out
        maybe = np.flatnonzero(self.bitmap[values >> np.uint64(64 - self._BITS)])
        if len(maybe):
            wanted = values[maybe]
            index = np.searchsorted(self.keys, wanted)
            np.minimum(index, len(self.keys) - 1, out=index)
            out[maybe] = self.keys[index] == wanted
        return out


@dataclass(frozen=True)
class FilterSpec:
    """What the catalog contributes to the filter (see ``CatalogMatcher.filter_spec``)."""

    skeletons: Sequence[bytes]  # skeletons a matching name's skeleton can equal
    firsts: Sequence[bytes]  # first words: root spellings and variants, affix words
    lasts: Sequence[bytes]  # last words: affix words
    pairs: Sequence[tuple[bytes, bytes]]  # (first, last) words of a reordered name
    roots: Sequence[bytes]  # namespace roots: a name whose skeleton starts like one
    typo_names: Sequence[bytes]  # internal names long enough for typos
    fuzzy_skeletons: Sequence[bytes] = ()  # folded forms: one edit away (combined)
    folds: Sequence[bytes] = ()  # folded names and aliases: a version digit stripped
    two_edit_names: Sequence[bytes] = ()  # names and aliases long enough for two edits
    combo_names: Sequence[bytes] = ()  # names a combosquat starts or ends with


# Tags keep the key families apart inside shared tables.
_HEAD, _TAIL, _FIRST, _LAST, _PAIR, _SKELETON, _GLUED = range(1, 8)  # bulk_combos: 8 on


class BulkFilter:
    """Catalog-side key tables and the vectorized survivor test."""

    def __init__(self, matcher: CatalogMatcher) -> None:
        # Here, not at the top: bulk_combos builds on this module's hashing.
        from watcher.matching.bulk_combos import ComboFilter

        spec = matcher.filter_spec()
        self._skeletons = KeySet(hash_strings(spec.skeletons, [_SKELETON] * len(spec.skeletons)))
        self._firsts = KeySet(hash_strings(spec.firsts, [_FIRST] * len(spec.firsts)))
        self._lasts = KeySet(hash_strings(spec.lasts, [_LAST] * len(spec.lasts)))
        self._pairs = KeySet(
            _pair_hash(
                hash_strings([a for a, _ in spec.pairs], [_PAIR] * len(spec.pairs)),
                hash_strings([b for _, b in spec.pairs], [_PAIR] * len(spec.pairs)),
            )
        )
        # Namespace roots, on the skeleton buffer: a name under a root, glued to it, or
        # under a look-alike of it (however its words are split) has a skeleton that starts
        # with the root's. Except at the root's last character when that can begin a
        # multi-character fold with the next word (r+n, v+v, c+1): leave that one out. One
        # length (the shortest) selects candidates; the few are checked exactly.
        starts_with = {
            sk[:-1] if sk[-1:] in (b"r", b"v", b"c") else sk
            for sk in (skeleton_buffer(r) for r in spec.roots)
        }
        self._root_skeletons = tuple(sorted(starts_with))
        self._root_length = min((len(k) for k in self._root_skeletons), default=0)
        heads = [k[: self._root_length] for k in self._root_skeletons]
        self._root_heads = KeySet(hash_strings(heads, [_GLUED] * len(heads)))
        # Pigeonhole pieces, tagged by the internal name's length so one table serves all.
        heads, head_tags, tails, tail_tags = [], [], [], []
        for name in spec.typo_names:
            size, half = len(name), len(name) // 2
            heads += [name[:half], name[: half - 1]]
            head_tags += [_HEAD * 1000 + size, _HEAD * 1000 + size + 500]
            tails.append(name[half:])
            tail_tags.append(_TAIL * 1000 + size)
        self._heads = KeySet(hash_strings(heads, head_tags))
        self._tails = KeySet(hash_strings(tails, tail_tags))
        self._combos = ComboFilter(spec)

    def survivors(self, buffer: bytes) -> tuple[list[bytes], list[bytes], list[bytes]]:
        """Names of ``buffer`` (canonical, one per line) that may match any rule, those that
        may only be typos, and those that may only match the edit rules (typos and
        ``ComboRules.match_fuzzy``). Every other name matches nothing."""
        full: list[bytes] = []
        typo: list[bytes] = []
        edits: list[bytes] = []
        for chunk in _chunks(buffer):
            more_full, more_typo, more_edits = self._chunk(chunk)
            full += more_full
            typo += more_typo
            edits += more_edits
        return full, typo, edits

    def _chunk(self, buffer: bytes) -> tuple[list[bytes], list[bytes], list[bytes]]:
        names = _Hasher(buffer)
        starts, ends = names.starts, names.ends
        size = ends - starts
        hit = np.zeros(len(starts), dtype=bool)

        folded_text = fold_buffer(buffer)
        skeleton_text = _fold_sequences(folded_text)
        skeleton = _Hasher(skeleton_text)
        # Most chunks hold some `rn`, `vv` or `cl`: two hashers; same text, one.
        folded = skeleton if skeleton_text == folded_text else _Hasher(folded_text)
        hit |= self._skeletons.contains(skeleton.hash(skeleton.starts, skeleton.ends, _SKELETON))
        if self._root_skeletons:
            long_enough = (skeleton.ends - skeleton.starts) >= self._root_length
            head_end = np.minimum(skeleton.starts + self._root_length, skeleton.ends)
            under = long_enough & self._root_heads.contains(_tag(skeleton.prefix(head_end), _GLUED))
            for index in np.flatnonzero(under & ~hit).tolist():
                line = skeleton_text[skeleton.starts[index] : skeleton.ends[index]]
                hit[index] = any(line.startswith(k) for k in self._root_skeletons)

        dashes = np.flatnonzero(names.data == _DASH)
        first_end: I64 = ends
        last_start: I64 = starts
        if len(dashes):
            after = np.searchsorted(dashes, starts)  # first dash at or after the start
            at = dashes[np.minimum(after, len(dashes) - 1)]
            first_end = np.where((after < len(dashes)) & (at < ends), at, ends)
            before = np.searchsorted(dashes, ends) - 1  # last dash before the end
            at = dashes[np.maximum(before, 0)]
            last_start = np.where((before >= 0) & (at >= starts), at + 1, starts)
        first = names.prefix(first_end)
        last = names.hash(last_start, ends)
        hit |= self._firsts.contains(_tag(first, _FIRST))
        hit |= self._lasts.contains(_tag(last, _LAST))
        hit |= self._pairs.contains(_pair_hash(_tag(first, _PAIR), _tag(last, _PAIR)))

        typo = np.zeros(len(starts), dtype=bool)
        for delta in (-1, 0, 1):
            length = size + delta
            half = length // 2
            usable = (length >= rules.MIN_FUZZY_LENGTH) & (half <= size)
            tags = (_HEAD * 1000 + length).astype(np.uint64)
            typo |= usable & self._heads.contains(_retag(names.prefix(starts + half), tags))
            tags = (_TAIL * 1000 + length).astype(np.uint64)
            typo |= usable & self._tails.contains(
                _retag(names.hash(ends - (length - half), ends), tags)
            )
            if delta == 0:
                tags = (_HEAD * 1000 + length + 500).astype(np.uint64)
                typo |= usable & self._heads.contains(_retag(names.prefix(starts + half - 1), tags))
        # Names only the edit rules can match take the short paths (see CatalogMatcher).
        edits = self._combos.survivors(names, skeleton, folded) & ~hit
        typo &= ~hit & ~edits
        return (
            _lines(buffer, starts, ends, hit),
            _lines(buffer, starts, ends, typo),
            _lines(buffer, starts, ends, edits),
        )


def _tag(untagged: U64, tag: int) -> U64:
    with np.errstate(over="ignore"):
        return untagged + np.uint64(tag) * _TAG_MIX


def _retag(untagged: U64, tags: U64) -> U64:
    with np.errstate(over="ignore"):
        return untagged + tags * _TAG_MIX


def _pair_hash(first: U64, last: U64) -> U64:
    with np.errstate(over="ignore"):
        return first * np.uint64(0xFF51AFD7ED558CCD) + last


def _lines(buffer: bytes, starts: I64, ends: I64, mask: NDArray[np.bool_]) -> list[bytes]:
    return [buffer[s:e] for s, e in zip(starts[mask].tolist(), ends[mask].tolist(), strict=True)]


def _chunks(buffer: bytes) -> Sequence[bytes]:
    out = []
    start = 0
    while start < len(buffer):
        end = buffer.find(b"\n", min(start + _CHUNK_BYTES, len(buffer)))
        end = len(buffer) if end == -1 else end
        piece = buffer[start:end].strip(b"\n")
        if piece:
            out.append(piece)
        start = end + 1
    return out
