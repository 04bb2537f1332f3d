"""The engine owner: ping, migrations, schema checks, the SQLite connection settings, the
UTC column type, and transactions (rollback, write transactions run at once)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, StatementError

from tests.support import closed_port
from watcher.errors import DatabaseUnavailable, SchemaNotCurrent
from watcher.store import Database, catalog, events, feeds, findings, history, journal, outbox
from watcher.store.events import NewEvent
from watcher.store.history import ProjectDetails, ReleaseRecord
from watcher.store.models import EventKind, EventSource, PublicProject
from watcher.store.session import alembic_config

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
PLUS_TWO = timezone(timedelta(hours=2))


def assert_utc(value: datetime | None) -> datetime:
    assert value is not None
    assert value.tzinfo is not None
    assert value.utcoffset() == timedelta(0)
    return value


def assert_no_leaked_connections(db: Database) -> None:
    pool = db.engine.pool
    checkedout = getattr(pool, "checkedout", None)
    if checkedout is not None:
        assert checkedout() == 0


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


async def test_ping_answers(db: Database) -> None:
    await db.ping()
    assert db.dialect in {"sqlite", "postgresql"}


async def test_upgraded_schema_is_at_head(db: Database) -> None:
    assert await db.current_revision() == head_revision()
    await db.require_current()
    # Upgrading again is a no-op.
    await db.upgrade()
    assert await db.current_revision() == head_revision()


async def test_empty_database_is_not_current(database_url: str) -> None:
    database = Database(database_url)
    try:
        await database.ping()  # reachable, just empty
        assert await database.current_revision() is None
        with pytest.raises(SchemaNotCurrent) as caught:
            await database.require_current()
        assert caught.value.current is None
        assert caught.value.head == head_revision()
        assert "watcher db upgrade" in str(caught.value)
        await database.upgrade()
        await database.require_current()
    finally:
        await database.close()


async def test_ping_raises_when_the_server_is_unreachable() -> None:
    database = Database(f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/nothing")
    try:
        with pytest.raises(OSError):  # noqa: PT011 - any connection error will do
            await database.ping()
    finally:
        await database.close()


async def test_a_refused_connection_in_a_transaction_is_database_unavailable() -> None:
    database = Database(f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/nothing")
    try:
        with pytest.raises(DatabaseUnavailable):
            async with database.transaction() as session:
                await session.execute(text("SELECT 1"))
    finally:
        await database.close()


async def test_the_callers_own_os_errors_pass_through_a_transaction(db: Database) -> None:
    # An HTTP call failing inside a transaction is not the database going away.
    async def hung_up() -> None:
        async with db.transaction() as session:
            await session.execute(text("SELECT 1"))
            raise ConnectionResetError("the index hung up")

    async def refused() -> None:
        async with db.write():
            raise ConnectionRefusedError("the index refused")

    with pytest.raises(ConnectionResetError):
        await hung_up()
    with pytest.raises(ConnectionRefusedError):
        await refused()


async def test_sqlite_connections_use_wal_and_foreign_keys(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    try:
        async with database.engine.connect() as conn:
            mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar()
            fks = (await conn.execute(text("PRAGMA foreign_keys"))).scalar()
            busy = (await conn.execute(text("PRAGMA busy_timeout"))).scalar()
        assert str(mode).lower() == "wal"
        assert fks == 1
        assert busy == 30000
    finally:
        await database.close()


# --- UTC datetimes ------------------------------------------------------------------------


async def test_aware_datetimes_round_trip_as_utc(db: Database) -> None:
    local = datetime(2024, 5, 1, 14, 0, 0, 654321, tzinfo=PLUS_TWO)  # 12:00:00.654321 UTC
    async with db.transaction() as session:
        session.add(
            PublicProject(normalized_name="acme-x", name="acme-x", first_seen_at=local, owners=[])
        )
    async with db.transaction() as session:
        project = (
            await session.execute(
                select(PublicProject).where(PublicProject.normalized_name == "acme-x")
            )
        ).scalar_one()
        raw = (await session.execute(text("SELECT first_seen_at FROM public_projects"))).scalar()
    first_seen = assert_utc(project.first_seen_at)
    assert first_seen == local
    assert (first_seen.hour, first_seen.microsecond) == (12, 654321)
    # The stored value itself is UTC (SQLite keeps naive text: it must not be local time).
    assert "12:00:00" in str(raw)
    assert_utc(project.last_seen_at)  # the Python-side default is aware too
    assert_no_leaked_connections(db)


async def test_naive_datetime_is_rejected(db: Database) -> None:
    naive = datetime(2024, 5, 1, 12, 0)  # noqa: DTZ001 - the point of the test
    with pytest.raises(StatementError, match="naive datetime"):
        async with db.transaction() as session:
            await history.upsert_project(session, "acme-x", "acme-x", naive, ProjectDetails())
    async with db.transaction() as session:
        assert (await session.execute(select(PublicProject))).first() is None


# --- transactions ---------------------------------------------------------------------------


class Boom(Exception):
    pass


async def write_everything_then_fail(db: Database) -> None:
    async with db.transaction() as session:
        project_id, _ = await history.upsert_project(
            session, "acme-x", "acme-x", T0, ProjectDetails()
        )
        await history.add_release(
            session, project_id, ReleaseRecord("1.0", source="feed:updates", first_seen_at=T0)
        )
        await findings.add_finding(
            session,
            public_name="acme-x",
            internal_name="acme",
            kind="prefix",
            detail="d",
            now=T0,
        )
        await outbox.enqueue_alert(
            session, event_key="new:acme-x", public_name="acme-x", payload={}, now=T0
        )
        await feeds.save_cursor(session, "updates", etag="e", seen_keys=["k"], now=T0)
        await catalog.mark_checked(session, "acme", "prefix", found=True, now=T0)
        await events.add_events(
            session, [NewEvent("acme-x", "acme-x", EventKind.NEW, EventSource.INDEX)], T0
        )
        await session.flush()  # the rows really reached the database before the failure
        raise Boom


async def test_failed_transaction_rolls_back_everything(db: Database) -> None:
    with pytest.raises(Boom):
        await write_everything_then_fail(db)
    async with db.transaction() as session:
        for table in (
            "public_projects",
            "releases",
            "findings",
            "alert_outbox",
            "feed_states",
            "catalog_checks",
            "index_events",
        ):
            count = (await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar()  # noqa: S608
            assert count == 0, table
    assert_no_leaked_connections(db)


async def alert_then_orphan_release(db: Database, project_id: int) -> None:
    async with db.transaction() as session:
        await outbox.enqueue_alert(
            session, event_key="new:acme-x", public_name="acme-x", payload={}, now=T0
        )
        # A release of a project that does not exist violates the foreign key.
        await history.add_release(
            session,
            project_id + 1000,
            ReleaseRecord("1.0", source="feed:updates", first_seen_at=T0),
        )


async def test_constraint_violation_rolls_back_the_whole_transaction(db: Database) -> None:
    async with db.transaction() as session:
        project_id, _ = await history.upsert_project(
            session, "acme-tools", "acme-tools", T0, ProjectDetails()
        )
    with pytest.raises(IntegrityError):
        await alert_then_orphan_release(db, project_id)
    async with db.transaction() as session:
        assert await outbox.outbox_counts(session) == {}


async def alert_then_fail(db: Database) -> None:
    async with db.write() as session:
        await outbox.enqueue_alert(session, event_key="k", public_name="acme-x", payload={}, now=T0)
        await session.flush()
        raise Boom


async def test_a_failed_write_transaction_rolls_back_too(db: Database) -> None:
    with pytest.raises(Boom):
        await alert_then_fail(db)
    async with db.write() as session:
        assert await outbox.outbox_counts(session) == {}
    assert_no_leaked_connections(db)


async def test_concurrent_write_transactions_that_read_then_write_all_succeed(
    db: Database,
) -> None:
    """Read a counter, wait, write it back plus one: five at once.

    On SQLite each write transaction holds the write lock from its start, so they take
    turns and each sees the one before it (a deferred transaction would fail with
    "database is locked" when it tried to write after another had committed). On
    PostgreSQL they run side by side (without a row lock a read can be stale): all of them
    must still succeed.
    """
    async with db.write() as session:
        await journal.save_cursor(session, 0, T0)

    async def increment(index: int) -> int:
        async with db.write() as session:
            cursor = await journal.get_cursor(session)
            assert cursor is not None
            await asyncio.sleep(0.05)  # let the others start in between
            await journal.save_cursor(session, cursor.serial + 1, T0 + timedelta(seconds=index))
        return cursor.serial

    seen = await asyncio.gather(*(increment(i) for i in range(5)))
    async with db.transaction() as session:
        final = await journal.get_cursor(session)
    assert final is not None
    assert_no_leaked_connections(db)
    assert len(seen) == 5  # every one committed (gather raises the first failure)
    if db.dialect == "sqlite":
        assert sorted(seen) == [0, 1, 2, 3, 4]  # serialized: each saw the one before
        assert final.serial == 5  # no write lost
    else:
        assert 1 <= final.serial <= 5
