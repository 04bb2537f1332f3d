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
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from watcher.matching import _probe, rules
from watcher.matching.bulk_hash import (
    I64,
    Hasher,
    KeySet,
    Mask,
    hash_strings,
    pair_hash,
)

if TYPE_CHECKING:
    from watcher.matching.engine import CatalogMatcher

_CHUNK_BYTES = 1 << 20  # a chunk's arrays (tens of thousands of names) stay in the L2 cache

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
    """``bytes.replace`` of each sequence in turn, in one vectorized pass when that gives
    the same bytes (three ``replace`` calls over a million names cost 60 ms)."""
    if not _SEQS_INDEPENDENT or len(out) < 2:
        for seq, repl in _SEQS:
            out = out.replace(seq, repl)
        return out
    data = np.frombuffer(out, dtype=np.uint8)
    keep = np.ones(len(data), dtype=bool)
    folded = data.copy()
    for (a, b), repl in _SEQS:
        starts = np.flatnonzero((data[:-1] == a) & (data[1:] == b))
        if a == b and len(starts):
            # In a run of `a`, replace works left to right: every other pair, from the
            # run's first character.
            run = np.concatenate(([True], np.diff(starts) != 1))
            first = np.maximum.accumulate(np.where(run, starts, 0))
            starts = starts[(starts - first) % 2 == 0]
        folded[starts] = repl[0]
        keep[starts + 1] = False
    return folded[keep].tobytes()


def _independent(seqs: Sequence[tuple[bytes, bytes]]) -> bool:
    """Whether the sequences can be replaced in one pass: two characters each, one
    character for each, and no sequence shares a character with another or with any
    replacement (so one replacement never makes or breaks a match of another)."""
    if any(len(seq) != 2 or len(repl) != 1 for seq, repl in seqs):
        return False
    chars = [set(seq) for seq, _ in seqs]
    made = {repl[0] for _, repl in seqs}
    return all(not (c & made) for c in chars) and sum(map(len, chars)) == len(set().union(*chars))


_SEQS_INDEPENDENT = _independent(_SEQS)


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


class Words:
    """Where the separators of a buffer's lines are: shared by the word-keyed families
    (first and last words here, combosquats in :mod:`.bulk_combos`), found once, in C.
    Each is a position per line, -1 where the line has fewer dashes."""

    def __init__(self, names: Hasher) -> None:
        count = len(names.starts)
        self.first, self.second, self.last, self.penultimate = (
            np.empty(count, dtype=np.int64) for _ in range(4)
        )
        _probe.dashes(
            names.text,
            names.starts,
            names.ends,
            self.first,
            self.second,
            self.last,
            self.penultimate,
        )


# Tags keep the key families apart inside shared tables.
_FIRST, _LAST, _PAIR, _SKELETON, _GLUED = range(3, 8)  # bulk_combos: 10 on


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
        skeleton_text = _fold_sequences(folded_text)
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
