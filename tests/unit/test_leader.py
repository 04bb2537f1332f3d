"""Leadership among replicas (watcher.leader) on a real PostgreSQL: one holder of the
advisory lock at a time; the lock passes on when the leader stops or its connection dies,
and a leader whose connection dies knows at once. SQLite: the one process leads."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from tests.support import until
from watcher.leader import Leadership
from watcher.store import Database

# Advisory locks are PostgreSQL's: these run on it alone (required in CI, never skipped).
POSTGRES_ONLY = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


class Changes:
    """The calls of a Leadership's callback."""

    def __init__(self) -> None:
        self.seen: list[bool] = []

    def __call__(self, leading: bool) -> None:
        self.seen.append(leading)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_sqlite_leads_alone(db: Database) -> None:
    changes = Changes()
    one = Leadership(db, changes)
    await one.start()
    assert one.leading
    assert changes.seen == [True]
    await one.stop()
    assert changes.seen == [True, False]


@POSTGRES_ONLY
async def test_one_leader_then_the_other_when_it_stops(db: Database) -> None:
    first_changes, second_changes = Changes(), Changes()
    other_db = Database(db.url)
    first = Leadership(db, first_changes, heartbeat=0.2)
    second = Leadership(other_db, second_changes, heartbeat=0.2)
    await first.start()
    await second.start()
    try:
        await asyncio.sleep(1.0)  # several tries by the second
        assert (first.leading, second.leading) == (True, False)
        assert second_changes.seen == []
        await first.stop()
        assert first_changes.seen == [True, False]
        await until(lambda: _true(second.leading), 5, "the second to lead")
        assert second_changes.seen == [True]
    finally:
        await second.stop()
        await first.stop()
        await other_db.close()


@POSTGRES_ONLY
async def test_a_leader_whose_connection_dies_stops_leading_and_the_other_takes_over(
    db: Database,
) -> None:
    first_changes, second_changes = Changes(), Changes()
    other_db = Database(db.url)
    first = Leadership(db, first_changes, heartbeat=0.2)
    second = Leadership(other_db, second_changes, heartbeat=0.2)
    await first.start()
    await second.start()
    try:
        assert first.leading
        # The lock's session ends (as when the network drops it, or an administrator).
        async with other_db.engine.connect() as conn:
            ended = await conn.scalar(
                text(
                    "SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l"
                    " JOIN pg_database d ON d.oid = l.database"
                    " WHERE l.locktype = 'advisory' AND l.granted"
                    " AND d.datname = current_database()"
                )
            )
        assert ended == 1
        await until(lambda: _true(not first.leading), 3, "the first to know it lost")
        assert first_changes.seen == [True, False]
        await until(lambda: _true(second.leading), 5, "the second to lead")
        # The first keeps trying, and does not take the lock from the second.
        await asyncio.sleep(1.0)
        assert (first.leading, second.leading) == (False, True)
    finally:
        await first.stop()
        await second.stop()
        await other_db.close()


async def _true(value: bool) -> bool:
    return value
