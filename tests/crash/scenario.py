"""One crash-point run: a fresh database and fakes, the scenario, a daemon killed at a
chosen commit and restarted until everything it should alert is delivered.

The scenario touches every path from the index to Slack:

- stage A, on the index before the first start: three squats in the feeds; one squat
  (``acme-hidden``) pushed out of both feed windows, which only the whole-index reconcile
  sees; our own project ``acme-public-sdk``, owned by the catalog's owner;
- stage B, once stage A is recorded and the change log followed (whichever daemon did
  it): a new squat, a new release of a reported one, and a stranger given a role on our
  own project (which only the change log shows).

Every alert is dispatched to the fake Slack. A run waits until every designed alert was
delivered, the outbox is drained and no index event is left, then a little longer for
anything posted twice.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import signal
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from tests.crash.forks import ForkServer
from tests.crash.launcher import PLAN_ENV, TRACE_ENV
from tests.fakes.pypi import FakeIndex
from tests.fakes.slack import FakeSlack
from tests.support import daemon_env, write_catalog
from watcher.config import Settings, load_settings
from watcher.store import Database
from watcher.store.base import Base
from watcher.store.models import FeedState, IndexEvent, JournalState, OutboxAlert

# Feed squats, and the stage-B squat, seen by feeds, reconcile and change log alike.
FEED_SQUATS = (("acme-alpha", "1.0"), ("acme-beta", "1.0"), ("Payments.Core", "1.0"))
HIDDEN_SQUAT = ("acme-hidden", "0.1")
NEW_SQUAT = ("acme-gamma", "1.0")
NEW_RELEASE = ("acme-alpha", "2.0")
OUR_PROJECT = "acme-public-sdk"
STRANGER = "mallory"
_NEW = "Possible squat on PyPI"
_RELEASE = "New release of a reported squat on PyPI"
_OURS = "Role change on our own PyPI project"
# What stages A and B must be alerted as, one Slack message each: how its text starts.
# (A squat's version is left out: recorded without its JSON details, a squat first seen
# by an item that names no release is alerted as "(no release)"; see verdict().)
DESIGNED = frozenset(
    {
        *(f"{_NEW}: {name} " for name, _ in FEED_SQUATS),
        f"{_NEW}: {HIDDEN_SQUAT[0]} ",
        f"{_NEW}: {NEW_SQUAT[0]} ",
        f"{_RELEASE}: {' '.join(NEW_RELEASE)} ",
        # Seen by the change log ("add Owner ...") or by the ownership audit of a catalog
        # reload ("roles now: ..."), whichever comes first after a kill: one alert either way.
        f"{_OURS}: {OUR_PROJECT}: ",
    }
)
# More than both feed windows (100 releases, 40 new projects).
_FILLER = 110
_SETTLE = 0.4
# How long a run waits, all alerts delivered, for a planned kill that has not fired.
_UNREACHED = 5.0
_STAGE_A_ALERTS = len(FEED_SQUATS) + 1


def stage_a(index: FakeIndex) -> None:
    """The index before the first start."""
    index.add_release(OUR_PROJECT, "1.0", owners=["acme-corp"])
    index.add_release("requests", "2.0")
    index.add_release(*HIDDEN_SQUAT)
    for i in range(_FILLER):
        index.add_release(f"filler-{i:03d}", "1.0")
    for name, version in FEED_SQUATS:
        index.add_release(name, version)


def stage_b(index: FakeIndex) -> None:
    """Changes made while the daemon runs."""
    index.add_release(*NEW_SQUAT)
    index.add_release(*NEW_RELEASE)
    index.set_owners(OUR_PROJECT, ["acme-corp", STRANGER])


def identity(message: dict[str, Any]) -> str:
    """What one Slack message alerts about: the designed alert its text starts with, else
    its whole text (an alert nobody expected)."""
    text_ = str(message.get("text") or "")
    return next((d for d in sorted(DESIGNED) if text_.startswith(d)), text_)


DISPATCHER = "alerts/dispatcher.py:"


def verdict(result: RunResult) -> list[str]:
    """What is wrong with a run: a planned kill that never fired, a designed alert lost or
    posted twice, an alert nobody expected (one squat is one message, even when its details
    could not be had), an outbox not drained."""
    problems: list[str] = []
    if result.plan is not None and result.killed is None:
        problems.append("the planned commit was never reached (no kill)")
    if result.timed_out:
        problems.append("not settled in time")
    if set(result.outbox) - {"sent"}:
        problems.append(f"outbox not drained: {result.outbox}")
    got = Counter(result.messages)
    lost = sorted(DESIGNED - set(got))
    doubled = sorted(m for m, n in got.items() if n > 1)
    unexpected = [t for t in result.texts if identity({"text": t}) not in DESIGNED]
    if lost:
        problems.append(f"lost {lost}")
    if doubled:
        plan = result.plan
        window = plan is not None and plan.phase == "before" and plan.site.startswith(DISPATCHER)
        problems.append(
            f"posted twice {doubled}"
            + (
                " -- the known window: Slack had the post and the process died before"
                f" recording it; the restart read the channel history {result.history_reads}"
                " times and did not find it there"
                if window
                else ""
            )
        )
    if unexpected:
        problems.append(f"unexpected alerts {unexpected}")
    return problems


@dataclass(frozen=True)
class KillPlan:
    """Kill the first daemon at the ``n``-th writing commit at ``site``, ``phase`` it."""

    phase: str  # "before" or "after"
    site: str
    n: int

    def __str__(self) -> str:
        return f"{self.phase} {self.n} {self.site}"


@dataclass
class RunResult:
    """What happened in one run."""

    plan: KillPlan | None
    commits: list[dict[str, Any]] = field(default_factory=list)
    killed: dict[str, Any] | None = None
    starts: int = 0
    messages: list[str] = field(default_factory=list)  # identities
    texts: list[str] = field(default_factory=list)  # the messages' whole texts
    outbox: dict[str, int] = field(default_factory=dict)
    history_reads: int = 0  # conversations.history calls (recovery looking for a post)
    timed_out: bool = False
    unreached: bool = False  # settled without reaching the planned commit
    log: Path | None = None
    seconds: float = 0.0

    @property
    def duplicates(self) -> dict[str, int]:
        """Messages delivered more than once, with their count."""
        return {m: n for m, n in Counter(self.messages).items() if n > 1}

    def summary(self) -> str:
        """One line for the test's output."""
        kill = "no kill" if self.plan is None else f"kill {self.plan}"
        fired = "" if self.plan is None else (" (fired)" if self.killed else " (NOT reached)")
        return (
            f"{kill}{fired}: {len(self.commits)} writing commits, {self.starts} starts,"
            f" delivered {len(self.messages)}, distinct {len(set(self.messages))},"
            f" duplicates {sum(n - 1 for n in self.duplicates.values())},"
            f" outbox {self.outbox}, history reads after the restart {self.history_reads},"
            f" {self.seconds:.1f} s"
        )


class FreshDatabase:
    """A migrated, empty database per run: a copy of a migrated SQLite file, or the
    PostgreSQL test database with every table emptied."""

    def __init__(self, url: str, workdir: Path) -> None:
        self._url = url
        self._workdir = workdir
        self._template: Path | None = None
        self._runs = 0

    async def prepare(self) -> None:
        """Migrate once (the template)."""
        database = Database(self._template_url())
        try:
            await database.upgrade()
        finally:
            await database.close()

    def _template_url(self) -> str:
        if self._url.startswith("sqlite"):
            self._template = self._workdir / "template.db"
            return f"sqlite+aiosqlite:///{self._template}"
        return self._url

    async def fresh(self) -> str:
        """The URL of an empty, migrated database."""
        self._runs += 1
        if self._template is not None:
            path = self._workdir / f"run-{self._runs}.db"
            shutil.copyfile(self._template, path)
            return f"sqlite+aiosqlite:///{path}"
        tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
        database = Database(self._url)
        try:
            async with database.engine.begin() as conn:
                await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        finally:
            await database.close()
        return self._url


async def _count(db: Database, model: Any, *where: Any) -> int:
    async with db.transaction() as session:
        stmt = select(func.count()).select_from(model)
        for clause in where:
            stmt = stmt.where(clause)
        return int(await session.scalar(stmt) or 0)


async def _outbox(db: Database) -> dict[str, int]:
    async with db.transaction() as session:
        rows = await session.execute(
            select(OutboxAlert.status, func.count()).group_by(OutboxAlert.status)
        )
        return {str(status): int(n) for status, n in rows}


async def run(
    server: ForkServer,
    database: FreshDatabase,
    workdir: Path,
    plan: KillPlan | None,
    limit: float = 45.0,
) -> RunResult:
    """One run of the scenario, until every designed alert reached Slack and nothing moved
    for a while, or ``limit`` seconds (then :attr:`RunResult.timed_out`)."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    result = RunResult(plan)
    name = "baseline" if plan is None else f"{plan.phase}-{plan.n}-{_slug(plan.site)}"
    trace, log = workdir / f"{name}.trace", workdir / f"{name}.log"
    result.log = log
    trace.unlink(missing_ok=True)  # a plan run again (its site not reached) starts afresh
    catalog = workdir / "catalog.toml"
    write_catalog(catalog)
    url = await database.fresh()
    db = Database(url)
    try:
        async with FakeIndex() as index, FakeSlack() as slack:
            stage_a(index)
            env = {**daemon_env(_settings(index, slack, catalog, url)), TRACE_ENV: str(trace)}
            daemon = await server.start({**env, PLAN_ENV: str(plan)} if plan else env, log)
            result.starts = 1
            try:
                history_before_restart = restarted_at = 0
                unfired_since: float | None = None
                staged = False
                state: tuple[Any, ...] | None = None
                while True:
                    code = daemon.poll()
                    if code is not None:
                        assert result.starts == 1, f"restarted daemon exited {code}; see {log}"
                        assert code == -signal.SIGKILL, f"daemon exited {code} unasked; see {log}"
                        history_before_restart = _history_reads(slack)
                        restarted_at = log.stat().st_size
                        daemon = await server.start(env, log)
                        result.starts += 1
                    outbox = await _outbox(db)
                    if not staged and await _stage_a_done(db, outbox):
                        stage_b(index)
                        staged = True
                    if staged:
                        now = (outbox, len(slack.messages), await _count(db, IndexEvent))
                        drained = set(outbox) <= {"sent"} and not now[2]
                        delivered = {identity(m) for m in slack.messages} >= DESIGNED
                        # A planned kill must have fired first: an idle site (a cursor
                        # touched by a poll that got 304) may come only after the designed
                        # alerts, and must not fire in the final SIGTERM instead.
                        fired = plan is None or result.starts > 1
                        if drained and delivered and not fired:
                            # Some sites are reached only in some runs (timing decides
                            # whether, say, the catalog check meets a stored listing).
                            unfired_since = unfired_since or loop.time()
                            if loop.time() - unfired_since > _UNREACHED:
                                result.unreached = True
                                break
                        elif drained and delivered and _started(log, restarted_at):
                            if state == now:  # nothing moved for a while: nothing more to come
                                break
                            state = now
                            await asyncio.sleep(_SETTLE)
                            continue
                        state = None
                    if loop.time() - began > limit:
                        result.timed_out = True  # what is missing is the verdict's
                        break
                    await asyncio.sleep(0.05)
                if not result.unreached:  # else the kill could fire in the shutdown
                    code = await daemon.stop()
                    assert code == 0, f"daemon exited {code} on SIGTERM; its log is {log}"
            finally:
                if daemon.poll() is None:  # the run failed: leave nothing running
                    await daemon.stop(signal.SIGKILL)
            result.messages = [identity(m) for m in slack.messages]
            result.texts = [str(m.get("text")) for m in slack.messages]
            result.history_reads = _history_reads(slack) - history_before_restart
            result.outbox = await _outbox(db)
    finally:
        await db.close()
    for line in trace.read_text().splitlines():
        record = json.loads(line)
        if "kill" in record:
            result.killed = record
        else:
            result.commits.append(record)
    result.seconds = loop.time() - began
    return result


async def _stage_a_done(db: Database, outbox: dict[str, int]) -> bool:
    """Whether stage A is recorded: its alerts queued, its events processed, both feeds
    read and the change log followed (so stage B is seen as changes, by every source).

    Stage B before that would change what is alerted, not how often: a squat first seen
    after its 2.0 release is one "possible squat ... 2.0" message, not a message and then a
    "new release" one.
    """
    return (
        sum(outbox.values()) >= _STAGE_A_ALERTS
        and await _count(db, FeedState) >= 2
        and await _count(db, JournalState) > 0
        and await _count(db, IndexEvent) == 0
    )


def _settings(index: FakeIndex, slack: FakeSlack, catalog: Path, url: str) -> Settings:
    # Short intervals: a run lasts a few seconds. One reconcile per start is enough (the
    # hidden squat is there from the start).
    return load_settings(
        pypi_url=index.base_url,
        catalog=catalog,
        database_url=url,
        poll_interval=0.3,
        journal=True,
        journal_interval=0.3,
        reconcile_interval=3600,
        catalog_reload_interval=3600,
        dispatch_interval=0.1,
        slack_token=slack.token,
        slack_channel="C0SECURITY",
        slack_api_url=slack.base_url,
        http_port=0,
        # Generous: a loaded machine must not turn into missing details (an alert then
        # says "(no release)", and its release is announced again by the feed).
        http_retries=3,
        http_timeout=30.0,
        alert_retry_base=0.2,
    )


def _started(log: Path, since: int) -> bool:
    """Whether the daemon writing to ``log`` from offset ``since`` on is up (and handles
    SIGTERM): a restart that finds nothing left to do must be up before it is stopped."""
    with log.open("rb") as out:
        out.seek(since)
        return b"INFO watcher.app: watching " in out.read()


def _slug(site: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", site).strip("-")


def _history_reads(slack: FakeSlack) -> int:
    return sum(1 for method, _ in slack.calls if method == "conversations.history")
