"""Scheduler wiring. Each job is a thin call into a plain ``async def`` that tests call directly.

APScheduler 3 does not await running jobs at shutdown, so every run is tracked here and
awaited (then cancelled if it overstays) before the engine and HTTP session close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from watcher.alerts import Dispatcher
from watcher.config import ScheduleSettings
from watcher.errors import FeedsFailed, IndexUnavailable, NotAnIndex, WatcherError
from watcher.health import JOB_IDS, SUMMARY_INTERVAL, HealthBook, RunOutcome
from watcher.pipeline import Pipeline
from watcher.pypi import IndexClient
from watcher.sources import CatalogSource, FeedSource, JournalSource, ListingSource
from watcher.sources.feeds import PollReport
from watcher.store.base import utcnow

log = logging.getLogger(__name__)


class _SkippedRunFilter(logging.Filter):
    """Drop APScheduler's warning for a run skipped because the previous one still runs.

    With ``max_instances=1`` that is the intended behaviour (a dispatch waiting out a Slack
    Retry-After outlasts its one-second interval), not something to warn about each second.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


logging.getLogger("apscheduler.scheduler").addFilter(_SkippedRunFilter())


class Jobs:
    """The daemon's periodic work: each source on its interval, each followed by the
    pipeline over the events it recorded (and any an earlier run left), plus the outbox.

    Each source's health (:class:`~watcher.health.SourceHealth`, in :attr:`health` by
    source name) is tracked, and the log says when a source starts failing (once), how it goes at
    most once a minute, and when it recovers. With ``index``, jobs that ask the index
    first make sure it was confirmed (:meth:`IndexClient.confirm_index`), for a service
    that started while the index could not be reached.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        dispatcher: Dispatcher,
        schedule: ScheduleSettings,
        *,
        feeds: FeedSource,
        listing: ListingSource,
        catalog: CatalogSource,
        journal: JournalSource | None = None,
        index: IndexClient | None = None,
        clock: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
        summary_interval: float = SUMMARY_INTERVAL,
    ) -> None:
        self.pipeline = pipeline
        self.dispatcher = dispatcher
        self.feeds = feeds
        self.listing = listing
        self.catalog = catalog
        self.journal = journal
        self._index = index
        self._schedule = schedule
        self._running: set[asyncio.Task[None]] = set()
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self._book = HealthBook(
            [job_id for job_id in JOB_IDS if job_id != "journal" or journal is not None],
            clock=clock,
            monotonic=monotonic,
            summary_interval=summary_interval,
        )
        self.health = self._book.health
        self._undelivered = False  # the last dispatch that did something failed
        self._not_an_index: str | None = None  # the last NotAnIndex logged

    async def poll(self) -> None:
        """Poll the feeds, then check catalog entries not checked yet; process what they
        recorded. A summary goes to the log at most once a minute."""
        async with self._run("poll") as run:
            await self._confirm_index()
            index_down = False
            reports: list[PollReport] = []
            # The feed source logs a feed's unusable answers itself, not the index being
            # unreachable: that is said here, once for both feeds.
            try:
                polled = await self.feeds.poll()
            except FeedsFailed as exc:
                run.fail(exc, quiet=_all_said(exc.errors.values()))
                index_down = exc.unavailable
            else:
                reports = list(polled)
                if polled.errors:  # one feed failed, the other was read
                    run.fail(
                        "; ".join(f"{k} feed: {e}" for k, e in polled.errors.items()),
                        quiet=_all_said(polled.errors.values()),
                    )
            events = 0
            if not index_down:
                # Not while the index is unreachable: every entry would fail, and say so.
                events = await self.catalog.check()
            alerts = await self.pipeline.process_pending()
            self._book.count_poll(reports, events, alerts, failed=run.error is not None)
            if any(r.gap for r in reports):
                # The feed window overflowed: the index is the only complete answer, now.
                self.run_now("reconcile", "feed gap: reconciling with the whole index now")
        self._book.poll_summary()

    async def reconcile(self) -> None:
        """Reconcile with the whole index, and finish events a crash left behind."""
        async with self._run("reconcile") as run:
            try:
                await self._confirm_index()
                await self.listing.reconcile()
            except WatcherError as exc:  # index down, stale or refused listing
                run.fail(exc)
            # Also when it failed: events an earlier run recorded still get their alerts.
            await self.pipeline.process_pending()

    async def follow_journal(self) -> None:
        """Read the index's change log from its cursor (only with ``WATCHER_JOURNAL`` on)."""
        assert self.journal is not None
        async with self._run("journal") as run:
            try:
                await self._confirm_index()
                report = await self.journal.poll()  # rate limits back off inside
            except WatcherError as exc:  # index down, malformed answer
                run.fail(exc)
            else:
                if report.rate_limited:  # the follower logged it
                    run.fail("rate-limited by the index; backing off", quiet=True)
                elif report.backing_off:
                    run.skipped = True
            await self.pipeline.process_pending()

    async def reload_catalog(self) -> None:
        """Look at the catalog file; when it changed, process what the change found."""
        async with self._run("catalog") as run:
            # Unreachable: the file is read anyway; new entries stay unchecked until it answers.
            with contextlib.suppress(IndexUnavailable):
                await self._confirm_index()
            report = await self.catalog.reload()
            if report.error is not None:  # the catalog source logged it (once)
                run.fail(report.error, quiet=True)
            if report.changed:
                await self.pipeline.process_pending()

    async def dispatch(self) -> None:
        """Drain the alert outbox."""
        async with self._run("dispatch") as run:
            report = await self.dispatcher.dispatch()
            if report.failed:  # the dispatcher logged each alert's failure
                run.fail(f"{report.failed} alerts not delivered; retried with backoff", quiet=True)
                self._undelivered = True
            elif report.sent or report.recovered:
                self._undelivered = False
            elif self._undelivered:
                run.skipped = True  # the queue is paused after a failed delivery

    def run_now(self, job_id: str, reason: str | None = None) -> None:
        """Run a job as soon as possible (coalesced with a run in progress)."""
        job = self.scheduler.get_job(job_id)
        if job is not None:
            if reason:
                log.warning("%s", reason)
            job.modify(next_run_time=datetime.now(UTC))

    def start(self) -> None:
        """Start the scheduler inside the running loop; every job runs at once, then on
        its interval."""
        schedule = self._schedule
        jobs: list[tuple[str, Callable[[], Awaitable[None]], float]] = [
            ("poll", self.poll, schedule.poll_interval),
            ("reconcile", self.reconcile, schedule.reconcile_interval),
            ("catalog", self.reload_catalog, schedule.catalog_reload_interval),
            ("dispatch", self.dispatch, schedule.dispatch_interval),
        ]
        if self.journal is not None:
            jobs.append(("journal", self.follow_journal, schedule.journal_interval))
        now = datetime.now(UTC)
        for job_id, job, interval in jobs:
            self.scheduler.add_job(
                self._tracked(job_id, job),
                "interval",
                seconds=interval,
                id=job_id,
                next_run_time=now,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
            )
        self.scheduler.start()

    async def stop(self, grace: float = 10.0) -> None:
        """Stop scheduling, let running jobs finish (cancel them after ``grace`` seconds)."""
        if not self.scheduler.running:
            return
        # Pause first: shutting APScheduler 3 down cancels the jobs it runs at once.
        self.scheduler.pause()
        if self._running:
            _, pending = await asyncio.wait(set(self._running), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("cancelled %d jobs still running at shutdown", len(pending))
                await asyncio.wait(pending)
        self.scheduler.shutdown(wait=False)

    def _tracked(
        self, name: str, job: Callable[[], Awaitable[None]]
    ) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            task = asyncio.current_task()
            assert task is not None
            self._running.add(task)
            try:
                await job()
            except Exception:
                # One failed run must not stop the schedule; the next run retries. The job
                # logged it already (the first time in a row, with its traceback).
                log.debug("%s job failed", name, exc_info=True)
            finally:
                self._running.discard(task)

        run.__name__ = name
        return run

    # -- health and the log ------------------------------------------------------------

    async def _confirm_index(self) -> None:
        """Confirm the index once, if the service started without (it could not be asked).

        Raises what :meth:`IndexClient.confirm_index` raises: the run fails with it.
        """
        if self._index is None or self._index.confirmed:
            return
        try:
            await self._index.confirm_index()
        except NotAnIndex as exc:
            if str(exc) != self._not_an_index:  # said once, for every job that asks
                self._not_an_index = str(exc)
                log.error(
                    "the index URL does not answer as an index; nothing is asked of it until"
                    " it does (fix WATCHER_PYPI_URL and restart): %s",
                    exc,
                )
            raise
        log.info("index at %s confirmed: it answers as a package index", self._index.base_url)

    @asynccontextmanager
    async def _run(self, job_id: str) -> AsyncIterator[RunOutcome]:
        """Record how a run of ``job_id`` went. A :class:`WatcherError` (the index or a
        file failing) is recorded and ends the run; anything else is recorded and raised."""
        run = RunOutcome()
        try:
            yield run
        except WatcherError as exc:
            self._book.failed(job_id, exc)
            return
        except Exception as exc:
            self._book.failed(job_id, exc, unexpected=True)
            raise
        if run.error is not None:
            self._book.failed(job_id, run.error, quiet=run.quiet)
        elif not run.skipped:
            self._book.succeeded(job_id)


def _all_said(errors: Iterable[Exception]) -> bool:
    """Whether the feed source logged all these feed errors (all but the index down)."""
    return not any(isinstance(exc, IndexUnavailable) for exc in errors)
