"""The whole-index pre-filter, vectorized: every key of every name hashed in one C loop.

Matching a million names one by one in Python costs several microseconds a name; reading and
canonicalizing them costs a fraction of one. This module keeps the scan within a small
multiple of reading: it never touches a name as a Python object unless that name can match.

Names arrive as one buffer of canonical names separated by newlines. Every key the rules
need is either a substring of a name (the first and last word, the pieces of the edit
rules) or a substring of a whole-buffer transform (the skeleton: single-character
look-alikes folded, separators dropped, ``rn``/``vv``/``c1`` folded; one ``bytes.translate``
and one vectorized pass over the buffer). Each key of every name costs one pass of a C loop
that hashes it and tests a bitmap of the catalog's keys (:mod:`watcher.matching.bulk_hash`);
NumPy computes where the keys start and end, and confirms the few that pass. The edit
rules (typos among them) are in :mod:`.bulk_combos`: their keys name candidates, and each
(name, candidate) pair is measured in C before any name reaches Python.

The filter only decides which names reach the exact rules; a hash collision can let a
name through, never hold a matching one back. Completeness is the contract: a name that
:meth:`CatalogMatcher.match` would report always survives (tests check it against the
per-name rules).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from watcher.matching.bulk_combos import ComboFilter
from watcher.matching.bulk_hash import (
    I64,
    Hasher,
    KeySet,
    Mask,
    hash_strings,
    pair_hash,
)
from watcher.matching.bulk_keys import (
    SpecSource,
    Words,
    fold_buffer,
    fold_sequences,
    skeleton_buffer,
)

_CHUNK_BYTES = 1 << 20  # a chunk's arrays (tens of thousands of names) stay in the L2 cache

# Tags keep the key families apart inside shared tables.
_FIRST, _LAST, _PAIR, _SKELETON, _GLUED = range(3, 8)  # bulk_combos: 10 on


class BulkFilter:
    """Catalog-side key tables and the vectorized survivor test."""

    def __init__(self, matcher: SpecSource) -> None:
        spec = matcher.filter_spec()
        self._skeletons = KeySet(hash_strings(spec.skeletons, [_SKELETON] * len(spec.skeletons)))
        self._firsts = KeySet(hash_strings(spec.firsts, [_FIRST] * len(spec.firsts)))
        self._lasts = KeySet(hash_strings(spec.lasts, [_LAST] * len(spec.lasts)))
        self._pairs = KeySet(
            pair_hash(
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
        # Typos: found with the folds' one-edit search (see ComboFilter).
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
        names = Hasher(buffer)
        starts, ends = names.starts, names.ends
        hit = np.zeros(len(starts), dtype=bool)

        folded_text = fold_buffer(buffer)
        skeleton_text = fold_sequences(folded_text)
        skeleton = Hasher(skeleton_text)
        # Most chunks hold some `rn`, `vv` or `cl`: two hashers; same text, one.
        folded = skeleton if skeleton_text == folded_text else Hasher(folded_text)
        hit |= self._skeletons.contains_ranges(skeleton, skeleton.starts, skeleton.ends, _SKELETON)
        if self._root_skeletons:
            long_enough = (skeleton.ends - skeleton.starts) >= self._root_length
            head_end = np.minimum(skeleton.starts + self._root_length, skeleton.ends)
            under = long_enough & self._root_heads.contains_ranges(
                skeleton, skeleton.starts, head_end, _GLUED
            )
            for index in np.flatnonzero(under & ~hit).tolist():
                line = skeleton_text[skeleton.starts[index] : skeleton.ends[index]]
                hit[index] = any(line.startswith(k) for k in self._root_skeletons)

        words = Words(names)
        dashed = words.first >= 0
        first_end = np.where(dashed, words.first, ends)
        last_start = np.where(dashed, words.last + 1, starts)
        hit |= self._firsts.contains_ranges(names, starts, first_end, _FIRST)
        hit |= self._lasts.contains_ranges(names, last_start, ends, _LAST)
        # A reordered name has two words or more: only those are hashed for its pairs.
        two = np.flatnonzero(first_end < ends)
        pairs = pair_hash(
            names.hash(starts[two], first_end[two], _PAIR),
            names.hash(last_start[two], ends[two], _PAIR),
        )
        hit[two] |= self._pairs.contains(pairs)

        # Names only the edit rules can match take the short paths (see CatalogMatcher).
        edits, typo = self._combos.survivors(names, folded, words)
        edits &= ~hit
        typo &= ~hit & ~edits
        return (
            _lines(buffer, starts, ends, hit),
            _lines(buffer, starts, ends, typo),
            _lines(buffer, starts, ends, edits),
        )


def _lines(buffer: bytes, starts: I64, ends: I64, mask: Mask) -> list[bytes]:
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
