"""Each source's health: tracked by the jobs, shown by ``/healthz``, and said in the log
once when a source starts failing, at most once a minute while it goes on, and once when it
recovers. Against the running daemon and the fakes, and with the jobs on a fake clock."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import aiohttp
import pytest
from packaging.utils import NormalizedName

from tests.conftest import SettingsFactory, running
from tests.fakes.pypi import FakeIndex
from tests.support import until
from watcher.alerts.dispatcher import DispatchReport
from watcher.app import Service
from watcher.config import load_settings
from watcher.errors import FeedsFailed, IndexUnavailable, StaleIndex
from watcher.jobs import Jobs
from watcher.pypi import FeedKind
from watcher.sources.catalog import ReloadReport
from watcher.sources.feeds import PollReport, PollReports

# -- the running daemon ----------------------------------------------------------------


async def health(http: aiohttp.ClientSession, service: Service) -> Any:
    async with http.get(f"http://127.0.0.1:{service.port}/healthz") as resp:
        assert resp.status == 200  # alive: the database answers
        return await resp.json()


def lines(caplog: pytest.LogCaptureFixture, level: int = logging.WARNING) -> list[str]:
    """What the watcher logged at ``level`` or above."""
    return [
        f"{r.levelname} {r.getMessage()}"
        for r in caplog.records
        if r.name.startswith("watcher") and r.levelno >= level
    ]


async def test_index_outage_is_degraded_said_once_and_recovery_said_once(
    make_settings: SettingsFactory,
    fake_index: FakeIndex,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="watcher")
    fake_index.add_release("harmless", "1.0")
    settings = make_settings(poll_interval=0.2, reconcile_interval=3600)
    async with running(settings) as service:

        async def first_polls_done() -> bool:
            return (await health(http, service))["sources"]["feeds"] == {"state": "ok"} and any(
                "feeds: first poll" in line for line in lines(caplog, logging.INFO)
            )

        await until(first_polls_done, 5, "the first poll")
        body = await health(http, service)
        assert body["status"] == "ok"
        assert set(body["sources"]) == {
            "feeds",
            "reconcile",
            "catalog",
            "dispatch",
            "names",
            "retention",
        }
        assert all(s == {"state": "ok"} for s in body["sources"].values())
        before = len(caplog.records)

        fake_index.fail("/", 503, times=None)  # the index is down: every request fails

        async def degraded() -> bool:
            return bool((await health(http, service))["status"] == "degraded")

        await until(degraded, 15, "/healthz to say degraded")
        feeds = (await health(http, service))["sources"]["feeds"]
        assert feeds["state"] == "failing"
        assert feeds["failures"] >= 3
        assert datetime.fromisoformat(feeds["since"]) > datetime.now(UTC) - timedelta(seconds=15)
        assert "index unavailable for" in feeds["last_error"]
        assert "HTTP 503 (after 2 attempts)" in feeds["last_error"]
        await asyncio.sleep(1.0)  # several more failed polls
        outage = [r for r in caplog.records[before:] if r.name.startswith("watcher")]
        said = [f"{r.levelname} {r.getMessage()}" for r in outage if r.levelno >= logging.WARNING]
        # One line for the whole outage so far: not one per retry, per feed, per poll.
        assert len(said) == 1, said
        assert said[0].startswith("WARNING feed poll failed, retried on schedule")
        assert "index unavailable for" in said[0]
        assert sum("failed again" in r.getMessage() for r in outage) >= 2  # in DEBUG only
        before = len(caplog.records)

        fake_index.clear_failures()

        async def healthy() -> bool:
            return bool((await health(http, service))["status"] == "ok")

        await until(healthy, 10, "/healthz to say ok again")
        assert (await health(http, service))["sources"]["feeds"] == {"state": "ok"}
        await asyncio.sleep(0.5)
        recovery = [r.getMessage() for r in caplog.records[before:] if r.name.startswith("watcher")]
    back = [m for m in recovery if "works again" in m]
    assert len(back) == 1, recovery
    assert back[0].startswith("feed poll works again after ")
    assert " failed polls (since " in back[0]
    # At most one poll summary a minute: this test ran for seconds.
    assert sum(line.startswith("INFO feeds: ") for line in lines(caplog, logging.INFO)) == 1


# -- the jobs, on a fake clock -----------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 5, 14, 0, tzinfo=UTC)
        self.tick = 1000.0

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        self.tick += seconds

    def wall(self) -> datetime:
        return self.now

    def mono(self) -> float:
        return self.tick


@dataclass
class Stubs:
    """Stand-ins for the sources, the pipeline and the dispatcher: each run does what
    the test put in its queue."""

    polls: list[Any] = field(default_factory=list)  # PollReports or an exception
    reconciles: list[Exception | None] = field(default_factory=list)
    reloads: list[ReloadReport] = field(default_factory=list)
    dispatches: list[DispatchReport | Exception] = field(default_factory=list)
    catalog_checks: int = 0
    processed: int = 0
    alerts_per_process: int = 0

    # FeedSource
    async def poll(self) -> PollReports:
        outcome = self.polls.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        assert isinstance(outcome, PollReports)
        return outcome

    # CatalogSource
    async def check(self) -> int:
        self.catalog_checks += 1
        return 1

    async def reload(self) -> ReloadReport:
        return self.reloads.pop(0)

    # ListingSource
    async def reconcile(self) -> None:
        outcome = self.reconciles.pop(0)
        if outcome is not None:
            raise outcome

    # Pipeline
    async def process_pending(self) -> int:
        self.processed += 1
        return self.alerts_per_process

    # Dispatcher
    async def dispatch(self) -> DispatchReport:
        outcome = self.dispatches.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def stubs() -> Stubs:
    return Stubs()


@pytest.fixture
def jobs(stubs: Stubs, clock: Clock, clean_env: None) -> Jobs:
    settings = load_settings(pypi_url="http://127.0.0.1:9", catalog="c.toml")
    anything = cast(Any, stubs)
    return Jobs(
        anything,
        anything,
        settings.schedule,
        feeds=anything,
        listing=anything,
        catalog=anything,
        clock=clock.wall,
        monotonic=clock.mono,
    )


def down() -> FeedsFailed:
    return FeedsFailed(
        {
            "packages": IndexUnavailable(
                "http://i/rss/packages.xml", "HTTP 503 (after 4 attempts)"
            ),
            "updates": IndexUnavailable("http://i/rss/updates.xml", "HTTP 503 (after 4 attempts)"),
        }
    )


def read(items: int, new: int = 0, matched: int = 0) -> PollReports:
    report = PollReport(FeedKind.UPDATES, items=items, new_items=new)
    report.matched = [NormalizedName(f"acme-{i}") for i in range(matched)]
    return PollReports([report], {})


def jobs_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        f"{r.levelname} {r.getMessage()}"
        for r in caplog.records
        if r.name == "watcher.jobs" and r.levelno >= logging.INFO
    ]


async def test_an_outage_is_said_once_then_at_most_once_a_minute_then_its_end(
    jobs: Jobs, stubs: Stubs, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    stubs.polls = [down(), down(), down(), down(), read(10)]
    start = clock.now
    await jobs.poll()
    [first] = jobs_lines(caplog)
    assert first.startswith("WARNING feed poll failed, retried on schedule")
    assert "packages feed: index unavailable for http://i/rss/packages.xml" in first
    assert jobs.health["feeds"].state == "ok"  # one failure is not failing yet
    assert stubs.catalog_checks == 0  # not while the index is unreachable
    assert stubs.processed == 1  # events other sources left still go through

    clock.advance(20)
    await jobs.poll()
    assert len(jobs_lines(caplog)) == 1  # a repeat within the minute: nothing
    clock.advance(20)
    await jobs.poll()
    feeds = jobs.health["feeds"]
    assert (feeds.state, feeds.failures, feeds.since) == ("failing", 3, start)
    assert len(jobs_lines(caplog)) == 1
    clock.advance(21)
    await jobs.poll()
    assert jobs_lines(caplog)[1:] == [
        "WARNING index unreachable for 4 polls (since 2026-03-05 14:00:00 UTC): " + str(down())
    ]

    clock.advance(20)
    await jobs.poll()
    assert jobs_lines(caplog)[2:] == [
        "INFO feed poll works again after 4 failed polls (since 2026-03-05 14:00:00 UTC)",
        # The first summary comes with the first poll that read something.
        "INFO feeds: 5 polls in 81 s (4 failed): 10 items seen, 0 new, 0 matched; "
        "1 index events recorded, 0 alerts queued",
    ]
    feeds = jobs.health["feeds"]
    assert (feeds.state, feeds.failures, feeds.since, feeds.last_error) == ("ok", 0, None, None)
    assert feeds.last_success == clock.now
    assert stubs.catalog_checks == 1


async def test_one_poll_summary_a_minute_with_the_counts_in_between(
    jobs: Jobs, stubs: Stubs, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    stubs.alerts_per_process = 1
    stubs.polls = [read(100, 100, 2), read(100, 3), read(100, 1, 1), read(100, 2)]
    await jobs.poll()
    assert jobs_lines(caplog) == [
        "INFO feeds: first poll: 100 items seen, 100 new, 2 matched; "
        "3 index events recorded, 1 alerts queued"
    ]
    for _ in range(2):
        clock.advance(25)
        await jobs.poll()
    assert len(jobs_lines(caplog)) == 1
    clock.advance(25)
    await jobs.poll()
    assert jobs_lines(caplog)[1] == (
        "INFO feeds: 3 polls in 75 s: 300 items seen, 6 new, 1 matched; "
        "4 index events recorded, 3 alerts queued"
    )


@pytest.mark.parametrize("unreachable", [False, True])
async def test_one_feed_failing_counts_as_a_failed_poll(
    jobs: Jobs, stubs: Stubs, caplog: pytest.LogCaptureFixture, unreachable: bool
) -> None:
    caplog.set_level(logging.INFO)
    broken = (
        IndexUnavailable("http://i/rss/updates.xml", "HTTP 502 (after 4 attempts)")
        if unreachable
        else StaleIndex("http://i/rss/updates.xml", 1, 2)  # any unusable answer
    )
    partial = PollReports([PollReport(FeedKind.PACKAGES, items=5)], {FeedKind.UPDATES: broken})
    stubs.polls = [partial, partial, partial]
    for _ in range(3):
        await jobs.poll()
    feeds = jobs.health["feeds"]
    assert feeds.state == "failing"
    assert feeds.last_error == f"updates feed: {broken}"
    assert stubs.catalog_checks == 3  # the index answers: entries are still checked
    warnings = [line for line in jobs_lines(caplog) if not line.startswith("INFO")]
    if unreachable:  # said here, once
        assert warnings == [
            "WARNING feed poll failed, retried on schedule (said again at most once a minute):"
            f" updates feed: {broken}"
        ]
    else:  # the feed source said it (once, for that feed)
        assert warnings == []


async def test_reconcile_failures_are_counted_and_pending_events_still_processed(
    jobs: Jobs, stubs: Stubs, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    stale = StaleIndex("http://i/simple/", 5, 9)
    stubs.reconciles = [stale, stale, None]
    await jobs.reconcile()
    await jobs.reconcile()
    assert jobs.health["reconcile"].failures == 2
    assert stubs.processed == 2
    await jobs.reconcile()
    assert jobs.health["reconcile"].failures == 0
    assert jobs_lines(caplog) == [
        f"WARNING whole-index reconcile failed, retried on schedule (said again at most once"
        f" a minute): {stale}",
        "INFO whole-index reconcile works again after 2 failed reconciles"
        " (since 2026-03-05 14:00:00 UTC)",
    ]


async def test_a_broken_catalog_file_is_failing_without_a_second_log_line(
    jobs: Jobs, stubs: Stubs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    stubs.reloads = [ReloadReport(error="catalog c.toml: not valid TOML")] * 3 + [ReloadReport()]
    for _ in range(3):
        await jobs.reload_catalog()
    catalog = jobs.health["catalog"]
    assert (catalog.state, catalog.last_error) == ("failing", "catalog c.toml: not valid TOML")
    assert jobs_lines(caplog) == []  # the catalog source said it, once
    await jobs.reload_catalog()
    assert jobs.health["catalog"].state == "ok"
    assert jobs_lines(caplog) == [
        "INFO catalog reload works again after 3 failed catalog reloads"
        " (since 2026-03-05 14:00:00 UTC)"
    ]


async def test_a_paused_dispatch_neither_fails_nor_recovers(jobs: Jobs, stubs: Stubs) -> None:
    stubs.dispatches = [
        DispatchReport(failed=1),
        DispatchReport(),  # paused after the failure: did nothing
        DispatchReport(),
        DispatchReport(failed=1),
        DispatchReport(failed=1),
        DispatchReport(),
        DispatchReport(sent=4),
        DispatchReport(),  # nothing to send: fine
    ]
    failures = []
    for _ in range(len(stubs.dispatches)):
        await jobs.dispatch()
        failures.append(jobs.health["dispatch"].failures)
    assert failures == [1, 1, 1, 2, 3, 3, 0, 0]
    assert jobs.health["dispatch"].state == "ok"


async def test_an_unexpected_error_is_counted_raised_and_logged_once_with_its_traceback(
    jobs: Jobs, stubs: Stubs, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    stubs.dispatches = [*[ConnectionRefusedError("database down")] * 3, DispatchReport()]
    for _ in range(3):
        with pytest.raises(ConnectionRefusedError):
            await jobs.dispatch()
        clock.advance(1)
    dispatch = jobs.health["dispatch"]
    assert (dispatch.state, dispatch.last_error) == ("failing", "database down")
    errors = [r for r in caplog.records if r.name == "watcher.jobs" and r.levelno >= 30]
    assert [r.getMessage() for r in errors] == ["dispatch job failed"]
    assert errors[0].exc_info is not None
    await jobs.dispatch()
    assert jobs.health["dispatch"].state == "ok"
