"""Private index benchmark: loading every project page of a private index, and reloading it.

    python -m tests.benchmarks.bench_private_index                  # 2,000 projects
    python -m tests.benchmarks.bench_private_index --pypiserver-projects 500
    python -m tests.benchmarks.bench_private_index --projects 500 --concurrency 16

Two real servers on 127.0.0.1, each holding the same number of projects (one sdist each):
pypiserver (PEP 503 HTML, no ETags, as many private indexes are) for the load at the given
concurrency against concurrency 1 (the baseline, measured in the same run), and the shipped
simulator (PEP 691 JSON with ETags) for a full load against a reload in which every page
answers 304. Figures are seconds and pages a second; ratios are against the baseline.

pypiserver's default backend rescans its whole package folder for every page and serves
one request at a time (wsgiref), so its figures are bound by the server (about 0.13 s a
page at 2,000 projects: 5 to 8 minutes per load on a busy 2-core machine) and
concurrency gains little there; its listen backlog of 5 also drops connections beyond it
(the reader's retries absorb that, as in production). ``--pypiserver-projects`` makes
that part smaller; the simulator shows what the reader itself costs.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from tests.support import build_sdist, pypiserver
from watcher.catalog.model import IndexSpec
from watcher.catalog.private import DEFAULT_CONCURRENCY, PrivateLoad, open_private_index
from watcher.simulator import SimulatedIndex


def _show(label: str, seconds: float, pages: int) -> None:
    print(f"{label:<52} {seconds:>8.2f} s  {pages / seconds:>8,.0f} pages/s", flush=True)


def _names(projects: int) -> list[str]:
    return [f"acme-internal-{i:05d}" for i in range(projects)]


def _build(folder: Path, projects: int) -> None:
    for name in _names(projects):
        build_sdist(folder, name, "1.0.0")


async def _load(
    spec: IndexSpec, concurrency: int, previous: PrivateLoad | None = None
) -> PrivateLoad:
    async with open_private_index(spec, concurrency=concurrency) as reader:
        if previous is None:
            return await reader.load()
        return await reader.load(previous.packages, previous.etags)


async def _pypiserver(folder: Path, projects: int, concurrency: int) -> None:
    async with pypiserver(folder) as root:
        spec = IndexSpec(root)
        baseline = await _load(spec, 1)
        assert len(baseline.packages) == projects, len(baseline.packages)
        _show("pypiserver (HTML): load at concurrency 1 (baseline)", baseline.seconds, projects)
        loaded = await _load(spec, concurrency)
        _show(f"pypiserver (HTML): load at concurrency {concurrency}", loaded.seconds, projects)
        print(f"    {loaded.seconds / baseline.seconds:.2f}x the baseline")
        # pypiserver sends no ETag, so a reload reads every page again: it costs a load.
        print(f"    reload: no ETags from pypiserver ({len(loaded.etags)}), the same cost again")


async def _simulator(projects: int, concurrency: int) -> None:
    async with SimulatedIndex() as index:
        for name in _names(projects):
            index.add_release(name, "1.0.0")
        spec = IndexSpec(f"{index.base_url}/simple/")
        baseline = await _load(spec, 1)
        _show("simulator (JSON): load at concurrency 1 (baseline)", baseline.seconds, projects)
        loaded = await _load(spec, concurrency)
        _show(f"simulator (JSON): load at concurrency {concurrency}", loaded.seconds, projects)
        print(f"    {loaded.seconds / baseline.seconds:.2f}x the baseline")
        started = time.perf_counter()
        again = await _load(spec, concurrency, loaded)
        seconds = time.perf_counter() - started
        assert again.unchanged == projects, again.unchanged
        _show("simulator (JSON): reload, every page 304", seconds, projects)
        print(f"    {seconds / baseline.seconds:.2f}x the baseline, {again.unchanged:,} pages 304")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=2_000)
    parser.add_argument("--pypiserver-projects", type=int, help="default: --projects")
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    args = parser.parse_args(argv)
    served = args.projects if args.pypiserver_projects is None else args.pypiserver_projects
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        _build(Path(folder), served)
        print(f"{served:,} projects built in {time.perf_counter() - started:.1f} s")
        asyncio.run(_pypiserver(Path(folder), served, args.concurrency))
    asyncio.run(_simulator(args.projects, args.concurrency))


if __name__ == "__main__":
    main()
