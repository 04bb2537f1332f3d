"""The measurements behind the thresholds of the issue 13 rules (printed by bench_quality).

- two edits: for each minimum name length, the dev squats only two edits find and the
  public names that would alert through two edits alone;
- combosquats: the public names that would alert, by the minimum length of the name;
- prefix typos: how many public names' first word is one edit from a root, by root length
  (roots sampled from the words of the top projects' names);
- scores: for each kind whose severity the score sets, dev squats and noise by score.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import Iterable, Sequence

from packaging.utils import NormalizedName

from watcher.catalog.model import Catalog
from watcher.matching import combos
from watcher.matching.engine import CatalogMatcher, one_edit_variants
from watcher.matching.model import MEDIUM_FLOOR, Match, MatchKind
from watcher.matching.scan import scan


def _show(label: str, *values: object) -> None:
    print(f"  {label:<34}" + "".join(f"{v!s:>14}" for v in values), flush=True)


def thresholds(
    catalog: Catalog, names: Sequence[str], dev: Sequence[tuple[str, str]], exclude: set[str]
) -> None:
    """Two-edit and combosquat tables, from one scan with both thresholds lowered."""
    saved = combos.TWO_EDIT_MIN_LENGTH, combos.COMBO_MIN_LENGTH
    combos.TWO_EDIT_MIN_LENGTH, combos.COMBO_MIN_LENGTH = 6, 8
    try:
        matcher = CatalogMatcher(catalog)
        matches = scan(matcher, "\n".join(names).encode(), workers=os.cpu_count())
        dev_hits = [
            [m for m in matcher.match(NormalizedName(p)) if m.internal_name == t] for p, t in dev
        ]
    finally:
        combos.TWO_EDIT_MIN_LENGTH, combos.COMBO_MIN_LENGTH = saved
    alone: dict[str, list[Match]] = {}
    for m in matches:
        if m.public_name not in exclude:
            alone.setdefault(m.public_name, []).append(m)
    print("two edits: minimum name length, dev squats found only so, public names alerting")
    _show("min length", "dev squats", "public names")
    for length in range(6, 13):
        found = sum(
            1
            for hits in dev_hits
            if hits and hits[0].kind is MatchKind.TWO_TYPOS and len(hits[0].internal_name) >= length
        )
        noisy = sum(
            1
            for group in alone.values()
            if all(m.kind is MatchKind.TWO_TYPOS for m in group)
            and any(len(m.internal_name) >= length for m in group)
        )
        _show(f">= {length}", found, noisy)
    print("combosquats: minimum name length (no separators), public names alerting")
    _show("min length", "public names")
    for length in (8, 10, 12, 14, 16, 20):
        noisy = sum(
            1
            for group in alone.values()
            if all(m.kind is MatchKind.COMBOSQUAT for m in group)
            and any(len(m.internal_name.replace("-", "")) >= length for m in group)
        )
        _show(f">= {length}", noisy)


def root_typos(names: Iterable[str], top: Sequence[str], seed: int = 3) -> None:
    """Public names whose first word is one edit from a root, by the root's length."""
    first = Counter(n.split("-")[0] for n in names)
    words = sorted({w for n in top for w in n.split("-") if w.isalpha()})
    rng = random.Random(seed)
    print("prefix typos: public names whose first word is one edit from a root (40 roots)")
    _show("root length", "median", "mean", "max")
    for length in range(4, 9):
        pool = [w for w in words if len(w) == length]
        roots = rng.sample(pool, min(40, len(pool)))
        if not roots:
            continue
        counts = sorted(sum(first[v] for v in one_edit_variants(r)) for r in roots)
        _show(
            f"{length}",
            counts[len(counts) // 2],
            f"{sum(counts) / len(counts):.1f}",
            counts[-1],
        )


def scores(matches: Iterable[Match], dev_hits: Iterable[Match], exclude: set[str]) -> None:
    """For each kind with a score floor: dev squats and public names by score."""
    buckets = (0.0, 0.7, 0.75, 0.8, 0.82, 0.84, 0.86, 0.9)
    noise: Counter[tuple[str, float]] = Counter()
    found: Counter[tuple[str, float]] = Counter()

    def bucket(score: float) -> float:
        return max(b for b in buckets if score >= b)

    for m in matches:
        if m.kind in MEDIUM_FLOOR and m.public_name not in exclude:
            noise[str(m.kind), bucket(m.score)] += 1
    for m in dev_hits:
        if m.kind in MEDIUM_FLOOR:
            found[str(m.kind), bucket(m.score)] += 1
    print("scores: matches by kind and score (floor: medium from there), dev squats vs noise")
    _show("kind, score from", "floor", "dev squats", "noise")
    for kind in sorted(MEDIUM_FLOOR, key=str):
        for b in buckets:
            if found[str(kind), b] or noise[str(kind), b]:
                _show(f"{kind} {b}", MEDIUM_FLOOR[kind], found[str(kind), b], noise[str(kind), b])
