"""The bulk filter's key families for the edit rules: the typo rule and the rules of
:mod:`watcher.matching.combos`.

Each family only admits names to the short path of the matcher (``match_fuzzy``), and is
complete for its rule: one edit of a fold, and the typo rule through it (pigeonhole pieces
of the folded buffer, :class:`~watcher.matching.bulk_hash.Pieces`), a version digit
stripped (the fold without its last character), two edits (the first third, or the first
two characters with the last third, for the lengths a candidate can have), combosquats
(the name without its first or last one or two words, exactly).

The edit families' keys are short (three letters of a name), so many names share one with
some internal name. Each hit therefore names its candidates (the internal strings that key
came from) and every (public, candidate) pair is measured at once with rapidfuzz's
``cpdist`` (optimal string alignment, in C): only names within the rule's distance of a
candidate reach the per-name rules."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from watcher.matching.bulk_hash import (
    EMPTY,
    I64,
    Hasher,
    KeySet,
    Mask,
    Owned,
    Pieces,
    close_pairs,
    distinct,
    hash_strings,
    joined,
    pair_hash,
    string_array,
    verify,
)
from watcher.matching.bulk_keys import FilterSpec, Words, fold_buffer

_T_HEAD, _T_TAIL, _COMBO, _FOLD = range(10, 14)
_DIGITS = np.frombuffer(b"0123456789", dtype=np.uint8)


class ComboFilter:
    """Catalog-side key tables of the combination rules and their survivor test."""

    def __init__(self, spec: FilterSpec) -> None:
        # One edit of a fold, and the typo rule too: a name one edit from an internal name
        # has a fold at most one edit from that name's fold (folding maps characters and
        # drops separators), so one pigeonhole search over the folds serves both rules.
        # The folds of the typo names that are no fuzzy fold come after those.
        self._fuzzy = list(spec.fuzzy_skeletons)
        self._typo_names = list(spec.typo_names)
        typo_folds = [fold_buffer(n) for n in self._typo_names]
        known = set(self._fuzzy)
        strings = self._fuzzy + sorted({f for f in typo_folds if f not in known})
        self._strings = strings
        position = {f: i for i, f in enumerate(strings)}
        owner = np.array([position[f] for f in typo_folds], dtype=np.int64)
        # Typo names by fold (the fold's index in `strings`), as runs of one array.
        self._typos_by_fold = np.argsort(owner, kind="stable")
        counts = np.bincount(owner, minlength=len(strings))
        self._typo_count = counts
        self._typo_first = np.cumsum(counts) - counts
        # Length 2 and up: the typo names' folds may be short (`a-b-c`).
        self._combined = Pieces(strings, 2)
        self._folds = KeySet(hash_strings(spec.folds, [_FOLD] * len(spec.folds)))
        # Two edits (see combos.two_edit_pieces): the first third (3 characters at least),
        # and the first two characters with the last third. Not tagged by the name's
        # length: a public name probes the three lengths a third can have (instead of the
        # five lengths a name can have) and keeps the candidates of a length in reach.
        self._raw = list(spec.two_edit_names)
        sizes = [len(n) for n in self._raw]
        first_thirds = hash_strings(
            [n[: max(3, len(n) // 3)] for n in self._raw], [_T_HEAD] * len(self._raw)
        )
        last_thirds = pair_hash(
            hash_strings([n[:2] for n in self._raw], [_T_TAIL] * len(self._raw)),
            hash_strings([n[len(n) - len(n) // 3 :] for n in self._raw]),
        )
        owners = np.arange(len(self._raw), dtype=np.int64)
        self._thirds = Owned(
            np.concatenate([first_thirds, last_thirds]), np.concatenate([owners, owners])
        )
        self._raw_sizes = np.array(sizes, dtype=np.int64)
        self._two_edit_min = min(sizes, default=0)
        # Combosquats: the public name without its first or last one or two words.
        targets = list(spec.combo_names)
        self._combos = KeySet(hash_strings(targets, [_COMBO] * len(targets)))
        # A combosquat is a target, a separator and another word: longer than any target.
        self._combo_min = min((len(n) for n in targets), default=0) + 2
        # The candidate strings of the pair checks, as object arrays (see close_pairs).
        self._strings_array = string_array(self._strings)
        self._fuzzy_array = string_array(self._fuzzy)
        self._typo_array = string_array(self._typo_names)
        self._raw_array = string_array(self._raw)

    def survivors(self, names: Hasher, folded: Hasher, words: Words) -> tuple[Mask, Mask]:
        """Names the rules of :meth:`ComboRules.match_fuzzy` may match, and names one edit
        from an internal name of ``FilterSpec.typo_names`` (the typo rule)."""
        count = len(names.starts)
        hit = np.zeros(count, dtype=bool)
        rows = np.arange(count, dtype=np.int64)
        found = self._combined.find(folded, folded.starts, folded.ends, rows)
        # Folds one edit apart: a fuzzy fold's pair is a hit; a typo name's (its fold one
        # edit away, or the same) is measured again on the names themselves.
        close = close_pairs(found, folded, self._strings_array, 1)
        hit[self._of_fuzzy(close)[0]] = True
        typo = np.zeros(count, dtype=bool)
        typo[verify(self._of_typos(close), names, self._typo_array, 1)] = True
        # A version digit at the end (`requests-2`): the fold without it, exactly or one
        # edit away (the fold has no separators: the digit is its last character).
        digit = np.flatnonzero(
            (names.ends > names.starts) & np.isin(names.data[names.ends - 1], _DIGITS)
        )
        if len(digit):
            starts, ends = folded.starts[digit], folded.ends[digit] - 1
            hit[digit] |= self._folds.contains_ranges(folded, starts, ends, _FOLD)
            found = self._combined.find(folded, starts, ends, digit)
            hit[verify(self._of_fuzzy(found), folded, self._fuzzy_array, 1, trim=1)] = True
        if self._two_edit_min:
            hit[verify(self._two_edits(names), names, self._raw_array, 2)] = True
        if len(self._combos):
            hit |= self._combosquats(names, words)
        return hit, typo

    def _of_fuzzy(self, pairs: tuple[I64, I64]) -> tuple[I64, I64]:
        """The pairs whose candidate is a fuzzy fold (not only a typo name's)."""
        rows, owners = pairs
        keep = owners < len(self._fuzzy)
        return rows[keep], owners[keep]

    def _of_typos(self, pairs: tuple[I64, I64]) -> tuple[I64, I64]:
        """(row, typo name) for each (row, fold) pair: the typo names with that fold."""
        rows, owners = pairs
        if not len(rows):
            return EMPTY, EMPTY
        width = len(self._typo_count)
        unique = distinct(rows * width + owners)
        rows, owners = unique // width, unique % width
        counts = self._typo_count[owners]
        total = int(counts.sum())
        run_start = np.repeat(np.cumsum(counts) - counts, counts)
        offsets = np.arange(total, dtype=np.int64) - run_start
        offsets += np.repeat(self._typo_first[owners], counts)
        return np.repeat(rows, counts), self._typos_by_fold[offsets]

    def _two_edits(self, names: Hasher) -> tuple[I64, I64]:
        """(row, candidate) pairs sharing a two-edit key, candidates of a length two
        characters or less from the name's (the pairs the length-tagged keys of
        ``ComboRules._two_edit_candidates`` give)."""
        # Only names the rule can reach (two letters shorter than the shortest form).
        rows = np.flatnonzero(names.ends - names.starts >= self._two_edit_min - 2)
        starts, ends = names.starts[rows], names.ends[rows]
        # Keys at the start of a line: from the lines' cached offsets (Hasher.head).
        first = names.head(rows, np.minimum(starts + 2, ends), _T_TAIL)
        # A candidate of length size-2 .. size+2 has a third of low, low+1 or low+2; low+2
        # only when size-2 is 2 more than a multiple of 3 (the candidate then size+2 long).
        low = (ends - starts - 2) // 3
        pairs: list[tuple[I64, I64]] = []
        for step in (0, 1, 2):
            if step == 2:
                some = np.flatnonzero((ends - starts - 2) % 3 == 2)
                rows, starts, ends, first, low = (
                    rows[some],
                    starts[some],
                    ends[some],
                    first[some],
                    low[some],
                )
            third = low + step
            # A first third is three characters at least: a short name's later steps would
            # probe the same three again (and find the same pairs), so only longer ones do.
            longer = slice(None) if not step else np.flatnonzero(third > 3)
            head_rows = rows[longer]
            head_end = np.minimum(starts[longer] + np.maximum(3, third[longer]), ends[longer])
            head_start = starts[longer]
            pairs.append(self._thirds.find_ranges(names, head_start, head_end, _T_HEAD, head_rows))
            tail = names.hash(np.clip(ends - third, starts, ends), ends)
            pairs.append(self._thirds.find(pair_hash(first, tail), rows))
        found, owners = joined(pairs)
        size = names.ends[found] - names.starts[found]
        keep = np.abs(self._raw_sizes[owners] - size) <= 2
        return found[keep], owners[keep]

    def _combosquats(self, names: Hasher, words: Words) -> NDArray[np.bool_]:
        """Names whose first or last one or two words removed leave a combosquat target."""
        hit = np.zeros(len(names.starts), dtype=bool)
        # Only names long enough to hold a target and another word, with a separator.
        rows = np.flatnonzero((names.ends - names.starts >= self._combo_min) & (words.first >= 0))
        starts, ends = names.starts[rows], names.ends[rows]
        first, last = words.first[rows], words.last[rows]
        tail = self._combos.contains_ranges(names, first + 1, ends, _COMBO)
        head = self._combos.contains_ranges(names, starts, last, _COMBO)
        hit[rows] = tail | head
        # Only rows with two dashes lose two words: the second pass probes those alone.
        two = np.flatnonzero(words.second[rows] >= 0)
        rows, starts, ends = rows[two], starts[two], ends[two]
        second, penultimate = words.second[rows], words.penultimate[rows]
        tail = self._combos.contains_ranges(names, second + 1, ends, _COMBO)
        head = self._combos.contains_ranges(names, starts, penultimate, _COMBO)
        hit[rows] |= tail | head
        return hit
