"""Matching quality benchmark: recall on real squats, alert noise, and the speed it costs.

    python -m tests.benchmarks.bench_quality --public-list PUBLIC.tsv --dev-set DEV.tsv

Inputs (each read when present; the benchmark says so and skips what needs it when not):

``--public-list`` (or ``WATCHER_BENCH_PUBLIC_LIST``)
    The public index's names as a TSV file with a header line and the columns ``name`` and
    ``rank_among_15000_most_downloaded`` (empty for most names). The catalog under test is
    the top 5,000 by that rank (ranks 1 to 5,000); the public names are every name.
``--dev-set`` (or ``WATCHER_BENCH_DEV_SET``; default ``../shared/datasets/typosquats-dev.tsv``)
    Real malicious names with the project each one squats: a TSV file with a header line
    and the columns ``malicious`` and ``target``.
``--aliases`` (default: ``top_aliases.toml`` beside this file)
    Catalog data declaring aliases (``[aliases]`` table) of a handful of well-known top
    projects; recall is printed with and without them.

Figures, in one run:

- recall on the dev set: a squat counts as found only when it is matched to its own target.
  Printed overall, on the even and the odd lines separately (rules are never tuned on names,
  the split shows how stable the figure is), and the misses grouped by cause;
- noise: how many public names alert against the top-5,000 catalog, by severity and by the
  kind of each name's strongest match. The catalog's own names are excluded (each is an
  exact match of itself), and so are the dev set's names;
- the same for a generated company catalog (200 internal names under the prefixes ``acme``
  and ``pins`` and beside them, fixed seed): matches at first start, by kind and severity;
- the tables behind the thresholds (``quality_tables``; ``--no-tables`` skips them);
- speed: reading and canonicalizing the public names one by one (the floor) against a scan
  in one process, the ratio, and single-name lookup latencies (p50, p99).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name
from rapidfuzz.distance import OSA

from tests.benchmarks import quality_tables
from tests.benchmarks.corpus import COMMON
from watcher.catalog.files import parse_catalog
from watcher.catalog.model import Catalog
from watcher.errors import CatalogError
from watcher.matching import rules
from watcher.matching.engine import CatalogMatcher
from watcher.matching.model import Match, Risk
from watcher.matching.scan import read_dump, scan

DEFAULT_DEV_SET = Path("../shared/datasets/typosquats-dev.tsv")
DEFAULT_ALIASES = Path(__file__).with_name("top_aliases.toml")
TOP = 5_000


def _show(label: str, value: float, unit: str = "") -> None:
    print(f"{label:<56} {value:>12,.3f} {unit}", flush=True)


def _rows(path: Path) -> Iterable[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        yield from csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)


@dataclass(frozen=True)
class PublicList:
    """The public names (canonical) and the top projects by downloads."""

    names: list[str]
    top: list[str]  # canonical, rank 1 first


def read_public_list(path: Path, top: int = TOP) -> PublicList:
    """Read the public list TSV (see the module's doc)."""
    names: dict[str, None] = {}
    ranked: list[tuple[int, str]] = []
    for row in _rows(path):
        raw = (row.get("name") or "").strip()
        if not raw:
            continue
        name = canonicalize_name(raw)
        names.setdefault(name, None)
        rank = (row.get("rank_among_15000_most_downloaded") or "").strip()
        if rank.isdigit() and 1 <= int(rank) <= top:
            ranked.append((int(rank), name))
    return PublicList(list(names), [n for _, n in sorted(ranked)])


def read_dev_set(path: Path) -> list[tuple[str, str]]:
    """(malicious, target) pairs, canonical, in file order."""
    return [
        (canonicalize_name(r["malicious"].strip()), canonicalize_name(r["target"].strip()))
        for r in _rows(path)
        if r.get("malicious") and r.get("target")
    ]


def read_aliases(path: Path) -> dict[NormalizedName, tuple[NormalizedName, ...]]:
    """The ``[aliases]`` table of a catalog-format file."""
    try:
        catalog = parse_catalog(path.read_bytes(), str(path))
    except CatalogError as exc:  # a matcher from before aliases (baseline runs)
        print(f"aliases: {path} not usable: {exc}")
        return {}
    return dict(catalog.aliases)


def top_catalog(
    top: Sequence[str], aliases: dict[NormalizedName, tuple[NormalizedName, ...]] | None = None
) -> Catalog:
    """The top projects as a catalog, with ``aliases`` declared for those it lists."""
    names = {NormalizedName(n): n for n in top}
    declared = {k: v for k, v in (aliases or {}).items() if k in names}
    # Without aliases, a plain catalog: the baseline (code from before aliases) runs too.
    return Catalog(names=names, aliases=declared) if declared else Catalog(names=names)


# --- recall --------------------------------------------------------------------------------


def _glued(name: str) -> str:
    return rules.skeleton_key(rules.ultra_key(name))


def miss_cause(public: str, target: str) -> str:
    """Why a squat may have been missed, from the two names alone (not from the rules):
    the first of these that fits."""
    if len(target) <= 4:
        return "short target (4 chars or fewer)"
    gp, gt = _glued(public), _glued(target)
    if OSA.distance(gp, gt) <= 1:
        return "separator or look-alike, plus a typo"
    stripped = target.rstrip("0123456789-")
    for short in {stripped, target.removeprefix("py"), target.removeprefix("python-")}:
        if short != target and OSA.distance(public, short) <= 2:
            return "the typed name (alias) plus typos"
    if gt in gp:
        extra = gp.replace(gt, "", 1)
        if extra in {_glued(a) for a in rules.AFFIXES}:
            return "affix glued on"
        return "combosquat: extra words around the exact name"
    distance = OSA.distance(public, target)
    if distance == 2:
        return "two edits" if public[:2] == target[:2] else "two edits, the start changed"
    if distance <= 3:
        return f"{distance} edits"
    return "other"


def recall(
    matcher: CatalogMatcher, pairs: Sequence[tuple[str, str]], *, show_misses: bool = True
) -> float:
    """Print recall (overall, even and odd lines) and misses by cause; return the recall."""
    found: list[bool] = []
    by_severity: Counter[str] = Counter()
    for public, target in pairs:
        hits = [m for m in matcher.match(NormalizedName(public)) if m.internal_name == target]
        found.append(bool(hits))
        if hits:
            by_severity[str(max(m.severity for m in hits))] += 1
    total = len(pairs)
    rate = sum(found) / total if total else 0.0
    _show("  squats", total)
    _show("  found, matched to their own target", sum(found))
    _show("  recall", 100 * rate, "%")
    for parity, label in ((0, "even"), (1, "odd")):
        part = [f for i, f in enumerate(found) if i % 2 == parity]
        _show(f"  recall on the {label} lines", 100 * sum(part) / max(1, len(part)), "%")
    for severity in ("critical", "high", "medium", "low"):
        _show(f"  found at {severity}", by_severity[severity])
    if show_misses:
        causes = Counter(miss_cause(p, t) for (p, t), f in zip(pairs, found, strict=True) if not f)
        for cause, count in causes.most_common():
            _show(f"  missed: {cause}", count)
    return rate


# --- noise ---------------------------------------------------------------------------------


def _score(match: Match) -> float:
    # Matches from before scores (baseline runs) all count as 1.
    return float(getattr(match, "score", 1.0))


def noise(matches: Iterable[Match], total: int, exclude: set[str], label: str) -> None:
    """Print how many public names alert, by severity and by their strongest match's kind."""
    strongest: dict[str, Match] = {}
    kinds: Counter[str] = Counter()
    for m in matches:
        if m.public_name in exclude:
            continue
        kinds[str(m.kind)] += 1
        best = strongest.get(m.public_name)
        if best is None or (m.severity, _score(m)) > (best.severity, _score(best)):
            strongest[m.public_name] = m
    severities = Counter(m.severity for m in strongest.values())
    medium = sum(n for s, n in severities.items() if s >= Risk.MEDIUM)
    _show(f"{label}: public names alerting, any severity", len(strongest))
    _show("  of all public names", 100 * len(strongest) / max(1, total), "%")
    _show("  at medium or above", medium)
    _show("  at medium or above, of all public names", 100 * medium / max(1, total), "%")
    for risk in sorted(severities, reverse=True):
        _show(f"  strongest {risk}", severities[risk])
    by_kind = Counter((str(m.kind), str(m.severity)) for m in strongest.values())
    for (kind, severity), count in sorted(by_kind.items()):
        _show(f"  names by strongest kind: {kind} ({severity})", count)
    for kind, count in sorted(kinds.items()):
        _show(f"  matches of kind {kind}", count)


def company_catalog(seed: int = 13, size: int = 200) -> Catalog:
    """A plausible company catalog (deterministic for a seed): ``acme-*`` and ``pins-*``
    names, and names outside the prefixes made of a common package word and an affix word
    (``kafka-core``): common words on their own are public projects, not internal names."""
    rng = random.Random(seed)
    words = [w for w in COMMON if len(w) >= 3 and w not in rules.AFFIXES]
    affixes = ["core", "cli", "client", "sdk", "api", "utils", "tools", "lib"]
    names: set[str] = set()
    while len(names) < size:
        parts = [rng.choice(words)]
        if rng.random() < 0.4:
            parts.append(rng.choice(words))
        roll = rng.random()
        if roll < 0.4:
            parts.insert(0, "acme")
        elif roll < 0.8:
            parts.insert(0, "pins")
        if roll >= 0.8 or rng.random() < 0.5:
            parts.append(rng.choice(affixes))
        names.add("-".join(dict.fromkeys(parts)))
    return Catalog(
        names={NormalizedName(n): n for n in sorted(names)},
        prefixes={NormalizedName("acme"): "acme", NormalizedName("pins"): "pins"},
    )


# --- speed ---------------------------------------------------------------------------------


def speed(matcher: CatalogMatcher, names: Sequence[str], samples: Sequence[str]) -> None:
    """Floor (read + canonicalize one by one) against a one-process scan; lookup latencies."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "names.txt")
        path.write_text("\n".join(names) + "\n")
        started = time.perf_counter()
        floor = [canonicalize_name(line) for line in path.read_text().splitlines() if line]
        baseline = time.perf_counter() - started
        del floor
        started = time.perf_counter()
        scan(matcher, read_dump(path).text, workers=1)
        full = time.perf_counter() - started
    _show("floor: read + canonicalize one by one", baseline, "s")
    _show("scan, 1 process (read + canonicalize + all rules)", full, "s")
    _show("  ratio to the floor", full / baseline, "x")
    latencies = []
    for name in samples:
        began = time.perf_counter()
        matcher.match(NormalizedName(name))
        latencies.append(time.perf_counter() - began)
    latencies.sort()
    _show("lookup public name vs catalog p50", latencies[len(latencies) // 2] * 1e6, "us")
    _show("lookup public name vs catalog p99", latencies[int(len(latencies) * 0.99)] * 1e6, "us")


def run(
    public_list: Path | None,
    dev_set: Path | None,
    aliases_file: Path | None,
    *,
    tables: bool = True,
) -> None:
    """Every figure whose inputs are present; ``tables``: the threshold tables too."""
    if public_list is None or not public_list.is_file():
        print(f"public list: {public_list or '(not given)'} not found: recall, noise and speed")
        print("need it (--public-list or WATCHER_BENCH_PUBLIC_LIST); nothing measured")
        return
    started = time.perf_counter()
    listing = read_public_list(public_list)
    _show("public names", len(listing.names))
    _show("top projects (catalog)", len(listing.top))
    _show("read the public list", time.perf_counter() - started, "s")
    aliases = read_aliases(aliases_file) if aliases_file and aliases_file.is_file() else {}
    if aliases_file and not aliases:
        print(f"aliases: {aliases_file} not found or empty: declared aliases not used")
    plain = CatalogMatcher(top_catalog(listing.top))
    declared = CatalogMatcher(top_catalog(listing.top, aliases))
    dev: list[tuple[str, str]] = []
    if dev_set is None or not dev_set.is_file():
        print(f"dev set: {dev_set or '(not given)'} not found: no recall figures")
    else:
        dev = read_dev_set(dev_set)
        print("recall on the dev set, generated aliases only")
        recall(plain, dev, show_misses=False)
        print("recall on the dev set, with the declared aliases too")
        recall(declared, dev)
    exclude = set(listing.top) | {p for p, _ in dev}
    rng = random.Random(5)
    total = len(listing.names) - len(set(listing.names) & exclude)
    _show("public names counted for noise (catalog and dev set excluded)", total)
    matches = scan(declared, "\n".join(listing.names).encode(), workers=os.cpu_count())
    noise(matches, total, exclude, "top-5,000 catalog")
    if tables:
        dev_hits = [
            m for p, t in dev for m in declared.match(NormalizedName(p)) if m.internal_name == t
        ]
        quality_tables.scores(matches, dev_hits, exclude)
        quality_tables.thresholds(top_catalog(listing.top, aliases), listing.names, dev, exclude)
        quality_tables.root_typos(listing.names, listing.top)
    company = CatalogMatcher(company_catalog())
    matches = scan(company, "\n".join(listing.names).encode(), workers=os.cpu_count())
    noise(matches, len(listing.names), set(), "company catalog (200 names, acme/pins)")
    samples = rng.sample(listing.names, min(20_000, len(listing.names)))
    speed(declared, listing.names, samples + [p for p, _ in dev])


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    env_public = os.environ.get("WATCHER_BENCH_PUBLIC_LIST")
    parser.add_argument(
        "--public-list", type=Path, default=Path(env_public) if env_public else None
    )
    env_dev = os.environ.get("WATCHER_BENCH_DEV_SET")
    parser.add_argument(
        "--dev-set", type=Path, default=Path(env_dev) if env_dev else DEFAULT_DEV_SET
    )
    parser.add_argument("--aliases", type=Path, default=DEFAULT_ALIASES)
    parser.add_argument(
        "--no-tables", action="store_true", help="skip the threshold tables (one more scan)"
    )
    args = parser.parse_args(argv)
    run(args.public_list, args.dev_set, args.aliases, tables=not args.no_tables)


if __name__ == "__main__":
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    main()
