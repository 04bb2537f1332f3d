"""Soak benchmark: a day of the index's releases in minutes while API clients ask names.

    python -m tests.benchmarks.bench_soak                   # SQLite: 50,000 releases, 15 min
    python -m tests.benchmarks.bench_soak --database-url postgresql+asyncpg://...
    python -m tests.benchmarks.bench_soak --releases 5000 --minutes 2 --clients 50

The service is the real one, ``watcher run`` in a child process: its RSS is its own (not
the load generator's), and the simulator, the fake Slack and the API clients here do not
share its event loop, so their CPU time is not counted as the service's latency. The
index (the shipped simulator) publishes releases at a steady rate, spam waves of junk
projects larger than a feed window (so the reconcile path runs too) and squats of the
catalog at known times; it answers per-project simple pages (what name look-ups read)
slowly. After a baseline slice with no API client, ``--clients`` clients ask
``/v1/names/{name}`` until the end. Printed per slice and overall: alert latency (Slack's
receipt minus the index's publication) against the bound (poll interval + 2 s), the
service's RSS, API answers by status and their latency, and the service log's feed errors.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import string
import sys
import tempfile
import time
from collections import Counter, deque
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import text

from tests.benchmarks.soak_clients import API_TOKEN
from tests.benchmarks.soak_report import (
    Plan,
    Record,
    Sample,
    Squat,
    collect_alerts,
    report,
)
from tests.fakes.pypi import FakeIndex
from tests.fakes.slack import FakeSlack
from tests.support import Daemon, until, write_catalog
from watcher.config import load_settings
from watcher.simulator import feeds
from watcher.store import Database

_SLOW_ROUTE = "/simple/{name}/"  # per-project pages: what a name look-up reads
_LETTERS = string.ascii_lowercase
_ROOT = Path(__file__).resolve().parents[2]  # where ``tests`` imports from


class SoakIndex(FakeIndex):
    """The simulator, with the updates feed rendered from the recently published projects.

    The bytes are the stock feed's (its 100 newest uploads are all among the projects
    published last); the stock renderer sorts every release on the index at each request
    (about 0.3 s at 70,000), which would make the load generator the bottleneck.
    """

    def __init__(self) -> None:
        super().__init__()
        self.recent: deque[str] = deque(maxlen=200)

    def render_updates_feed(self) -> bytes:
        """The body ``/rss/updates.xml`` answers right now."""
        projects = {n: p for n in self.recent if (p := self.lookup(n)) is not None}
        return feeds.updates_feed(projects.values(), self._base)

    def publish(self, name: str, version: str, owners: tuple[str, ...] = ("someone",)) -> None:
        """Upload a release and remember its project as recent."""
        self.add_release(name, version, owners=owners)
        self.recent.append(name)


def _names(rng: random.Random, count: int, stem: str = "") -> list[str]:
    """``count`` distinct made-up names, far from every catalog entry (letters, a number)."""
    return [
        f"{stem}{''.join(rng.choices(_LETTERS, k=rng.randint(6, 10)))}-{i}" for i in range(count)
    ]


def _rss_of(pid: int) -> int | None:
    """The process's resident set in bytes (Linux ``/proc``), or None when unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _cpu_of(pid: int) -> float | None:
    """CPU seconds (user and system) the process used so far (Linux ``/proc``), or None."""
    try:
        # The fields after the command name, which is in parentheses and may hold spaces.
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def publish(index: SoakIndex, plan: Plan, record: Record, t0: float) -> None:
    """Steady releases (mostly of existing projects), spam waves and squats, until cancelled."""
    rng = random.Random(3)
    existing = [p.name for p in index.projects()]
    versions: Counter[str] = Counter()
    steady = plan.releases - plan.waves * plan.wave_size
    rate = steady / plan.seconds
    waves = [plan.slice + plan.wave_every * (k + 0.5) for k in range(plan.waves)]
    next_squat = plan.squat_every / 2
    noise = 0
    while True:
        elapsed = time.time() - t0
        while noise < min(steady, int(rate * elapsed)):
            noise += 1
            if rng.random() < 0.15:
                name = _names(rng, 1, stem="new-")[0] + str(noise)
                existing.append(name)
            else:
                name = rng.choice(existing)
            versions[name] += 1
            index.publish(name, f"2.{versions[name]}")
            record.published += 1
        if waves and elapsed >= waves[0]:
            waves.pop(0)
            junk = _names(rng, plan.wave_size, stem=f"spam{len(waves)}-")
            hidden = rng.randrange(len(junk))
            for position, name in enumerate(junk):
                if position == hidden:
                    _plant(index, record, in_wave=True)
                index.publish(name, "0.0.1")
                record.published += 1
        if elapsed >= next_squat:
            next_squat += plan.squat_every
            _plant(index, record, in_wave=False)
        await asyncio.sleep(0.02)


def _plant(index: SoakIndex, record: Record, *, in_wave: bool) -> None:
    """Publish the next squat: every third one an exact squat of a catalog name in another
    spelling, the others new names under the ``acme`` prefix."""
    number = len(record.squats)
    if number % 3 == 2:
        display, canonical = f"Corp_Svc.{number:05d}", f"corp-svc-{number:05d}"
    else:
        display = canonical = f"acme-soak-{number:05d}"
    index.publish(display, "1.0.0", owners=("mallory",))
    record.squats[canonical] = Squat(canonical, time.time(), in_wave)


async def start_clients(
    api: str, names: list[str], clients: int, window: tuple[float, float], folder: Path
) -> asyncio.subprocess.Process:
    """Start the API clients in a process of their own (:mod:`tests.benchmarks.soak_clients`)
    for ``window`` (epoch seconds: from, until).

    Sharing the simulator's event loop, they would delay its answers (feeds, Slack's
    receipts), and that delay would be counted as the service's.
    """
    (folder / "names.json").write_text(json.dumps(names))
    start, until = window
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.benchmarks.soak_clients",
        *(api, str(clients), repr(start), repr(until), str(folder)),
        cwd=_ROOT,
    )


async def sample(index: SoakIndex, pid: int, record: Record) -> None:
    """Resources every second; the simulator's request log is dropped as it goes."""
    loop = asyncio.get_running_loop()
    while True:
        before = loop.time()
        await asyncio.sleep(1.0)
        record.samples.append(
            Sample(
                time=time.time(),
                rss=_rss_of(pid),
                service_cpu=_cpu_of(pid),
                own_cpu=time.process_time(),
                lag=loop.time() - before - 1.0,
                load=os.getloadavg()[0],
            )
        )
        index.requests.clear()


async def run(plan: Plan, folder: Path, database_url: str | None, seed_names: int) -> None:
    """Start the simulator, the fake Slack and the service; load them; print the figures."""
    rng = random.Random(1)
    url = database_url or f"sqlite+aiosqlite:///{folder / 'soak.db'}"
    db = Database(url)
    try:
        # The service brings a SQLite file to head itself; PostgreSQL starts empty here.
        if db.dialect == "postgresql":
            async with db.engine.begin() as conn:
                await conn.execute(text("DROP SCHEMA public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
            await db.upgrade()
    finally:
        await db.close()
    catalog = folder / "catalog.toml"
    exact = int(plan.seconds / plan.squat_every) + plan.waves + 3
    write_catalog(catalog, [f"corp-svc-{n:05d}" for n in range(exact)])
    known = _names(rng, plan.projects)
    async with SoakIndex() as index, FakeSlack() as slack:
        for name in known:
            index.publish(name, "1.0")
        settings = load_settings(
            pypi_url=index.base_url,
            catalog=catalog,
            database_url=url,
            poll_interval=plan.poll_interval,
            dispatch_interval=0.5,
            http_port=0,
            api_token=SecretStr(API_TOKEN),
            slack_token=SecretStr(slack.token),
            slack_channel="C0SOAK",
            slack_api_url=slack.base_url,
            log_format="json",
        )
        log = folder / "service.log"
        service = Daemon(settings, log)
        await service.start()
        assert service.proc is not None
        try:
            api = await _api_address(service, log)
            print(f"database: {db.dialect}; {plan.projects:,} projects on the index at start")
            print(f"name look-ups (/simple/NAME/) answered after {plan.lookup_delay} s")
            await _soak(plan, index, slack, service.proc.pid, api, known[:seed_names], log)
        finally:
            code = await service.terminate()
            print(f"{'service exit code':<44} {code:>10}")


def _read(log: Path) -> str:
    return log.read_text(errors="replace") if log.exists() else ""


async def _api_address(service: Daemon, log: Path) -> str:
    """Wait until the service listens, has loaded the whole index and has asked the index
    about every catalog entry (before look-ups turn slow); return its API's base URL."""
    found: list[str] = []

    async def ready() -> bool:
        assert service.proc is not None
        if service.proc.returncode is not None:
            raise SystemExit(f"the service exited {service.proc.returncode}; see {log}")
        lines = _read(log)
        found[:] = re.findall(r"API on (http://[\d.]+:\d+)", lines)
        checked = re.search(r"checked (\d+) of \1 new catalog entries", lines)
        return bool(found) and checked is not None and "reconciled " in lines

    await until(ready, 120, "the service to start", log)
    return found[0]


async def _soak(
    plan: Plan,
    index: SoakIndex,
    slack: FakeSlack,
    pid: int,
    api: str,
    names: list[str],
    log: Path,
) -> None:
    record = Record()
    index.slow_route(_SLOW_ROUTE, plan.lookup_delay)
    t0 = time.time()
    tasks = [
        asyncio.create_task(publish(index, plan, record, t0)),
        asyncio.create_task(sample(index, pid, record)),
    ]
    clients = None
    if plan.clients:
        # Started now, they wait for the baseline to end: their start-up is not in it.
        window = (t0 + plan.slice, t0 + plan.seconds)
        clients = await start_clients(api, names, plan.clients, window, log.parent)
    try:
        await asyncio.sleep(max(0.0, t0 + plan.seconds - time.time()))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if clients is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(clients.wait(), 30)
            if clients.returncode is None:
                clients.kill()
                await clients.wait()
    answers = log.parent / "answers.json"
    if answers.exists():
        record.api = [(t, status, took) for t, status, took in json.loads(answers.read_text())]
    # The last squats' alerts are still on their way: wait for them, within reason.
    with contextlib.suppress(TimeoutError):
        await slack.wait_for_messages(len(record.squats), timeout=max(30.0, 3 * plan.bound))
    await asyncio.sleep(2 * plan.poll_interval)  # a duplicate would show up by now
    report(plan, record, t0, log, collect_alerts(slack, record))


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=50_000)
    # 15 minutes keep the steady rate (about 48 releases a second) at half the updates
    # feed's window per poll: only the spam waves overflow it, not a slow poll.
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--slice", type=float, default=60.0, help="seconds per reported slice")
    # A sizeable index, as the real one is: the day adds a few percent to it, not 3x.
    parser.add_argument("--projects", type=int, default=200_000, help="on the index at start")
    parser.add_argument("--poll-interval", type=float, default=1.0)
    parser.add_argument("--lookup-delay", type=float, default=1.5, help="seconds per look-up")
    parser.add_argument("--wave-size", type=int, default=500, help="junk projects per wave")
    parser.add_argument("--wave-every", type=float, default=60.0, help="seconds between waves")
    parser.add_argument("--squat-every", type=float, default=3.0, help="seconds between squats")
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    args = parser.parse_args(argv)
    plan = Plan(
        releases=args.releases,
        seconds=args.minutes * 60,
        clients=args.clients,
        slice=min(args.slice, args.minutes * 60),
        projects=args.projects,
        poll_interval=args.poll_interval,
        lookup_delay=args.lookup_delay,
        wave_size=args.wave_size,
        wave_every=args.wave_every,
        squat_every=args.squat_every,
    )
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(run(plan, Path(folder), args.database_url, seed_names=1000))


if __name__ == "__main__":
    main()
