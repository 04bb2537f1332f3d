"""Check API benchmark: ``GET /v1/names/{name}`` and ``POST /v1/check`` served by the real
app, with a million known public names indexed both ways; prints its figures.

    python -m tests.benchmarks.bench_check_api                      # 1M names, 64 clients
    python -m tests.benchmarks.bench_check_api --names 100000 --requests 5000

The service side runs in this process (the production app, checker and in-memory view of
the known names, over a migrated SQLite database; the index is the simulator, which a name
the store knows must never reach); the clients run in a second process (64 concurrent
connections by default), so the two cores are one for each side. Figures: the time and
memory to index the names (RSS of this process before and after), requests per second and
p50/p99 latency of name checks of known names, the same against a floor measured in the
same run (an aiohttp handler answering a fixed JSON document on the same machine), the
index requests the checks made (the goal: none), and p50/p99 of ``POST /v1/check`` with a
300-line hash-pinned requirements file. Goals (issue 14): 1,500 requests/s, p99 <= 5 ms;
check p99 <= 100 ms; memory <= 400 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from packaging.utils import canonicalize_name

from tests.benchmarks import corpus as corpus_module
from watcher.catalog.model import Catalog
from watcher.checks import NameChecker
from watcher.matching.live import LiveCatalog
from watcher.matching.public_index import PublicIndex
from watcher.matching.public_names import PublicNames
from watcher.pypi import IndexClient
from watcher.simulator.server import SimulatedIndex
from watcher.store import Database
from watcher.store.base import utcnow
from watcher.web import create_app
from watcher.web.server import bound_port, start_api

HASH = "--hash=sha256:" + "c" * 64


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


# -- the clients (a second process) -------------------------------------------------------


async def _load(
    url: str, names: list[str], clients: int, requests: int, rate: float | None
) -> dict[str, Any]:
    """``requests`` name checks over ``clients`` connections, each name once (the cold case),
    as fast as they answer (``rate`` None: the throughput) or at ``rate`` per second in all
    (the latency at that load; timed from when each request was due, so a slow answer
    delaying the next request is counted, not hidden)."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def ask(name: str) -> None:
            async with session.get(f"{url}/v1/names/{name}") as resp:
                await resp.read()
            statuses[resp.status] = statuses.get(resp.status, 0) + 1

        for name in names[:clients]:  # warm up: connections, caches
            await ask(name)
        statuses.clear()
        todo = names[clients : clients + requests]
        started = time.perf_counter()

        async def client(index: int) -> None:
            for k, name in enumerate(todo[index::clients]):
                due = started + (k * clients + index) / rate if rate else time.perf_counter()
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                await ask(name)
                latencies.append(time.perf_counter() - due)

        await asyncio.gather(*(client(n) for n in range(clients)))
        elapsed = time.perf_counter() - started
    return {"latencies": latencies, "elapsed": elapsed, "statuses": statuses}


async def _checks(url: str, body: str, count: int) -> dict[str, Any]:
    latencies: list[float] = []
    risky = None
    async with aiohttp.ClientSession() as session:
        for _ in range(count):
            start = time.perf_counter()
            async with session.post(
                f"{url}/v1/check", data=body, headers={"Content-Type": "text/plain"}
            ) as resp:
                answer = await resp.json()
            latencies.append(time.perf_counter() - start)
            risky = answer.get("risky")
    return {"latencies": latencies, "risky": risky}


def _memory_main(names_file: str) -> None:
    """A process holding what the service holds: its stack imported, the names indexed."""
    import watcher.app  # noqa: F401 - the service's whole stack, as `watcher run` has it

    before = _rss_mib()
    names = Path(names_file).read_text().split()
    known = PublicNames()
    known.replace(PublicIndex(names), utcnow())
    gc.freeze()
    print(json.dumps({"before": before, "after": _rss_mib(), "names": len(names)}))


def _client_main(spec: str) -> None:
    job = json.loads(Path(spec).read_text())
    if job["kind"] == "names":
        result = asyncio.run(
            _load(job["url"], job["names"], job["clients"], job["requests"], job.get("rate"))
        )
    else:
        result = asyncio.run(_checks(job["url"], job["body"], job["count"]))
    print(json.dumps(result))


async def _run_clients(folder: Path, job: dict[str, Any]) -> dict[str, Any]:
    spec = folder / f"{job['kind']}.json"
    spec.write_text(json.dumps(job))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.benchmarks.bench_check_api",
        "--client",
        str(spec),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    result: dict[str, Any] = json.loads(out)
    return result


# -- the service side ----------------------------------------------------------------------


async def _floor_app() -> web.AppRunner:
    async def fixed(request: web.Request) -> web.Response:
        return web.json_response({"name": request.match_info["name"], "risk": "none"})

    app = web.Application()
    app.router.add_get("/v1/names/{name}", fixed)
    return await start_api(app, "127.0.0.1", 0)


def _report_names(label: str, result: dict[str, Any], floor: dict[str, Any] | None) -> float:
    latencies = result["latencies"]
    rps = len(latencies) / result["elapsed"]
    p50, p99 = _percentile(latencies, 0.5) * 1e3, _percentile(latencies, 0.99) * 1e3
    line = f"{label:<34} {rps:>8,.0f} req/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms"
    if floor is not None:
        floor_rps = len(floor["latencies"]) / floor["elapsed"]
        line += f"   ({rps / floor_rps:.2f}x the floor's rate)"
    print(line)
    print(f"{'':<34} statuses {result['statuses']}")
    return float(rps)


async def _bench(args: argparse.Namespace) -> None:
    rng = random.Random(7)
    print(f"corpus: {args.names:,} public names (synthetic, deterministic)")
    built = corpus_module.build(args.names, 200, 2)
    names = sorted({canonicalize_name(n) for n in built.public})
    rss_before = _rss_mib()
    started = time.perf_counter()
    known = PublicNames()
    known.replace(PublicIndex(names), utcnow())
    if args.freeze:
        gc.freeze()  # as the service does after a build (watcher.sources.known_names)
    print(f"indexed both ways in {time.perf_counter() - started:.1f} s")
    rss_after = _rss_mib()
    print(
        f"this process (the corpus generator too): RSS {rss_before:.0f} MiB before "
        f"indexing, {rss_after:.0f} MiB after"
    )
    with tempfile.TemporaryDirectory() as folder_name:
        names_file = Path(folder_name, "names.txt")
        await asyncio.to_thread(names_file.write_text, "\n".join(names) + "\n")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.benchmarks.bench_check_api",
            "--memory",
            str(names_file),
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await proc.communicate()
    memory = json.loads(out)
    print(
        f"a process with the service's stack: {memory['before']:.0f} MiB; with "
        f"{memory['names']:,} names indexed both ways: {memory['after']:.0f} MiB "
        f"(goal <= 400 MB: {'met' if memory['after'] * 1.048576 <= 400 else 'NOT met'})"
    )
    catalog = Catalog(
        names={canonicalize_name(n): n for n in built.names},
        prefixes={canonicalize_name(p): p for p in built.prefixes},
    )
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        db = Database(f"sqlite+aiosqlite:///{folder / 'bench.db'}")
        await db.upgrade()
        index = SimulatedIndex()
        await index.start()
        async with aiohttp.ClientSession() as http:
            client = IndexClient(http, index.base_url, retries=0)
            checker = NameChecker(LiveCatalog.of(catalog), client, known=known)
            runner = await start_api(create_app(checker, db, None), "127.0.0.1", 0)
            floor_runner = await _floor_app()
            url = f"http://127.0.0.1:{bound_port(runner, 0)}"
            floor_url = f"http://127.0.0.1:{bound_port(floor_runner, 0)}"
            # Every request a different known name: nothing is answered from a cache.
            sample = rng.sample(names, min(len(names), args.requests + args.clients))
            job = {"kind": "names", "clients": args.clients, "requests": args.requests}
            print(f"\n{args.clients} concurrent clients, {args.requests:,} requests a run")
            floor = await _run_clients(folder, {**job, "url": floor_url, "names": sample})
            _report_names("floor, as fast as it answers", floor, None)
            before = len(index.requests)
            result = await _run_clients(folder, {**job, "url": url, "names": sample})
            rps = _report_names("GET /v1/names, as fast as it answers", result, floor)
            steady = await _run_clients(
                folder, {**job, "url": url, "names": sample, "rate": args.rate}
            )
            _report_names(f"GET /v1/names at {args.rate:,.0f} req/s", steady, None)
            asked = len(index.requests) - before
            print(f"index requests made by those checks: {asked} (goal: 0)")
            p99 = _percentile(steady["latencies"], 0.99) * 1e3
            verdict = "met" if rps >= args.rate and p99 <= 5 else "NOT met"
            print(f"goal: {args.rate:,.0f} req/s sustained, p99 <= 5 ms at that rate: {verdict}")

            lines = [f"{name}==1.0 {HASH}" for name in rng.sample(names, args.deps)]
            body = "\n".join(lines) + "\n"
            checks = await _run_clients(
                folder, {"kind": "check", "url": url, "body": body, "count": args.check_requests}
            )
            lat = checks["latencies"]
            p50, p99c = _percentile(lat, 0.5) * 1e3, _percentile(lat, 0.99) * 1e3
            print(
                f"\nPOST /v1/check, {args.deps} hash-pinned requirements, {len(lat)} requests: "
                f"p50 {p50:.1f} ms, p99 {p99c:.1f} ms (goal <= 100 ms: "
                f"{'met' if p99c <= 100 else 'NOT met'}); risky={checks['risky']}"
            )
            print(f"RSS of the service at the end: {_rss_mib():.0f} MiB")
            await floor_runner.cleanup()
            await runner.cleanup()
        await index.close()
        await db.close()


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark (or, with ``--client``, one batch of its clients)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--deps", type=int, default=300)
    parser.add_argument("--check-requests", type=int, default=100)
    parser.add_argument("--rate", type=float, default=1500.0, help="offered load, req/s")
    parser.add_argument("--no-freeze", dest="freeze", action="store_false")
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--memory", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client:
        _client_main(args.client)
        return
    if args.memory:
        _memory_main(args.memory)
        return
    asyncio.run(_bench(args))


if __name__ == "__main__":
    main()
