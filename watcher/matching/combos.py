"""The rules beyond one edit: aliases, two rules at once, two edits, short names, words around.

Real squats are often one step further than a single rule reaches: ``crypt0graphyy`` (a
look-alike and a typo), ``pycryptography`` (an affix glued on), ``beautifulsoop`` (a typo of
the name people type for ``beautifulsoup4``), ``requstes`` (two edits),
``requests-darwin-lite`` (the exact name with other words). Each rule here has its own kind:

- ``alias``: the skeleton (see :mod:`watcher.matching.rules`) of an alias: generated
  (version digit dropped, glued ``py`` dropped), declared in the catalog, or the name with a
  version digit added (:mod:`watcher.matching.aliases`).
- ``combined``: two rules at once. An affix glued on without a separator
  (``pycryptography``: the skeleton of the name with the affix glued); one edit away from
  the name or an alias once separators are dropped and look-alike characters folded
  (``fold``), also once a version digit is stripped (``reqests-2``); affix words around a
  typo (``python-reqests``, found by the engine's typo index). Pigeonhole halves.
- ``two_typos``: two edits (optimal string alignment) of the name or an alias of
  ``TWO_EDIT_MIN_LENGTH`` characters or more that keep its first two characters (real
  squats do) and do not make another word of a word shorter than that (``telegram-kit``
  for ``telegram-lib``), nor add a word. Candidates come from the first third (3
  characters at least) or the first two characters with the last third, whichever is
  intact (``two_edit_pieces``): two edits touching the third character and the last third
  are not looked for.
- ``short_name``: names shorter than ``MIN_FUZZY_LENGTH`` get only the typos that are not
  other words: two neighbours swapped, a letter doubled, a letter dropped (from 4 to 3),
  the version digit changed, and look-alikes.
- ``combosquat``: the exact name of ``COMBO_MIN_LENGTH`` characters or more as the first or
  last words of a longer name, with one or two other words that are not all affixes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Protocol

from packaging.utils import NormalizedName
from rapidfuzz.distance import OSA

from watcher.matching import aliases as alias_rules
from watcher.matching import rules
from watcher.matching.aliases import Form
from watcher.matching.model import MatchKind

K = MatchKind
# The kinds these rules report.
COMBO_KINDS = frozenset({K.ALIAS, K.SHORT, K.COMBINED, K.TWO_TYPOS, K.COMBOSQUAT})

# Two edits only for names this long: below, two edits of a name are mostly other words.
# bench_quality's two-edit table: from 8 letters, 75 of the 78 dev squats only two edits
# find, with half the alerts of 7 letters (4,894 public names against 8,965).
TWO_EDIT_MIN_LENGTH = 8
# Combosquats only around names this long (separators not counted): shorter names have
# many real extensions (bench_quality's combosquat table: 20,533 public names from 8
# letters, 2,672 from 14), and the rule is low severity at best.
COMBO_MIN_LENGTH = 14
# Short names get the narrow rules from this length up (a 2-letter name has no typos that
# are not other names).
SHORT_MIN_LENGTH = 3


# The form a combined hit went through, most telling first: when one public name is one
# edit from several forms of a name, the first is reported. Also the weight of each in the
# score (a typo of the name itself proves more than a typo of an affixed form).
_FORM_ORDER = {"name": 0, "alias": 1}
FORM_WEIGHT = {"name": 1.0, "alias": 1.0, "version": 0.9, "affix": 0.85}
# The shortest form (folded) looked for one edit away: below, a typo of a form is mostly
# another word.
COMBINED_MIN_LENGTH = {"name": 6, "alias": 6}


class Add(Protocol):
    """Records a hit: the engine keeps the first kind found per target."""

    def __call__(
        self,
        kind: MatchKind,
        target: str,
        detail: str | None = None,
        compared: str | None = None,
        weight: float = 1.0,
    ) -> None: ...


def skeleton(name: str) -> str:
    """The separator-free look-alike skeleton of a canonical name."""
    return rules.skeleton_key(rules.ultra_key(name))


def fold(name: str) -> str:
    """The skeleton without its multi-character folds (``rn``, ``vv``, ``cl``): what a typo
    is looked for in. A fold plus an edit is too loose: ``configdb`` would be one edit from
    ``config-cli`` read as ``configd1``."""
    return name.translate(rules.SKELETON_TABLE)


def two_edit_pieces(name: str, length: int | None = None) -> tuple[str, str]:
    """The two keys of a name for the two-edit rule (for a name of ``length``, default its
    own): its first third (3 characters at least), and its first two characters with its
    last third. A name two edits away that keeps its first two characters (the rule asks
    that) keeps one of them intact when the edits are not in both the third character and
    the last third."""
    size = len(name) if length is None else length
    third = size // 3
    return name[: max(3, third)], name[:2] + name[len(name) - third :]


_AFFIX_SKELETONS = {a: skeleton(a) for a in alias_rules.GLUED_AFFIXES}


def word_edits_allowed(public: str, form: str) -> bool:
    """Two edits inside one word need a word of ``TWO_EDIT_MIN_LENGTH`` letters: two edits
    of `lib` or `core` make another word (`telegram-kit`, `vector-forge`)."""
    ours, theirs = form.split("-"), public.split("-")
    if len(theirs) > len(ours):
        return False  # a separator and a letter: a word added (`payments-core-x`)
    if len(ours) != len(theirs):
        return True  # one edit is a separator removed: the other is alone in its word
    return all(
        len(a) >= TWO_EDIT_MIN_LENGTH or OSA.distance(a, b, score_cutoff=1) <= 1
        for a, b in zip(ours, theirs, strict=True)
    )


class ComboRules:
    """Indexes of every internal name's forms, and the per-name rules over them."""

    def __init__(
        self, names: Sequence[str], declared: Mapping[NormalizedName, Sequence[str]]
    ) -> None:
        catalog = frozenset(names)
        # Exact hits on a form's skeleton (the name's own skeleton is the look-alike rule's).
        self._by_skeleton: dict[str, list[tuple[str, Form]]] = {}
        # The name and its aliases, folded: a version digit stripped from a public name is
        # looked up here (exactly, then one edit away).
        self._by_fold: dict[str, list[tuple[str, Form]]] = {}
        # Two edits on the raw name and its aliases (indexed by thirds below).
        self._raw: dict[str, list[tuple[str, Form]]] = {}
        # One pass over every (name, form) pair of alias_rules.forms, each once (names are
        # distinct, and so are a name's forms): 100,000 forms for 10,000 names.
        for n in names:
            if len(n) < SHORT_MIN_LENGTH:
                continue
            for form in alias_rules.spellings(n, declared.get(NormalizedName(n), ())):
                entry = (n, form)
                if form.rule == "alias" or len(n) < rules.MIN_FUZZY_LENGTH:
                    self._by_skeleton.setdefault(skeleton(form.text), []).append(entry)
                self._by_fold.setdefault(fold(form.text), []).append(entry)
                if len(form.text) >= TWO_EDIT_MIN_LENGTH:
                    self._raw.setdefault(form.text, []).append(entry)
            glued = rules.separator_key(n)
            if len(glued) < rules.MIN_FUZZY_LENGTH:
                continue  # as in alias_rules.forms: no affixed forms
            # The affixed forms' skeletons from the name's: no look-alike fold spans the
            # join, as the glued affixes start with `p` and end with `y`, `n` or `3`
            # (`rn`, `vv`, `cl` cannot straddle it).
            own = skeleton(n)
            for affix, front, end in alias_rules.AFFIX_HOWS:
                key = _AFFIX_SKELETONS[affix]
                entry = (n, Form(affix + glued, "affix", front))
                self._by_skeleton.setdefault(key + own, []).append(entry)
                entry = (n, Form(glued + affix, "affix", end))
                self._by_skeleton.setdefault(own + key, []).append(entry)
        # One edit on folded forms: pigeonhole halves by length.
        self._fuzzy = {
            folded: hits
            for folded, hits in self._by_fold.items()
            if len(folded) >= COMBINED_MIN_LENGTH[hits[0][1].rule]
        }
        self._head: dict[int, dict[str, list[str]]] = defaultdict(dict)
        self._tail: dict[int, dict[str, list[str]]] = defaultdict(dict)
        for sk in self._fuzzy:
            half = len(sk) // 2
            self._head[len(sk)].setdefault(sk[:half], []).append(sk)
            self._tail[len(sk)].setdefault(sk[half:], []).append(sk)
        self._thirds: dict[tuple[int, bool, str], list[str]] = defaultdict(list)
        for text in self._raw:
            head, tail = two_edit_pieces(text)
            self._thirds[len(text), True, head].append(text)
            self._thirds[len(text), False, tail].append(text)
        self._short: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for n in names:
            if SHORT_MIN_LENGTH <= len(n) < rules.MIN_FUZZY_LENGTH:
                for variant, how in alias_rules.short_variants(n):
                    if variant not in catalog:
                        self._short[variant].append((n, how))
        self.long_names = frozenset(
            n for n in names if len(rules.separator_key(n)) >= COMBO_MIN_LENGTH
        )

    # --- what the bulk filter needs ---------------------------------------------------------

    def exact_skeletons(self) -> list[str]:
        """Skeletons a matching public name's skeleton can equal (forms, short variants)."""
        return [*self._by_skeleton, *(skeleton(v) for v in self._short)]

    def folds(self) -> list[str]:
        """Folded names and aliases (see ``fold``): a public name's fold, a version digit
        stripped, can equal one."""
        return list(self._by_fold)

    def fuzzy_skeletons(self) -> list[str]:
        """Folded forms a public name's fold (or that of the name without its version
        digit) can be one edit away from."""
        return list(self._fuzzy)

    def raw_forms(self) -> list[str]:
        """Names and aliases a public name can be two edits away from."""
        return list(self._raw)

    # --- per name ---------------------------------------------------------------------------

    def match(self, p: str, words: Sequence[str], sk: str, add: Add) -> None:
        """Every hit of the rules above for the canonical public name ``p`` (skeleton
        ``sk``), in precedence order."""
        for target, form in self._by_skeleton.get(sk, ()):
            if target == p:
                continue
            if form.rule == "name":
                add(K.SHORT, target, rules.explain_lookalike(p, target), target)
            elif form.rule == "affix":
                # Two rules at once: an affix word, and its separator dropped.
                add(K.COMBINED, target, form.how, form.text)
            else:
                add(K.ALIAS, target, f"the name people type: {form.how}", form.text)
        for target, variant in self._short.get(p, ()):
            add(K.SHORT, target, variant, target)
        self.match_fuzzy(p, words, add)

    def match_fuzzy(self, p: str, words: Sequence[str], add: Add) -> None:
        """The rules here that the bulk filter's own families admit (``BulkFilter._more``):
        a version digit stripped, one edit of a fold, two edits, combosquats."""
        stem = alias_rules.strip_version(p)
        digit = f"version digit {p[-1]!r} added"
        if stem is not None:
            for target, form in self._by_fold.get(fold(stem), ()):
                add(K.ALIAS, target, _with(digit, form), form.text)
        tries: list[tuple[str, str | None]] = [(p, None)]
        if stem is not None:
            tries.append((stem, digit))
        for text, how in tries:
            if len(folded := fold(text)) < rules.MIN_FUZZY_LENGTH - 1:
                continue
            best: dict[str, Form] = {}
            for candidate in self._skeleton_candidates(folded):
                if OSA.distance(folded, candidate, score_cutoff=1) == 1:
                    for target, form in self._fuzzy[candidate]:
                        if form.rule == "name" and text.count("-") > target.count("-"):
                            continue  # a separator added and a letter: a word added
                        known = best.get(target)
                        if known is None or _FORM_ORDER[form.rule] < _FORM_ORDER[known.rule]:
                            best[target] = form
            for target, form in sorted(best.items()):
                detail = _combined_detail(p if how is None else text, target, form)
                if how is not None:
                    detail = f"{how}, then {detail}"
                weight = FORM_WEIGHT["version" if how else form.rule]
                add(K.COMBINED, target, detail, form.text, weight)
        if len(p) >= TWO_EDIT_MIN_LENGTH - 2:
            for candidate in sorted(self._two_edit_candidates(p)):
                # Squatters keep the start people recognize: both edits after it.
                if (
                    candidate[:2] == p[:2]
                    and OSA.distance(p, candidate, score_cutoff=2) == 2
                    and word_edits_allowed(p, candidate)
                ):
                    for target, form in self._raw[candidate]:
                        of = "" if form.rule == "name" else f" of {form.text!r}"
                        add(K.TWO_TYPOS, target, f"two edits{of}", form.text)
        if len(words) > 1:
            self._combosquat(p, words, add)

    def _skeleton_candidates(self, sk: str) -> set[str]:
        size = len(sk)
        out: set[str] = set()
        for length in (size - 1, size, size + 1):
            head = self._head.get(length)
            if not head:
                continue
            half = length // 2
            out.update(head.get(sk[:half], ()))
            out.update(self._tail[length].get(sk[size - (length - half) :], ()))
        if size >= 2 and self._head.get(size):
            half = size // 2
            swapped = sk[: half - 1] + sk[half] + sk[half - 1] + sk[half + 1 :]
            if swapped in self._fuzzy:
                out.add(swapped)
        return out

    def _two_edit_candidates(self, p: str) -> set[str]:
        size = len(p)
        out: set[str] = set()
        for length in range(max(TWO_EDIT_MIN_LENGTH, size - 2), size + 3):
            if length // 3 > size:
                continue
            head, tail = two_edit_pieces(p, length)
            out.update(self._thirds.get((length, True, head), ()))
            out.update(self._thirds.get((length, False, tail), ()))
        return out

    def _combosquat(self, p: str, words: Sequence[str], add: Add) -> None:
        # One or two other words, at the end or in front.
        splits = [(words[:-n], words[-n:]) for n in (1, 2) if n < len(words)]
        splits += [(words[n:], words[:n]) for n in (1, 2) if n < len(words)]
        for kept, extra in splits:
            name = "-".join(kept)
            if name in self.long_names and not all(w in rules.AFFIXES for w in extra):
                where = "at the end" if p.startswith(name + "-") else "in front"
                detail = f"the exact name with {'-'.join(extra)!r} {where}"
                add(K.COMBOSQUAT, name, detail, name)


def _with(step: str, form: Form) -> str:
    if form.rule == "name":
        return f"the name with {step}"
    return f"{form.how}, with {step}"


def _combined_detail(public: str, target: str, form: Form) -> str:
    """Which rules and which edit: ``separators removed, then 'x' for 'y' at position 3``."""
    if form.rule == "name":
        glued_public, glued = rules.separator_key(public), rules.separator_key(target)
        if rules.is_one_edit(glued_public, glued):
            typo = rules.explain_typo(glued_public, glued)
            return f"{rules.explain_separator(public, target)}, and {typo}"
        return "look-alike characters and one edit"
    if form.rule == "alias":
        return f"one edit from the name people type: {form.how}"
    if form.rule == "affix":
        return f"{form.how}, and one edit"
    return f"the name with {form.how}, and one edit"
