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
from watcher.errors import WatcherError
from watcher.journal import JournalFollower
from watcher.watch import Watch

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
    """The daemon's periodic work: feed polling, reconcile, change log, outbox dispatch."""

    def __init__(
        self,
        watch: Watch,
        dispatcher: Dispatcher,
        *,
        poll_interval: float,
        dispatch_interval: float,
        reconcile_interval: float | None = None,
        journal: JournalFollower | None = None,
        journal_interval: float = 60.0,
    ) -> None:
        self.watch = watch
        self.dispatcher = dispatcher
        self._poll_interval = poll_interval
        self._dispatch_interval = dispatch_interval
        self._reconcile_interval = reconcile_interval
        self.journal = journal
        self._journal_interval = journal_interval
        self._running: set[asyncio.Task[None]] = set()
        self.scheduler = AsyncIOScheduler(timezone=UTC)

    async def poll(self) -> None:
        """Check not-yet-checked catalog entries, then poll the feeds."""
        await self.watch.check_catalog()
        reports = await self.watch.poll_feeds()
        if any(r.gap for r in reports):
            # The feed window overflowed: the index is the only complete answer, now.
            self.reconcile_now()

    async def reconcile(self) -> None:
        """Reconcile with the whole index, and finish events a crash left behind."""
        try:
            await self.watch.reconcile()  # also turns its events into alerts
        except WatcherError as exc:  # index down, stale or refused listing
            log.error("reconcile failed, will retry at the next slot: %s", exc)
            # Events an earlier run recorded but did not finish still get their alerts.
            await self.watch.process_index_events()

    def reconcile_now(self) -> None:
        """Run the reconcile job as soon as possible (coalesced with a run in progress)."""
        job = self.scheduler.get_job("reconcile")
        if job is not None:
            log.warning("feed gap: reconciling with the whole index now")
            job.modify(next_run_time=datetime.now(UTC))

    async def follow_journal(self) -> None:
        """Read the index's change log from its cursor (only with ``WATCHER_JOURNAL`` on)."""
        assert self.journal is not None
        try:
            await self.journal.poll()  # rate limits back off inside; also processes events
        except WatcherError as exc:  # index down, malformed answer
            log.error("change log read failed, cursor kept; will retry: %s", exc)
            await self.watch.process_index_events()

    async def dispatch(self) -> None:
        """Drain the alert outbox."""
        await self.dispatcher.dispatch()

    def start(self) -> None:
        """Start the scheduler inside the running loop; both jobs run at once, then on interval."""
        now = datetime.now(UTC)
        common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
        self.scheduler.add_job(
            self._tracked("poll", self.poll),
            "interval",
            seconds=self._poll_interval,
            id="poll",
            next_run_time=now,
            jitter=None,
            **common,
        )
        if self._reconcile_interval is not None:
            self.scheduler.add_job(
                self._tracked("reconcile", self.reconcile),
                "interval",
                seconds=self._reconcile_interval,
                id="reconcile",
                next_run_time=now,
                **common,
            )
        if self.journal is not None:
            self.scheduler.add_job(
                self._tracked("journal", self.follow_journal),
                "interval",
                seconds=self._journal_interval,
                id="journal",
                next_run_time=now,
                **common,
            )
        self.scheduler.add_job(
            self._tracked("dispatch", self.dispatch),
            "interval",
            seconds=self._dispatch_interval,
            id="dispatch",
            next_run_time=now,
            **common,
        )
        self.scheduler.start()

    async def stop(self, grace: float = 10.0) -> None:
        """Stop scheduling, let running jobs finish (cancel them after ``grace`` seconds)."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if not self._running:
            return
        _, pending = await asyncio.wait(set(self._running), timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            log.warning("cancelled %d jobs still running at shutdown", len(pending))
            await asyncio.wait(pending)

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
