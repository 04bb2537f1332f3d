"""Shared fixtures: the fakes, a migrated database on SQLite and PostgreSQL, settings, a daemon."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.fakes.pypi import FakeIndex
from tests.fakes.slack import FakeSlack
from watcher.app import Service
from watcher.catalog import load_catalog_file
from watcher.config import Settings, load_settings
from watcher.matching.live import LiveCatalog
from watcher.pypi import IndexClient
from watcher.store import Database

# PostgreSQL tests run against this database (wiped per test); skipped when unset, unless
# WATCHER_TEST_REQUIRE_POSTGRES is set (CI), where a missing URL fails instead.
PG_ENV = "WATCHER_TEST_POSTGRES_URL"
REQUIRE_PG_ENV = "WATCHER_TEST_REQUIRE_POSTGRES"

CATALOG_TOML = """\
names = ["acme-billing", "Payments_Core", "internal-tool"]
prefixes = ["acme"]
allow = ["acme-public-sdk"]
owners = ["acme-corp"]
"""


# The same example as README's "Set up"; `bash .ci/run` starts such a database itself.
PG_EXAMPLE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/watcher_test"
PG_SKIP_REASON = f"PostgreSQL tests need {PG_ENV}, e.g. {PG_EXAMPLE_URL}"


def postgres_url() -> str:
    """The PostgreSQL test URL, or skip (fail in CI) with a visible reason."""
    url = os.environ.get(PG_ENV)
    if not url:
        if os.environ.get(REQUIRE_PG_ENV):
            pytest.fail(f"{REQUIRE_PG_ENV} is set but {PG_SKIP_REASON}")
        pytest.skip(PG_SKIP_REASON)
    return url


def _is_postgres(report: pytest.TestReport) -> bool:
    longrepr = report.longrepr
    return isinstance(longrepr, tuple) and PG_SKIP_REASON in str(longrepr[-1])


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> Iterator[None]:
    """One line for every PostgreSQL test skipped, instead of one line each in the short
    summary (``-ra``); other skips keep theirs, and the final counts are unchanged."""
    stats = terminalreporter.stats
    skipped = stats.get("skipped", [])
    others = [r for r in skipped if not (isinstance(r, pytest.TestReport) and _is_postgres(r))]
    postgres = len(skipped) - len(others)
    if postgres:
        stats["skipped"] = others  # hidden from the short summary only
    try:
        return (yield)
    finally:
        if postgres:
            stats["skipped"] = skipped
            terminalreporter.write_line(
                f"{postgres} PostgreSQL tests skipped: set {PG_ENV}={PG_EXAMPLE_URL}"
                " (bash .ci/run does)"
            )


async def reset_postgres(url: str) -> None:
    """Drop everything in the test database's public schema."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each dialect."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'watcher.db'}"
    url = postgres_url()
    await reset_postgres(url)
    return url


@asynccontextmanager
async def migrated(url: str) -> AsyncIterator[Database]:
    """A database at ``url`` with the schema built by the real migrations."""
    database = Database(url)
    await database.upgrade()
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A migrated database, on SQLite and on PostgreSQL."""
    async with migrated(database_url) as database:
        yield database


@pytest.fixture
async def postgres_db() -> AsyncIterator[Database]:
    """A migrated PostgreSQL database, for behaviour SQLite does not have (row locks)."""
    url = postgres_url()
    await reset_postgres(url)
    async with migrated(url) as database:
        yield database


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain HTTP client session for tests that talk to servers directly."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


@pytest.fixture
def opened_sessions(monkeypatch: pytest.MonkeyPatch) -> list[aiohttp.ClientSession]:
    """Every ``aiohttp.ClientSession`` created during the test, in order."""
    sessions: list[aiohttp.ClientSession] = []
    real = aiohttp.ClientSession

    def record(*args: Any, **kwargs: Any) -> aiohttp.ClientSession:
        session = real(*args, **kwargs)
        sessions.append(session)
        return session

    monkeypatch.setattr(aiohttp, "ClientSession", record)
    return sessions


@pytest.fixture
async def fake_index() -> AsyncIterator[FakeIndex]:
    """A fake index on 127.0.0.1."""
    async with FakeIndex() as index:
        yield index


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    """A fake Slack on 127.0.0.1."""
    async with FakeSlack() as slack:
        yield slack


@pytest.fixture
async def index_client(fake_index: FakeIndex) -> AsyncIterator[IndexClient]:
    """The production index client on ``fake_index``, without retries."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield IndexClient(session, fake_index.base_url, retries=0)


@pytest.fixture
def live_catalog(catalog_file: Path) -> LiveCatalog:
    """The standard test catalog, live."""
    return LiveCatalog.of(load_catalog_file(catalog_file))


@pytest.fixture
def catalog_file(tmp_path: Path) -> Path:
    """The standard test catalog."""
    path = tmp_path / "catalog.toml"
    path.write_text(CATALOG_TOML)
    return path


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No WATCHER_* variable from the developer's shell leaks into a test."""
    for key in list(os.environ):
        if key.startswith("WATCHER_") and not key.startswith("WATCHER_TEST_"):
            monkeypatch.delenv(key)


SettingsFactory = Callable[..., Settings]


@pytest.fixture
def make_settings(
    clean_env: None,
    db: Database,
    fake_index: FakeIndex,
    fake_slack: FakeSlack,
    catalog_file: Path,
) -> SettingsFactory:
    """Settings pointing at the fakes and a migrated database; keywords override fields."""

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "pypi_url": fake_index.base_url,
            "catalog": catalog_file,
            "database_url": db.url,
            "poll_interval": 0.5,
            "dispatch_interval": 0.2,
            "slack_token": fake_slack.token,
            "slack_channel": "C0SECURITY",
            "slack_api_url": fake_slack.base_url,
            "http_port": 0,
            "http_retries": 1,
            "http_timeout": 5.0,
            "alert_retry_base": 0.2,
        }
        values.update(overrides)
        return load_settings(**values)

    return build


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Service]:
    """Run the daemon in this event loop until the block exits."""
    service = Service(settings)
    task = asyncio.create_task(service.run())
    started = asyncio.create_task(service.started.wait())
    done, _ = await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        started.cancel()
        task.result()  # raises the start-up error
    try:
        yield service
    finally:
        service.stop.set()
        await asyncio.wait_for(task, timeout=30)
