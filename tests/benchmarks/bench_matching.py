"""Matching benchmark: prints its figures and ratios against baselines measured in the same run.

    python -m tests.benchmarks.bench_matching                 # 1M public x 10k internal + 20
    python -m tests.benchmarks.bench_matching --public 200000 # smaller
    python -m tests.benchmarks.bench_matching --names dump.txt --catalog catalog.toml

Figures (timed runs: the best of ``--process-runs``): baseline (read and canonicalize every
name, one by one, with packaging), the full
scan (read, canonicalize, match with every rule) in one process and in one process per CPU,
their ratios; the whole ``watcher scan`` process (start to exit) against a process that only
reads and canonicalizes the same file, and their ratio; matches per kind and planted
look-alikes found; single-name latencies (public name vs catalog; proposed name vs the
whole public index); peak memory; and a
brute-force reference (all-pairs edit distance with rapidfuzz's ``process.cdist``, the typo
rule alone) timed on a sample and extrapolated, with the speed-up.

The synthetic corpus is generated in a child process and written to files, so the memory
figures are those of a process that only reads, indexes and matches.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from packaging.utils import canonicalize_name
from rapidfuzz import process
from rapidfuzz.distance import OSA

import watcher
from tests.benchmarks import corpus as corpus_module
from watcher.catalog import load_catalog_file
from watcher.matching import rules
from watcher.matching.engine import CatalogMatcher
from watcher.matching.public_index import PublicIndex
from watcher.matching.scan import read_dump, scan


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _write_corpus(folder: str, public: int, internal: int, prefixes: int) -> None:
    built = corpus_module.build(public, internal, prefixes)
    Path(folder, "names.txt").write_text("\n".join(built.public) + "\n")
    Path(folder, "catalog.toml").write_text(built.catalog_toml())
    Path(folder, "planted.tsv").write_text("".join(f"{d}\t{t}\t{k}\n" for d, t, k in built.planted))


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return (
        ordered[len(ordered) // 2] * 1e6,
        ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e6,
    )


def _show(label: str, value: float, unit: str = "") -> None:
    print(f"{label:<52} {value:>14,.3f} {unit}", flush=True)


def _scan_phase(
    names_file: Path,
    catalog_file: Path,
    planted_file: Path | None,
    workers: int,
    brute_sample: int,
    repeat: int,
) -> None:
    """Baseline, full scans, counts, catalog lookups and brute force, in one process."""
    catalog = load_catalog_file(catalog_file)
    _show("internal names", len(catalog.names))
    _show("prefixes", len(catalog.prefixes))

    # Every timed run is repeated, the best of `repeat` kept: the runs least disturbed by
    # other load on a shared machine (one run can be a third slower than the next). The
    # baseline runs first, in a process that holds no index (whose objects would slow the
    # collector's passes over its million strings).
    baselines: list[float] = []
    for _ in range(repeat):
        started = time.perf_counter()
        lines = names_file.read_text().splitlines()
        baseline_names = [canonicalize_name(line) for line in lines if line]
        baselines.append(time.perf_counter() - started)
        count = len(baseline_names)
        del lines, baseline_names

    started = time.perf_counter()
    matcher = CatalogMatcher(catalog)
    matcher.bulk_filter()
    _show("catalog index build (rules + bulk filter)", time.perf_counter() - started, "s")

    singles: list[float] = []
    parallels: list[float] = []
    for _ in range(repeat):
        started = time.perf_counter()
        single = scan(matcher, read_dump(names_file).text, workers=1)
        singles.append(time.perf_counter() - started)

        started = time.perf_counter()
        parallel = scan(matcher, read_dump(names_file).text, workers=workers)
        parallels.append(time.perf_counter() - started)
        if set(single) != set(parallel):
            raise SystemExit("parallel scan differs from the single-process one")
    baseline = min(baselines)
    _show("public names", count)
    _show(f"baseline: read + canonicalize one by one, best of {repeat}", baseline, "s")
    _show(f"full match, 1 process (read+canon+all rules), best of {repeat}", min(singles), "s")
    _show("  ratio to baseline", min(singles) / baseline, "x")
    _show(f"full match, {workers} processes, best of {repeat}", min(parallels), "s")
    _show("  ratio to baseline", min(parallels) / baseline, "x")
    dump = read_dump(names_file)

    counts = Counter(str(m.kind) for m in single)
    _show("matches, all kinds", len(single))
    for kind, number in sorted(counts.items()):
        _show(f"  {kind}", number)
    if planted_file is not None:
        found = {(m.public_name, m.internal_name, str(m.kind)) for m in single}
        planted = [line.split("\t") for line in planted_file.read_text().splitlines()]
        missed = [p for p in planted if (canonicalize_name(p[0]), p[1], p[2]) not in found]
        _show("planted look-alikes", len(planted))
        _show("  found with the right kind", len(planted) - len(missed))
        for display, target, kind in missed[:10]:
            print(f"  MISSED {display} -> {target} ({kind})")
    _show("peak RSS of the scan process", _rss_mb(), "MiB")

    rng = random.Random(7)
    public = [n.decode() for n in dump.names]
    sample = rng.sample(public, min(20_000, len(public)))
    sample += [m.public_name for m in single[:2_000]]
    latencies = []
    for name in sample:
        began = time.perf_counter()
        matcher.match(name)  # type: ignore[arg-type]
        latencies.append(time.perf_counter() - began)
    p50, p99 = _percentiles(latencies)
    _show("lookup public name vs catalog p50", p50, "us")
    _show("lookup public name vs catalog p99", p99, "us")

    internal = sorted(n for n in catalog.names if len(n) >= rules.MIN_FUZZY_LENGTH)
    brute = rng.sample(public, min(brute_sample, len(public)))
    started = time.perf_counter()
    distances = process.cdist(
        brute, internal, scorer=OSA.distance, score_cutoff=1, dtype="uint8", workers=1
    )
    elapsed = time.perf_counter() - started
    extrapolated = elapsed * len(public) / len(brute)
    _show(f"brute force cdist, typo rule only, {len(brute)} names", elapsed, "s")
    _show("brute force extrapolated to all names", extrapolated, "s")
    _show("speed-up vs brute force (1 process each)", extrapolated / min(singles), "x")
    # Equivalence on the sample: every pair within one edit is reported (as typo or a more
    # specific kind).
    reported = {(m.public_name, m.internal_name) for m in single}
    missing = [
        (brute[i], internal[j])
        for i, j in zip(*(distances <= 1).nonzero(), strict=True)
        if brute[i] != internal[j] and (brute[i], internal[j]) not in reported
    ]
    _show("brute-force pairs (OSA<=1) missing from the scan", len(missing))


def _index_phase(names_file: Path, catalog_file: Path) -> None:
    """The public index in a process that holds nothing else: its memory is the figure."""
    _show("RSS before reading the public names", _rss_mb(), "MiB")
    public = [n.decode() for n in read_dump(names_file).names]
    started = time.perf_counter()
    index = PublicIndex(public)
    _show("public index build", time.perf_counter() - started, "s")
    _show("public index hash arrays", index.nbytes / 2**20, "MiB")
    # A long-lived index: keep the collector from re-walking it, as a service would.
    gc.freeze()
    catalog = load_catalog_file(catalog_file)
    queries = random.Random(11).sample(sorted(catalog.names), min(2_000, len(catalog.names)))
    latencies = []
    similar = 0
    for name in queries:
        began = time.perf_counter()
        similar += len(index.similar(name))
        latencies.append(time.perf_counter() - began)
    p50, p99 = _percentiles(latencies)
    _show("lookup proposed name vs public index p50", p50, "us")
    _show("lookup proposed name vs public index p99", p99, "us")
    _show("  public look-alikes found for the queries", similar)
    _show(f"peak RSS with {len(index):,} public names indexed", _rss_mb(), "MiB")


# The floor of the whole-process figure: a Python process that reads the file and
# canonicalizes every name with packaging, one by one, and exits.
_READ_ONLY = (
    "import sys\n"
    "from packaging.utils import canonicalize_name\n"
    "with open(sys.argv[1]) as f:\n"
    "    names = [canonicalize_name(line) for line in f.read().splitlines() if line]\n"
)


def _timed_process(argv: list[str]) -> float:
    """Seconds from start to exit of a child process (its output thrown away)."""
    root = Path(watcher.__file__).resolve().parent.parent  # so `-m watcher` is this tree
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"{argv[1:4]} failed: {done.stderr.decode(errors='replace')}")
    return elapsed


def _process_phase(names_file: Path, catalog_file: Path, workers: int, repeat: int) -> None:
    """``watcher scan`` as users run it, start to exit, against the read-only floor: each
    run alternately, the best of ``repeat`` each (the least disturbed by other load)."""
    scan_argv = [sys.executable, "-m", "watcher", "scan", "--names", str(names_file)]
    scan_argv += ["--catalog", str(catalog_file), "--json", "--workers", str(workers)]
    floor_argv = [sys.executable, "-c", _READ_ONLY, str(names_file)]
    floors, scans = [], []
    for _ in range(repeat):
        floors.append(_timed_process(floor_argv))
        scans.append(_timed_process(scan_argv))
    _show("process: read + canonicalize, start to exit", min(floors), "s")
    _show(f"process: watcher scan --json, {workers} workers", min(scans), "s")
    _show("  ratio to the read-only process", min(scans) / min(floors), "x")


def _in_child(target: object, *args: object) -> None:
    child = multiprocessing.get_context("fork").Process(target=target, args=args)  # type: ignore[arg-type]
    child.start()
    child.join()
    if child.exitcode != 0:
        raise SystemExit(f"benchmark phase failed with exit code {child.exitcode}")


def run(
    names_file: Path,
    catalog_file: Path,
    planted_file: Path | None,
    workers: int,
    brute_sample: int,
    repeat: int = 5,
) -> None:
    """Each phase in a fresh process, so each one's peak memory is its own."""
    _in_child(_scan_phase, names_file, catalog_file, planted_file, workers, brute_sample, repeat)
    _process_phase(names_file, catalog_file, workers, repeat)
    _in_child(_index_phase, names_file, catalog_file)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--public", type=int, default=1_000_000)
    parser.add_argument("--internal", type=int, default=10_000)
    parser.add_argument("--prefixes", type=int, default=20)
    parser.add_argument("--names", type=Path, help="a dump of public names instead")
    parser.add_argument("--catalog", type=Path, help="the catalog for --names")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--brute-sample", type=int, default=2_000)
    parser.add_argument(
        "--process-runs",
        type=int,
        default=5,
        help="runs of each timed scan and its baseline, in process and whole (best kept)",
    )
    args = parser.parse_args(argv)
    if args.names:
        if not args.catalog:
            parser.error("--names needs --catalog")
        run(args.names, args.catalog, None, args.workers, args.brute_sample, args.process_runs)
        return
    with tempfile.TemporaryDirectory() as folder:
        _in_child(_write_corpus, folder, args.public, args.internal, args.prefixes)
        base = Path(folder)
        run(
            base / "names.txt",
            base / "catalog.toml",
            base / "planted.tsv",
            args.workers,
            args.brute_sample,
            args.process_runs,
        )


if __name__ == "__main__":
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    main()
