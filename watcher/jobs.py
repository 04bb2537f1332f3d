"""The daemon's jobs. Each is a thin call into a plain ``async def`` that tests call directly.

APScheduler 3 does not await running jobs at shutdown, so every run is tracked here and
awaited (then cancelled if it overstays) before the engine and HTTP session close.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import datetime

from watcher.alerts import Dispatcher
from watcher.alerts.retention import OutboxRetention
from watcher.alerts.webhook_dispatcher import WebhookDispatcher
from watcher.config import ScheduleSettings
from watcher.errors import (
    FeedsFailed,
    IndexUnavailable,
    ListingNotRefreshed,
    NotAnIndex,
    WatcherError,
)
from watcher.health import JOB_IDS, SUMMARY_INTERVAL, HealthBook, RunOutcome
from watcher.metrics import Metrics
from watcher.outages import OutageAlerts
from watcher.pipeline import Pipeline
from watcher.pypi import IndexClient
from watcher.scheduler_logs import quiet_skipped_runs
from watcher.scheduling import Job, JobScheduler
from watcher.sources import CatalogSource, FeedSource, JournalSource, ListingSource
from watcher.sources.feeds import PollReport
from watcher.sources.known_names import KnownNames
from watcher.sources.ownership import OwnershipAudit
from watcher.store.base import utcnow

log = logging.getLogger(__name__)


quiet_skipped_runs()

# What only the leader does (the catalog job too, in its full form: see reload_catalog);
# every replica keeps its check API's view of the names ("names").
LEADER_JOBS = frozenset({"poll", "reconcile", "journal", "dispatch", "webhook", "retention"})


class Jobs(JobScheduler):
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
        webhook: WebhookDispatcher | None = None,
        known_names: KnownNames | None = None,
        retention: OutboxRetention | None = None,
        ownership: OwnershipAudit | None = None,
        outages: OutageAlerts | None = None,
        index: IndexClient | None = None,
        clock: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
        summary_interval: float = SUMMARY_INTERVAL,
        metrics: Metrics | None = None,  # each run's duration and outcome, per source
    ) -> None:
        self.pipeline = pipeline
        self.dispatcher = dispatcher
        self.feeds = feeds
        self.listing = listing
        self.catalog = catalog
        self.journal = journal
        self.webhook = webhook
        self.known_names = known_names
        self.retention = retention
        self.ownership = ownership
        self._outages = outages
        self._index = index
        self._schedule = schedule
        super().__init__(LEADER_JOBS)
        self._book = HealthBook(
            [
                job_id
                for job_id in JOB_IDS
                if (job_id != "journal" or journal is not None)
                and (job_id != "webhook" or webhook is not None)
                and (job_id != "names" or known_names is not None)
                and (job_id != "retention" or retention is not None)
            ],
            clock=clock,
            monotonic=monotonic,
            summary_interval=summary_interval,
            observer=metrics,
        )
        self.health = self._book.health
        self._undelivered = False  # the last dispatch that did something failed
        self._not_an_index: str | None = None  # the last NotAnIndex logged

    async def poll(self) -> None:
        """Poll the feeds, then check catalog entries not checked yet; process what they
        recorded. A summary goes to the log at most once a minute."""
        async with self._run("poll") as run:
            try:
                events, reports = await self._poll_sources(run)
            except Exception:
                # Whatever became of the feeds (the index refused, a database error):
                # events recorded earlier, or left by a dead process, are processed on
                # every poll, not only at the next reconcile.
                await self.pipeline.process_pending()
                raise
            alerts = await self.pipeline.process_pending()
            self._book.count_poll(reports, events, alerts, failed=run.error is not None)
            if self.known_names is not None and any(r.new_items for r in reports):
                # The check API's view of the names follows at once, not at its interval.
                self.run_now("names")
            if any(r.gap for r in reports):
                # The feed window overflowed: the index is the only complete answer, now.
                self.listing.expect_newer()  # an unchanged (cached) listing is no answer
                self.run_now("reconcile", "feed gap: reconciling with the whole index now")
        self._book.poll_summary()

    async def _poll_sources(self, run: RunOutcome) -> tuple[int, list[PollReport]]:
        """Poll the feeds and check the catalog entries not checked yet; return how many
        events the check recorded, and the feeds' reports."""
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
        return events, reports

    async def reconcile(self) -> None:
        """Reconcile with the whole index, and finish events a crash left behind."""
        async with self._run("reconcile") as run:
            try:
                await self._confirm_index()
                await self.listing.reconcile()
            except WatcherError as exc:  # index down, stale or refused listing
                run.fail(exc)
                if isinstance(exc, ListingNotRefreshed):  # after a feed gap: soon again
                    self.run_now("reconcile", delay=exc.retry_in)
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
            if not self.leading:
                # The leader reads the indexes and records: here, its loads and the file.
                await self.catalog.follow()
                return
            report = await self.catalog.reload()
            if report.error is not None:  # the catalog source logged it (once)
                run.fail(report.error, quiet=True)
            if report.changed:
                await self.pipeline.process_pending()
            if self.ownership is not None and (self._index is None or self._index.confirmed):
                # On every reload, changed or not: a takeover of one of our own public
                # projects changes nothing in the catalog, and the change log may be off.
                # Not before the index is confirmed (nothing is asked of it until then);
                # the first reload after that audits.
                await self.ownership.run()

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

    async def deliver_to_webhook(self) -> None:
        """Drain the webhook's deliveries."""
        assert self.webhook is not None
        async with self._run("webhook") as run:
            report = await self.webhook.dispatch()
            if report.failed:  # the dispatcher logged the failure
                run.fail(f"{report.failed} alerts not delivered; retried with backoff", quiet=True)

    async def prune(self) -> None:
        """Delete delivered alerts older than the retention."""
        assert self.retention is not None
        async with self._run("retention"):
            await self.retention.run()

    async def refresh_names(self) -> None:
        """Bring the check API's view of the public names up to date."""
        assert self.known_names is not None
        async with self._run("names"):
            await self.known_names.refresh()

    def set_leading(self, leading: bool) -> None:
        """Leadership won (the leader's jobs run at once; alerts left in flight are looked
        up again) or lost (its jobs' runs in progress are cancelled at once: another replica
        leads now, and claims and leases make every interrupted step safe to repeat)."""
        self.leading = leading
        if leading:
            self.dispatcher.recover_again()
            if self.webhook is not None:
                self.webhook.recover_again()
            for job_id in sorted(LEADER_JOBS | {"catalog"}):
                self.run_now(job_id)
            return
        cancelled = self._cancel_runs(LEADER_JOBS | {"catalog"})
        if cancelled:
            log.warning("leadership lost: %d runs of the leader's jobs cancelled", cancelled)

    def start(self) -> None:
        """Start the scheduler inside the running loop; every job runs at once, then on
        its interval."""
        schedule = self._schedule
        jobs: list[Job] = [
            ("poll", self.poll, schedule.poll_interval),
            ("reconcile", self.reconcile, schedule.reconcile_interval),
            # The file is looked at, and the private indexes read when due, in one job.
            (
                "catalog",
                self.reload_catalog,
                min(schedule.catalog_reload_interval, schedule.index_reload_interval),
            ),
            ("dispatch", self.dispatch, schedule.dispatch_interval),
        ]
        if self.journal is not None:
            jobs.append(("journal", self.follow_journal, schedule.journal_interval))
        if self.webhook is not None:
            jobs.append(("webhook", self.deliver_to_webhook, schedule.dispatch_interval))
        if self.known_names is not None:
            jobs.append(("names", self.refresh_names, schedule.poll_interval))
        if self.retention is not None:
            jobs.append(("retention", self.prune, schedule.retention_interval))
        self._schedule_jobs(jobs)

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
        self._book.started(job_id)
        try:
            yield run
        except WatcherError as exc:
            self._book.failed(job_id, exc)
            await self._tell_outage(job_id)
            return
        except Exception as exc:
            self._book.failed(job_id, exc, unexpected=True)
            await self._tell_outage(job_id)
            raise
        if run.error is not None:
            self._book.failed(job_id, run.error, quiet=run.quiet)
        elif not run.skipped:
            self._book.succeeded(job_id)
        await self._tell_outage(job_id)

    async def _tell_outage(self, job_id: str) -> None:
        """Alert a source failing for too long, or working again (once each)."""
        if self._outages is None:
            return
        try:
            await self._outages.check(self._book.source_of(job_id))
        except WatcherError as exc:  # the database down: the next run looks again
            log.debug("outage alert of %s not queued: %s", job_id, exc)


def _all_said(errors: Iterable[Exception]) -> bool:
    """Whether the feed source logged all these feed errors (all but the index down)."""
    return not any(isinstance(exc, IndexUnavailable) for exc in errors)
