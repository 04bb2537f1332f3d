"""Whole-index listing benchmark: parse, initial load, unchanged diff, diff with changes.

    python -m tests.benchmarks.bench_listing                       # SQLite, 1M projects
    python -m tests.benchmarks.bench_listing --database-url postgresql+asyncpg://...
    python -m tests.benchmarks.bench_listing --projects 200000

Each figure is printed with its seconds and the process's peak memory. The listing is the
PEP 691 JSON the index serves (``{"meta": ..., "projects": [{"_last-serial", "name"}]}``),
generated here; the database is built by the real migrations.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import random
import resource
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

from tests.benchmarks.corpus import build
from watcher.names import canonicalize_many
from watcher.pypi.simple import parse_index_json
from watcher.store import Database
from watcher.store import listing as listing_store
from watcher.store.base import utcnow


def _show(label: str, value: float, unit: str = "") -> None:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{label:<56} {value:>10,.3f} {unit:<3} (peak RSS {rss:,.0f} MiB)", flush=True)


def _listing(names: list[str], serials: list[int]) -> bytes:
    projects = [{"_last-serial": s, "name": n} for n, s in zip(names, serials, strict=True)]
    return json.dumps(
        {"meta": {"_last-serial": max(serials), "api-version": "1.4"}, "projects": projects},
        separators=(",", ":"),
    ).encode()


def _baseline(body: bytes) -> float:
    """The floor any approach pays: parse the listing and canonicalize and decode every name."""
    started = time.perf_counter()
    listing = parse_index_json(body, url="bench", header_serial=None, etag=None)
    for start in range(0, len(listing.names), 50_000):
        batch = listing.names[start : start + 50_000]
        canonicalize_many(batch)
        [name.decode() for name in batch]
    return time.perf_counter() - started


async def _apply(db: Database, body: bytes, label: str, baseline: float) -> None:
    started = time.perf_counter()
    listing = parse_index_json(body, url="bench", header_serial=None, etag=None)
    parsed = time.perf_counter() - started
    async with db.write() as session:
        await listing_store.load_snapshot(
            session, listing.names, listing.serials, serial=listing.serial
        )
        loaded = time.perf_counter() - started
        changed = 0
        async for batch in listing_store.new_or_changed(session):
            changed += len(batch)
        diff = await listing_store.apply_snapshot(session, utcnow())
    total = time.perf_counter() - started
    _show(f"{label}: parse", parsed, "s")
    _show(f"{label}: + load and diff into temporary tables", loaded - parsed, "s")
    _show(f"{label}: + diff and apply (total)", total, "s")
    print(f"    {total / baseline:.1f}x the baseline")
    print(f"    new {diff.new:,}, changed {diff.changed:,}, removed {diff.removed:,}")


def _changes(projects: int) -> int:
    """New releases in the changed listing (plus half as many replaced projects, each a
    removal and a new name): 2,500 + 2 x 1,250 = 5,000 changes at 1M, proportional below."""
    return min(2_500, projects // 400)


def _write_listings(folder: str, projects: int) -> None:
    names = list(build(projects, internal_count=100, prefix_count=2).public)
    rng = random.Random(5)
    serials = [rng.randint(1, 30_000_000) for _ in names]
    Path(folder, "listing.json").write_bytes(_listing(names, serials))
    releases = _changes(len(names))
    for index in rng.sample(range(len(names)), releases):
        serials[index] += 1  # a new release
    for index in rng.sample(range(len(names)), releases // 2):
        names[index] = f"brand-new-{index}"  # one project removed, another one new
    Path(folder, "changed.json").write_bytes(_listing(names, serials))


async def run(folder: Path, database_url: str | None) -> None:
    """Initial load, unchanged diff and a diff with 5,000 changes, on one database."""
    url = database_url or f"sqlite+aiosqlite:///{folder / 'bench.db'}"
    db = Database(url)
    try:
        if db.dialect == "postgresql":
            async with db.engine.begin() as conn:
                await conn.execute(text("DROP SCHEMA public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
        await db.upgrade()
        print(f"database: {db.dialect}")
        body = (folder / "listing.json").read_bytes()
        _show("listing size", len(body) / 2**20, "MiB")
        baseline = _baseline(body)
        _show("baseline: parse + canonicalize, no database", baseline, "s")
        await _apply(db, body, "initial load", baseline)
        await _apply(db, body, "unchanged", baseline)
        del body
        body = (folder / "changed.json").read_bytes()
        changes = 2 * _changes(
            len(parse_index_json(body, url="", header_serial=None, etag=None).names)
        )
        await _apply(db, body, f"{changes:,} changes", baseline)
    finally:
        await db.close()


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=1_000_000)
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        # Generated in a child process, so the figures are those of a process that only
        # reads, loads and diffs.
        child = multiprocessing.get_context("fork").Process(
            target=_write_listings, args=(folder, args.projects)
        )
        child.start()
        child.join()
        if child.exitcode != 0:
            raise SystemExit("listing generation failed")
        asyncio.run(run(Path(folder), args.database_url))


if __name__ == "__main__":
    main()
