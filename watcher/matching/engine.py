"""Matching public names against the catalog, by hash indexes over the catalog's keys.

The catalog (thousands of names, tens of prefixes) is indexed once; each public name then
costs a handful of string transforms and dictionary look-ups, whatever the catalog's size:
no public name is ever compared with every internal name.

- exact, separator, confusable, lookalike, reorder, affix: the public name's key under each
  rule (see :mod:`watcher.matching.rules`) is looked up in a dict built from the catalog.
- typo: pigeonhole. An internal name of length L is indexed by its first ``L // 2`` and its
  last ``L - L // 2`` characters. One edit leaves one of those halves intact (an edit in
  the second half keeps the first and vice versa); the one edit that touches both (a swap
  of the two characters at the boundary) is found by swapping them back. Candidates are
  confirmed with an optimal-string-alignment distance of exactly 1.
- prefixes: the namespace root itself and ``root-*``; then the first word(s) of the public
  name under the same rules against the root (a precomputed set of the root's one-edit
  variants for typos), the root glued to the next word, and affix words before the root.
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

from packaging.utils import NormalizedName

from watcher.catalog.model import Catalog
from watcher.matching import rules
from watcher.matching.combos import FORM_WEIGHT, Add, ComboRules
from watcher.matching.explain import explain
from watcher.matching.model import Match, MatchKind
from watcher.matching.rules import one_edit_variants as one_edit_variants  # moved there
from watcher.matching.score import score

if TYPE_CHECKING:
    from watcher.matching.bulk import BulkFilter
    from watcher.matching.bulk_keys import FilterSpec

_ORDER = {kind: i for i, kind in enumerate(MatchKind)}


class Matcher(Protocol):
    """Matches one canonical public name against the whole catalog."""

    def match(self, public_name: NormalizedName) -> list[Match]:
        """Every match of ``public_name``, strongest first; empty for allowlisted names."""
        ...

    def match_many(self, names: Sequence[str]) -> list[Match]:
        """Every match of many canonical names (the whole-index direction), in bulk."""
        ...


def _index(pairs: Iterable[tuple[str, str]]) -> dict[str, tuple[str, ...]]:
    grouped: dict[str, list[str]] = {}
    for key, name in pairs:
        names = grouped.get(key)
        if names is None:
            grouped[key] = [name]
        elif name not in names:
            names.append(name)
    return {key: tuple(names) for key, names in grouped.items()}


class CatalogMatcher:
    """All rules, one public name at a time, against an indexed catalog."""

    def __init__(self, catalog: Catalog, *, combos: bool = True) -> None:
        """Index ``catalog``; ``combos=False`` leaves out the rules of
        :mod:`watcher.matching.combos` (a one-name matcher that only needs the others)."""
        # Hundreds of thousands of small objects, none of them garbage: without a pause the
        # cyclic collector walks them again and again, which doubles the time to index.
        enabled = gc.isenabled()
        gc.disable()
        try:
            self._build(catalog, combos)
        finally:
            if enabled:
                gc.enable()

    def _build(self, catalog: Catalog, combos: bool) -> None:
        self._allow = catalog.allow
        self._display = catalog.display
        names = sorted(catalog.names)
        fuzzy = [n for n in names if len(n) >= rules.MIN_FUZZY_LENGTH]
        self._exact = frozenset(names)
        self._separator = _index((rules.separator_key(n), n) for n in fuzzy)
        self._ultra = _index((rules.ultra_key(n), n) for n in names)
        self._skeleton = _index((rules.skeleton_key(rules.ultra_key(n)), n) for n in fuzzy)
        self._reorder = _index((rules.reorder_key(n.split("-")), n) for n in fuzzy if "-" in n)
        self._affix = _index(
            ("-".join(core), n) for n in fuzzy if (core := rules.affix_core(n.split("-")))
        )
        self._typo_names = frozenset(fuzzy)
        # `tool-a-kit` -> `tool--kit` is one keystroke, but canonicalizes to `tool-kit`.
        self._dropped_word = _index(
            (variant, n) for n in fuzzy for variant in rules.dropped_letter_words(n)
        )
        self._head: dict[int, dict[str, tuple[str, ...]]] = {}
        self._tail: dict[int, dict[str, tuple[str, ...]]] = {}
        by_length: defaultdict[int, list[str]] = defaultdict(list)
        for n in fuzzy:
            by_length[len(n)].append(n)
        for length, same in by_length.items():
            half = length // 2
            self._head[length] = _index((n[:half], n) for n in same)
            self._tail[length] = _index((n[half:], n) for n in same)

        roots = sorted(catalog.prefixes)
        self._roots = frozenset(roots)
        self._root_words = max((r.count("-") + 1 for r in roots), default=0)
        fuzzy_roots = [r for r in roots if len(r) >= rules.MIN_FUZZY_ROOT]
        self._root_glued = _index((rules.separator_key(r), r) for r in fuzzy_roots)
        self._fuzzy_roots = frozenset(fuzzy_roots)
        self._root_glued_lengths = sorted({len(rules.separator_key(r)) for r in fuzzy_roots})
        self._root_ultra = _index((rules.ultra_key(r), r) for r in roots)
        self._root_skeleton = _index(
            (rules.skeleton_key(rules.ultra_key(r)), r) for r in fuzzy_roots
        )
        typo_roots = [r for r in fuzzy_roots if len(r) >= rules.MIN_TYPO_ROOT]
        self._root_typo = _index(
            (variant, r) for r in typo_roots for variant in one_edit_variants(r)
        )
        self._combos = ComboRules(names if combos else [], catalog.aliases)
        self._build_filter(names, fuzzy, roots, typo_roots)

    # --- bulk: a complete pre-filter, then the exact per-name rules on what passes ------------

    def _build_filter(
        self,
        names: Sequence[str],
        fuzzy: Sequence[str],
        roots: Sequence[str],
        typo_roots: Sequence[str],
    ) -> None:
        """Keys that every matching public name hits at least one of (see ``survivors``)."""
        # Skeletons cover exact, separator, confusable and look-alike; a public name equal
        # to the core of an internal name (affix removed) or to an internal name without a
        # one-letter word is listed too.
        keys = [*names, *self._affix, *self._dropped_word]
        skeletons = {rules.skeleton_key(rules.ultra_key(k)) for k in keys}
        skeletons.update(self._combos.exact_skeletons())
        self._f_skeletons = sorted(s.encode() for s in skeletons)
        pairs: set[tuple[bytes, bytes]] = set()
        for n in fuzzy:
            words = n.encode().split(b"-")
            pairs.update((a, b) for i, a in enumerate(words) for j, b in enumerate(words) if i != j)
        self._f_pairs = sorted(pairs)
        first: set[bytes] = {a.encode() for a in rules.AFFIXES}
        slow_roots = []
        for root in roots:
            first.add(root.split("-")[0].encode())
            variants = rules.skeleton_variants(root.split("-")[0])
            if variants is None:
                slow_roots.append(root)
            else:
                first.update(v.encode() for v in variants)
        for root in typo_roots:
            # The first word of every one-edit variant (for a one-word root, the variant).
            first.update(v.split("-")[0].encode() for v in one_edit_variants(root))
        self._f_first = sorted(first)
        # Roots with too many look-alike spellings to list: compare skeletons instead.
        self._f_root_skeletons = frozenset(
            rules.skeleton_key(rules.ultra_key(r.split("-")[0])) for r in slow_roots
        )
        self._f_typo_names = [n.encode() for n in fuzzy]
        self._bulk: BulkFilter | None = None

    def filter_spec(self) -> FilterSpec:
        """The catalog's keys for :class:`~watcher.matching.bulk.BulkFilter`."""
        from watcher.matching.bulk_keys import FilterSpec  # numpy: only for scans

        return FilterSpec(
            skeletons=self._f_skeletons,
            firsts=self._f_first,
            lasts=sorted(a.encode() for a in rules.AFFIXES),
            pairs=self._f_pairs,
            roots=[r.encode() for r in sorted(self._roots)],
            typo_names=self._f_typo_names,
            fuzzy_skeletons=sorted(s.encode() for s in self._combos.fuzzy_skeletons()),
            folds=sorted(s.encode() for s in self._combos.folds()),
            two_edit_names=sorted(s.encode() for s in self._combos.raw_forms()),
            combo_names=sorted(n.encode() for n in self._combos.long_names),
        )

    def bulk_filter(self) -> BulkFilter:
        """The vectorized pre-filter, built on first use (a scan, not a single lookup)."""
        if self._bulk is None:
            # Imported here: numpy costs a CLI start (`watcher check`) a tenth of a second.
            from watcher.matching.bulk import BulkFilter

            self._bulk = BulkFilter(self)
        return self._bulk

    def survivors(
        self, names: Sequence[bytes] | bytes
    ) -> tuple[set[bytes], set[bytes], set[bytes]]:
        """Split canonical names (ASCII; a list, or one newline-separated buffer) into those
        that may match any rule, those that may only be typos, and those that may only
        match the edit rules (typos and :meth:`ComboRules.match_fuzzy`); every other name
        matches nothing (see :mod:`watcher.matching.bulk`)."""
        text = names if isinstance(names, bytes) else b"\n".join(names)
        full, typo, edits = self.bulk_filter().survivors(text)
        full_set = set(full)
        if self._f_root_skeletons:
            full_set.update(n for n in text.split(b"\n") if self._slow_root(n))
        return full_set, set(typo) - full_set, set(edits) - full_set

    def _slow_root(self, name: bytes) -> bool:
        head = name.split(b"-")[0].decode()
        return rules.skeleton_key(rules.ultra_key(head)) in self._f_root_skeletons

    def match_many(self, names: Sequence[str]) -> list[Match]:
        """Every match of every canonical name in ``names`` (the whole-index direction)."""
        return self.match_bytes(list(map(str.encode, names)))

    def match_bytes(self, names: Sequence[bytes]) -> list[Match]:
        """:meth:`match_many` for names already encoded (ASCII)."""
        return self.match_buffer(b"\n".join(names))

    def match_buffer(self, text: bytes) -> list[Match]:
        """:meth:`match_many` for one buffer of canonical names, one per line."""
        full, typo, edits = self.survivors(text)
        out: list[Match] = []
        for raw in sorted(full):
            out.extend(self.match(NormalizedName(raw.decode())))
        for raw in sorted(typo):
            name = raw.decode()
            # Only the typo filter let this name through, so no other rule can match it.
            if name in self._allow:
                continue
            hits: list[_Hit] = [
                (MatchKind.TYPO, n, None, None, 1.0)
                for n in self._typo_candidates(name)
                if rules.is_one_edit(name, n)
            ]
            out.extend(self._matches(name, hits))
        for raw in sorted(edits):
            name = raw.decode()
            # Only the edit filters let this name through, so no other rule can match it.
            if name not in self._allow:
                out.extend(self._match_edits(name))
        return out

    def _match_edits(self, name: str) -> list[Match]:
        """:meth:`match` for a name only the edit filters admitted: typos, and the rules of
        :meth:`ComboRules.match_fuzzy` (in the same order as :meth:`match`)."""
        found: dict[str, _Hit] = {}

        def add(
            kind: MatchKind,
            target: str,
            detail: str | None = None,
            compared: str | None = None,
            weight: float = 1.0,
        ) -> None:
            found.setdefault(target, (kind, target, detail, compared, weight))

        for n in sorted(self._typo_candidates(name)):
            if rules.is_one_edit(name, n):
                add(MatchKind.TYPO, n)
        self._combos.match_fuzzy(name, name.split("-"), add)
        return self._matches(name, found.values())

    def match(self, public_name: NormalizedName) -> list[Match]:
        """See :class:`Matcher`."""
        p: str = public_name
        if p in self._allow:
            return []
        found: dict[tuple[bool, str], _Hit] = {}

        def add(
            kind: MatchKind,
            target: str,
            detail: str | None = None,
            compared: str | None = None,
            weight: float = 1.0,
        ) -> None:
            # Rules run in precedence order: the first kind found for a target wins.
            hit = (kind, target, detail, compared, weight)
            found.setdefault((kind.on_prefix, target), hit)

        words = p.split("-")
        if p in self._exact:
            add(MatchKind.EXACT, p)
        glued = p.replace("-", "") if len(words) > 1 else p
        for name in self._separator.get(glued, ()):
            if name != p:
                add(MatchKind.SEPARATOR, name)
        ultra = glued.translate(rules.ULTRA_TABLE)
        for name in self._ultra.get(ultra, ()):
            if name != p:
                # `bililng` for `billing` is ultra-equal too (l and i both read "1"), but a
                # swap of two letters is what a typist does: call it what it is.
                swap = rules.is_adjacent_swap(p, name) and len(name) >= rules.MIN_FUZZY_LENGTH
                add(MatchKind.TYPO if swap else MatchKind.CONFUSABLE, name)
        for name in self._skeleton.get(rules.skeleton_key(ultra), ()):
            add(MatchKind.LOOKALIKE, name)
        for name in self._typo_candidates(p):
            if rules.is_one_edit(p, name):
                add(MatchKind.TYPO, name)
        for name in self._dropped_word.get(p, ()):
            add(MatchKind.TYPO, name)
        if len(words) > 1:
            for name in self._reorder.get(rules.reorder_key(words), ()):
                if name != p:
                    add(MatchKind.REORDER, name)
        core = rules.affix_core(words)
        if core:
            for name in self._affix.get("-".join(core), ()):
                if name != p:
                    # `kafka-cli` for `kafka-core`: a swap, not an addition, is mostly
                    # another project of the same family.
                    swap = not rules.affix_contains(words, name.split("-"))
                    add(MatchKind.AFFIX_SWAP if swap else MatchKind.AFFIX, name)
            if len(core) < len(words):
                # Affix words added and a typo in the rest (`python-reqests`): weak, low.
                rest = "-".join(core)
                for name in sorted(self._typo_candidates(rest)):
                    if rules.is_one_edit(rest, name):
                        detail = f"affix words around it, and {rules.explain_typo(rest, name)}"
                        add(MatchKind.COMBINED, name, detail, name, FORM_WEIGHT["affix"])
        self._combos.match(p, words, rules.skeleton_key(ultra), add)
        if self._roots:
            self._match_prefixes(p, words, glued, add)
        return self._matches(p, found.values())

    def _typo_candidates(self, p: str) -> set[str]:
        size = len(p)
        out: set[str] = set()
        for length in (size - 1, size, size + 1):
            head = self._head.get(length)
            if head is None:
                continue
            half = length // 2
            out.update(head.get(p[:half], ()))
            out.update(self._tail[length].get(p[size - (length - half) :], ()))
        if size in self._head and size >= 2:
            half = size // 2
            swapped = p[: half - 1] + p[half] + p[half - 1] + p[half + 1 :]
            if swapped in self._typo_names:
                out.add(swapped)
        return out

    def _match_prefixes(self, p: str, words: list[str], glued: str, add: Add) -> None:
        for n in range(1, min(len(words), self._root_words) + 1):
            head = "-".join(words[:n]) if n > 1 else words[0]
            if head in self._roots:
                add(MatchKind.PREFIX, head)
        for length in self._root_glued_lengths:
            if len(glued) >= length:
                for root in self._root_glued.get(glued[:length], ()):
                    add(MatchKind.PREFIX_SEPARATOR, root)
        for n in range(1, min(len(words), self._root_words) + 1):
            head = "-".join(words[:n]) if n > 1 else words[0]
            ultra = head.translate(rules.ULTRA_TABLE)
            for root in self._root_ultra.get(ultra, ()):
                if root != head:
                    add(MatchKind.PREFIX_CONFUSABLE, root)
            for root in self._root_skeleton.get(rules.skeleton_key(ultra), ()):
                add(MatchKind.PREFIX_LOOKALIKE, root)
            for root in self._root_typo.get(head, ()):
                add(MatchKind.PREFIX_TYPO, root)
        lead = 0
        while lead < len(words) - 1 and words[lead] in rules.AFFIXES:
            lead += 1
        if lead:
            rest = words[lead:]
            for n in range(1, min(len(rest), self._root_words) + 1):
                head = "-".join(rest[:n])
                if head in self._fuzzy_roots:
                    add(MatchKind.PREFIX_AFFIX, head)

    def _matches(self, p: str, hits: Iterable[_Hit]) -> list[Match]:
        out = [
            Match(
                NormalizedName(p),
                NormalizedName(target),
                kind,
                detail or explain(kind, p, target, self._display(NormalizedName(target))),
                score(kind, p, compared or target, weight),
            )
            for kind, target, detail, compared, weight in hits
        ]
        out.sort(key=lambda m: (-m.severity, -m.score, _ORDER[m.kind], m.internal_name))
        return out


# (kind, target, detail or None to explain it later, the form compared or None for the
# target, the weight of that form in the score)
_Hit = tuple[MatchKind, str, str | None, str | None, float]


def build_matcher(catalog: Catalog) -> Matcher:
    """The matcher the daemon and the API use for ``catalog``."""
    return CatalogMatcher(catalog)
