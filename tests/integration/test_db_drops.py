"""A dropped PostgreSQL connection is said in one concise line per failure, not a wall of
tracebacks (SQLAlchemy's pool, asyncpg, APScheduler and our own logging each had theirs)."""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy import text

from tests.conftest import SettingsFactory, running
from tests.support import until
from watcher.store import Database

pytestmark = pytest.mark.postgres


def rendered(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The log as an operator reads it: each record's lines, tracebacks included."""
    formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")
    return [
        line
        for record in caplog.records
        if record.levelno >= logging.WARNING
        for line in formatter.format(record).splitlines()
    ]


async def terminate_others(db: Database) -> int:
    """Drop every other connection to the database, as a restart or failover would."""
    async with db.engine.connect() as conn:
        dropped = await conn.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
        await conn.commit()
    return int(dropped or 0)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_dropped_connections_are_said_in_one_line_each(
    make_settings: SettingsFactory, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    settings = make_settings(poll_interval=0.1, dispatch_interval=0.05, reconcile_interval=3600)

    def said(text: str) -> bool:
        return any(text in r.getMessage() for r in caplog.records)

    async with running(settings) as service:
        sources = len(service.sources())
        await until(lambda: _now(said("feeds: first poll")), 10, "the first poll")
        caplog.clear()
        # Idle connections are replaced silently (pre-ping); a drop in the middle of a
        # transaction fails that run. Drop until one did (the jobs run every 0.1 s).
        for _ in range(50):
            assert await terminate_others(db) > 0
            await asyncio.sleep(0.2)
            if said("database connection lost"):
                break
        await asyncio.sleep(0.5)  # whatever else the drops make anything say
        noted = [r for r in caplog.records if r.levelno >= logging.WARNING]

    assert said("database connection lost")
    lines = rendered(caplog)
    assert len(lines) == len(noted), "\n".join(lines)  # no traceback, no multi-line message
    assert all(r.exc_info is None for r in noted)
    # Once per failing source (the rest at most once a minute), not once per connection.
    assert len(noted) <= sources, "\n".join(lines)


async def _now(value: bool) -> bool:
    return value
