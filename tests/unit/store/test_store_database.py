"""The engine owner: ping, migrations, schema checks, and the SQLite connection settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from tests.support import closed_port
from watcher.errors import SchemaNotCurrent
from watcher.store import Database
from watcher.store.session import alembic_config


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
