"""The lifecycle owner: ordered start-up, reverse shutdown, signals."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import aiohttp
from aiohttp import web

from watcher.alerts import Dispatcher, SlackSender
from watcher.catalog import Catalog, load_catalog_file
from watcher.checks import NameChecker
from watcher.config import Settings
from watcher.jobs import Jobs
from watcher.journal import JournalFollower
from watcher.matching import build_matcher
from watcher.pypi import IndexClient
from watcher.store import Database
from watcher.watch import Watch
from watcher.web import create_app

log = logging.getLogger(__name__)


@asynccontextmanager
async def http_session(settings: Settings) -> AsyncIterator[aiohttp.ClientSession]:
    """The process's one HTTP client session (index and Slack), created in the running loop."""
    timeout = aiohttp.ClientTimeout(total=settings.http_timeout, connect=10)
    async with aiohttp.ClientSession(
        timeout=timeout,
        headers={"User-Agent": settings.user_agent},
        raise_for_status=False,
    ) as session:
        yield session


def index_client(settings: Settings, session: aiohttp.ClientSession) -> IndexClient:
    """The index client configured from ``settings``."""
    return IndexClient(
        session,
        settings.index_url,
        retries=settings.http_retries,
        max_feed_bytes=settings.max_feed_bytes,
        max_json_bytes=settings.max_json_bytes,
        max_index_bytes=settings.max_index_bytes,
        max_journal_bytes=settings.max_journal_bytes,
    )


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
    """The running daemon. ``run`` returns when ``stop`` is set (SIGTERM/SIGINT)."""

    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        self.settings = settings
        self.catalog = catalog
        self.stop = asyncio.Event()
        self.started = asyncio.Event()
        self.port: int | None = None
        self.jobs: Jobs | None = None

    async def run(self) -> None:
        """Start everything in order, wait for ``stop``, shut down in reverse order."""
        settings = self.settings
        async with AsyncExitStack() as stack:
            db = await open_database(settings)
            stack.push_async_callback(db.close)
            session = await stack.enter_async_context(http_session(settings))
            client = index_client(settings, session)
            matcher = build_matcher(self.catalog)

            sender = None
            if settings.slack_enabled:
                assert settings.slack_token is not None
                assert settings.slack_channel is not None
                sender = SlackSender(
                    session,
                    settings.slack_token.get_secret_value(),
                    settings.slack_channel,
                    base_url=settings.slack_api_url,
                )
            else:
                log.warning(
                    "Slack is not configured (WATCHER_SLACK_TOKEN/WATCHER_SLACK_CHANNEL):"
                    " alerts are kept in the outbox and logged"
                )

            checker = NameChecker(self.catalog, matcher, client)
            token = settings.api_token.get_secret_value() if settings.api_token else None
            runner = web.AppRunner(create_app(checker, db, token), access_log=None)
            await runner.setup()
            stack.push_async_callback(runner.cleanup)
            site = web.TCPSite(runner, settings.http_host, settings.http_port)
            await site.start()
            self.port = _bound_port(runner, settings.http_port)

            watch = Watch(db, client, self.catalog, matcher)
            journal = None
            if settings.journal:
                journal = JournalFollower(
                    db, client, watch, matcher, max_backoff=settings.journal_max_backoff
                )
            self.jobs = Jobs(
                watch,
                Dispatcher(db, sender, retry_base=settings.alert_retry_base),
                poll_interval=settings.poll_interval,
                dispatch_interval=settings.dispatch_interval,
                reconcile_interval=settings.reconcile_interval,
                journal=journal,
                journal_interval=settings.journal_interval,
            )
            self.jobs.start()
            stack.push_async_callback(self.jobs.stop)

            log.info(
                "watching %s%s for %d names and %d prefixes; API on http://%s:%s",
                settings.pypi_url,
                " (with its change log)" if journal else "",
                len(self.catalog.names),
                len(self.catalog.prefixes),
                settings.http_host,
                self.port,
            )
            self.started.set()
            await self.stop.wait()
            log.info("shutting down")


def _bound_port(runner: web.AppRunner, configured: int) -> int:
    # With port 0 the OS picks one: report the one actually bound.
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return configured


async def run_daemon(settings: Settings) -> None:
    """Load the catalog, run the service until SIGTERM/SIGINT."""
    catalog = load_catalog_file(settings.catalog_path)
    service = Service(settings, catalog)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, service.stop.set)
    try:
        await service.run()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
