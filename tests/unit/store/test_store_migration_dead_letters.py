"""Migration 0005 (index event retries and dead letters) upgrades a database holding events
and downgrades again, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from watcher.store import Database
from watcher.store.session import alembic_config

NEW_COLUMNS = {"attempts", "next_attempt_at", "last_error", "dead_at"}


async def _columns(db: Database) -> set[str]:
    def read(conn: Connection) -> set[str]:
        return {c["name"] for c in inspect(conn).get_columns("index_events")}

    async with db.engine.connect() as conn:
        return await conn.run_sync(read)


async def _downgrade(db: Database, revision: str) -> None:
    config = alembic_config()

    def run(conn: Connection) -> None:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)

    async with db.engine.begin() as conn:
        await conn.run_sync(run)


async def test_0005_upgrades_with_events_waiting_and_downgrades(database_url: str) -> None:
    db = Database(database_url)
    try:
        await db.upgrade("0004")
        assert not NEW_COLUMNS & await _columns(db)
        async with db.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO index_events (normalized_name, name, event, created_at)"
                    " VALUES ('acme-x', 'acme-x', 'new', CURRENT_TIMESTAMP)"
                )
            )
        await db.upgrade("0005")
        assert await _columns(db) >= NEW_COLUMNS
        async with db.engine.connect() as conn:
            row = (await conn.execute(text("SELECT attempts, dead_at FROM index_events"))).one()
        assert tuple(row) == (0, None)  # a waiting event is claimable as before

        await _downgrade(db, "0004")
        assert not NEW_COLUMNS & await _columns(db)
        assert await db.current_revision() == "0004"
        await db.upgrade()
        assert await _columns(db) >= NEW_COLUMNS
    finally:
        await db.close()
