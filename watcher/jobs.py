"""Scheduler wiring. Each job is a thin call into a plain ``async def`` that tests call directly.

APScheduler 3 does not await running jobs at shutdown, so every run is tracked here and
awaited (then cancelled if it overstays) before the engine and HTTP session close.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from watcher.alerts import Dispatcher
from watcher.config import ScheduleSettings
from watcher.errors import WatcherError
from watcher.pipeline import Pipeline
from watcher.sources import CatalogSource, FeedSource, JournalSource, ListingSource

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
    pipeline over the events it recorded (and any an earlier run left), plus the outbox."""

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
    ) -> None:
        self.pipeline = pipeline
        self.dispatcher = dispatcher
        self.feeds = feeds
        self.listing = listing
        self.catalog = catalog
        self.journal = journal
        self._schedule = schedule
        self._running: set[asyncio.Task[None]] = set()
        self.scheduler = AsyncIOScheduler(timezone=UTC)

    async def poll(self) -> None:
        """Check not-yet-checked catalog entries, then poll the feeds."""
        await self.catalog.check()
        reports = await self.feeds.poll()
        await self.pipeline.process_pending()
        if any(r.gap for r in reports):
            # The feed window overflowed: the index is the only complete answer, now.
            self.run_now("reconcile", "feed gap: reconciling with the whole index now")

    async def reconcile(self) -> None:
        """Reconcile with the whole index, and finish events a crash left behind."""
        try:
            await self.listing.reconcile()
        except WatcherError as exc:  # index down, stale or refused listing
            log.error("reconcile failed, will retry at the next slot: %s", exc)
        # Also when it failed: events an earlier run recorded still get their alerts.
        await self.pipeline.process_pending()

    async def follow_journal(self) -> None:
        """Read the index's change log from its cursor (only with ``WATCHER_JOURNAL`` on)."""
        assert self.journal is not None
        try:
            await self.journal.poll()  # rate limits back off inside
        except WatcherError as exc:  # index down, malformed answer
            log.error("change log read failed, cursor kept; will retry: %s", exc)
        await self.pipeline.process_pending()

    async def reload_catalog(self) -> None:
        """Look at the catalog file; when it changed, process what the change found."""
        report = await self.catalog.reload()
        if report.changed:
            await self.pipeline.process_pending()

    def run_now(self, job_id: str, reason: str | None = None) -> None:
        """Run a job as soon as possible (coalesced with a run in progress)."""
        job = self.scheduler.get_job(job_id)
        if job is not None:
            if reason:
                log.warning("%s", reason)
            job.modify(next_run_time=datetime.now(UTC))

    async def dispatch(self) -> None:
        """Drain the alert outbox."""
        await self.dispatcher.dispatch()

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
                # One failed run must not stop the schedule; the next run retries.
                log.exception("%s job failed", name)
            finally:
                self._running.discard(task)

        run.__name__ = name
        return run
