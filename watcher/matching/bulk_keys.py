"""The bulk filter's inputs, shared by its key families (:mod:`.bulk`, :mod:`.bulk_combos`):
the catalog's keys (:class:`FilterSpec`), the whole-buffer look-alike folds, and where each
line's separators are (:class:`Words`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from watcher.matching import _probe, rules
from watcher.matching.bulk_hash import Hasher

_SKELETON_BYTES = bytes.maketrans(
    bytes(k for k, v in rules.SKELETON_TABLE.items() if v is not None),
    "".join(str(v) for v in rules.SKELETON_TABLE.values() if v is not None).encode(),
)
_SEQS = tuple((a.encode(), b.encode()) for a, b in rules.SKELETON_SEQS)


def skeleton_buffer(buffer: bytes) -> bytes:
    """The skeleton of every line of ``buffer`` (lines stay lines)."""
    return fold_sequences(fold_buffer(buffer))


def fold_buffer(buffer: bytes) -> bytes:
    """The skeleton without multi-character folds (``combos.fold``) of every line."""
    return buffer.translate(_SKELETON_BYTES, b"-")


def fold_sequences(out: bytes) -> bytes:
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


class SpecSource(Protocol):
    """What gives the filter its keys (:class:`~watcher.matching.engine.CatalogMatcher`)."""

    def filter_spec(self) -> FilterSpec:
        """The catalog's keys."""
