"""The lifecycle owner: ordered start-up, reverse shutdown, signals."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Mapping
from contextlib import AsyncExitStack
from datetime import timedelta

from watcher.alerts import Dispatcher
from watcher.alerts.acted_notes import ActedNotes
from watcher.alerts.planner import Routing
from watcher.alerts.retention import OutboxRetention
from watcher.alerts.slack import AlertSender, RequestVerifier, SlackSender, open_slack_sender
from watcher.alerts.webhook import open_webhook_sender
from watcher.alerts.webhook_dispatcher import WebhookDispatcher
from watcher.checks import NameChecker
from watcher.config import Settings
from watcher.errors import IndexUnavailable
from watcher.health import SourceHealth
from watcher.jobs import Jobs
from watcher.leader import Leadership
from watcher.matching.live import CatalogView, LiveCatalog, load_view
from watcher.matching.public_names import PublicNames
from watcher.metrics import Metrics
from watcher.outages import OutageAlerts
from watcher.pipeline import Pipeline
from watcher.pypi import open_index_client
from watcher.redaction import redact_url, register_secret, split_credentials
from watcher.sources import CatalogSource, FeedSource, JournalSource, ListingSource
from watcher.sources.indexes import PrivateIndexes
from watcher.sources.known_names import KnownNames
from watcher.sources.ownership import OwnershipAudit
from watcher.store import Database, deliveries
from watcher.store.base import utcnow
from watcher.web import create_app
from watcher.web.lookups import IndexLookups
from watcher.web.server import bound_port, start_api
from watcher.web.slack_actions import SlackActions

log = logging.getLogger(__name__)

# Beyond the time a leader that lost its lock keeps working (two heartbeats and a check's
# timeout, see watcher.leader), with a margin.
IN_FLIGHT_LEASE = timedelta(seconds=15)


async def open_database(settings: Settings) -> Database:
    """Connect; on SQLite bring the schema to head, elsewhere require it to be there already.

    Production databases are migrated by an explicit ``watcher db upgrade`` (one step in a
    deployment, not a race between replicas starting at once).
    """
    db = Database(settings.database_url)
    try:
        if db.dialect == "sqlite":
            await db.upgrade()
        else:
            await db.require_current()
    except BaseException:
        await db.close()
        raise
    return db


class Service:
    """The running daemon. ``run`` returns when ``stop`` is set (SIGTERM/SIGINT).

    ``view`` is the catalog to start with; by default it is read from the catalog file.
    ``sender`` receives the alerts instead of Slack (``watcher demo`` prints them).
    """

    def __init__(
        self,
        settings: Settings,
        view: CatalogView | None = None,
        *,
        sender: AlertSender | None = None,
    ) -> None:
        self.settings = settings
        self._sender = sender
        self.catalog = LiveCatalog(view or load_view(settings.catalog_path, utcnow()))
        self.stop = asyncio.Event()
        self.started = asyncio.Event()
        self.port: int | None = None
        self.jobs: Jobs | None = None
        self.metrics = Metrics(settings.schedule)  # GET /metrics: this service's own registry
        self.leadership: Leadership | None = None

    def reload_catalog(self) -> None:
        """Look at the catalog file and read the private indexes now (SIGHUP)."""
        if self.jobs is not None:
            self.jobs.catalog.read_indexes_now()
            self.jobs.run_now("catalog", "catalog reload requested")

    def _leadership_changed(self, leading: bool) -> None:
        self.metrics.set_leader(leading)
        if self.jobs is not None:
            self.jobs.set_leading(leading)

    def sources(self) -> Mapping[str, SourceHealth]:
        """How each source's latest runs went (empty before the jobs exist)."""
        return self.jobs.health if self.jobs is not None else {}

    async def run(self) -> None:
        """Start everything in order, wait for ``stop``, shut down in reverse order:
        database, index client, Slack, the API's own index client, HTTP API, then the jobs
        (stopped first).

        Raises :class:`~watcher.errors.NotAnIndex` (a configuration error) when the
        index's base URL answers as something else than an index. An index that cannot
        be reached does not stop the start: it is confirmed once it answers, before
        anything is asked of it.
        """
        settings = self.settings
        _register_secrets(settings)
        async with AsyncExitStack() as stack:
            db = await open_database(settings)
            stack.push_async_callback(db.close)
            client = await stack.enter_async_context(open_index_client(settings.index))
            try:
                await client.confirm_index()
            except IndexUnavailable as exc:
                log.warning(
                    "cannot confirm the index at start-up, starting anyway (it is confirmed"
                    " before anything is asked of it): %s",
                    exc,
                )
            sender = self._sender
            if sender is None and settings.slack is not None:
                sender = await stack.enter_async_context(open_slack_sender(settings.slack))
            elif sender is None:
                log.warning(
                    "Slack is not configured (WATCHER_SLACK_TOKEN/WATCHER_SLACK_CHANNEL):"
                    " alerts are kept in the outbox and logged"
                )

            webhook = await _open_webhook(settings, db, stack, self.metrics)
            pipeline = Pipeline(db, client, self.catalog, metrics=self.metrics)
            if db.dialect == "sqlite":
                # One process per SQLite file: claims left behind are a dead process's.
                released = await pipeline.release_stale_claims()
                if released:
                    log.info("released %d index events a stopped process had claimed", released)
            catalog = CatalogSource(
                db,
                client,
                self.catalog,
                path=settings.catalog_path,
                indexes=PrivateIndexes(db, client, settings.indexes),
            )
            await catalog.restore()  # private indexes' last good loads, read again soon
            await catalog.record_loaded()
            self.metrics.watch_catalog(catalog.sizes)

            # The API asks the index on its own connections, a few at a time: a crowd of
            # clients on a slow index must not hold the connections the polls need.
            api_client = await stack.enter_async_context(
                open_index_client(settings.index, connections=settings.api.index_concurrency)
            )
            lookups = IndexLookups(api_client, concurrency=settings.api.index_concurrency)
            # Names the store knows are answered from memory (built by the "names" job).
            known_names = KnownNames(db, PublicNames())
            checker = NameChecker(
                self.catalog,
                lookups,
                confirm_index=True,
                known=known_names.names,
                details=known_names,
            )
            slack_actions = None
            if settings.slack_signing_secret is not None:
                # The buttons' clicks: verified with the signing secret, shown on the alert
                # through the Slack sender (when the alerts go to Slack).
                slack_actions = SlackActions(
                    RequestVerifier(settings.slack_signing_secret.get_secret_value()),
                    sender if isinstance(sender, SlackSender) else None,
                )
            app = create_app(
                checker,
                db,
                settings.api.token,
                sources=self.sources,
                slack=slack_actions,
                index_url=settings.index_url,
                metrics=self.metrics,
                # Changes made through the API or the page, shown on their alerts too.
                acted_notes=ActedNotes(db, sender) if isinstance(sender, SlackSender) else None,
            )
            runner = await start_api(app, settings.api.host, settings.api.port)
            stack.push_async_callback(runner.cleanup)
            self.port = bound_port(runner, settings.api.port)

            journal = None
            if settings.schedule.journal:
                journal = JournalSource(
                    db,
                    client,
                    self.catalog,
                    pipeline.recorder,
                    max_backoff=settings.schedule.journal_max_backoff,
                )
            self.jobs = Jobs(
                pipeline,
                Dispatcher(
                    db,
                    sender,
                    retry_base=settings.schedule.alert_retry_base,
                    routing=Routing.of(settings.alerts),
                    metrics=self.metrics,
                    lease=_in_flight_lease(db),
                ),
                settings.schedule,
                feeds=FeedSource(db, client, self.catalog),
                listing=ListingSource(db, client, self.catalog, pipeline.recorder),
                catalog=catalog,
                outages=OutageAlerts(db, settings.source_alert_after, clock=utcnow),
                journal=journal,
                webhook=webhook,
                known_names=known_names,
                retention=OutboxRetention(db, settings.schedule.retention_days),
                ownership=OwnershipAudit(db, client, self.catalog, pipeline.recorder),
                index=client,
                metrics=self.metrics,
            )
            # Only the leader among replicas polls and dispatches (on SQLite: this one).
            self.jobs.leading = False
            self.leadership = Leadership(db, self._leadership_changed)
            await self.leadership.start()
            stack.push_async_callback(self.leadership.stop)
            self.jobs.start()
            stack.push_async_callback(self.jobs.stop, settings.shutdown_grace)

            view = self.catalog.current
            log.info(
                "watching %s%s for %d names and %d prefixes; API on http://%s:%s",
                redact_url(settings.index.url),
                " (with its change log)" if journal else "",
                len(view.catalog.names),
                len(view.catalog.prefixes),
                settings.api.host,
                self.port,
            )
            self.started.set()
            await self.stop.wait()
            log.info("shutting down")


async def _open_webhook(
    settings: Settings, db: Database, stack: AsyncExitStack, metrics: Metrics | None = None
) -> WebhookDispatcher | None:
    """The webhook's dispatcher when it is configured (alerts queued from now on go to it
    too); else the webhook is recorded as not configured (no new deliveries)."""
    webhook_settings = settings.webhook
    if webhook_settings is None:
        async with db.transaction() as session:
            await deliveries.set_destinations(session, set(), utcnow())
        return None
    sender = await stack.enter_async_context(open_webhook_sender(webhook_settings))
    webhook = WebhookDispatcher(
        db,
        sender,
        retry_base=settings.alert_retry_base,
        lease=_in_flight_lease(db),
        metrics=metrics,
    )
    await webhook.enable()
    log.info("every alert is also sent to the webhook, signed")
    return webhook


def _in_flight_lease(db: Database) -> timedelta:
    """How long an alert another process claimed stays its own: on PostgreSQL, longer
    than a leader that lost its lock takes to notice and stop (watcher.leader); a SQLite
    file has one process, whose rows left in flight are a dead run's."""
    return IN_FLIGHT_LEASE if db.dialect == "postgresql" else timedelta(0)


def _register_secrets(settings: Settings) -> None:
    # The log handler masks these wherever they appear (an exception's message, a library's
    # debug line), on top of every URL we log going through redact_url.
    for secret in (
        settings.slack_token,
        settings.api_token,
        settings.slack_signing_secret,
        settings.webhook_secret,
    ):
        if secret is not None:
            register_secret(secret.get_secret_value())
    for url in (settings.pypi_url, settings.slack_api_url, settings.database_url):
        if url is not None:
            register_secret(split_credentials(url)[2])
    if settings.webhook_url is not None:
        register_secret(settings.webhook_url)  # its path or query may be the receiver's key


async def run_daemon(settings: Settings) -> None:
    """Load the catalog, run the service until SIGTERM/SIGINT; SIGHUP reloads the catalog."""
    service = Service(settings)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, service.stop.set)
    loop.add_signal_handler(signal.SIGHUP, service.reload_catalog)
    try:
        await service.run()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
