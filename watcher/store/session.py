"""The one owner of the database engine, and the bridge to the Alembic migrations."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from watcher.errors import DatabaseUnavailable, SchemaNotCurrent

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


@asynccontextmanager
async def _connection_errors() -> AsyncIterator[None]:
    """Turn losing the connection into :class:`DatabaseUnavailable` (other errors pass)."""
    try:
        yield
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        raise DatabaseUnavailable(_first_line(exc.orig if exc.orig is not None else exc)) from exc
    except OSError as exc:  # refused or reset while connecting, below the driver's errors
        if not _raised_by_database(exc):
            raise  # the caller's own I/O inside the transaction: not the database's fault
        raise DatabaseUnavailable(_first_line(exc)) from exc


_DATABASE_PACKAGES = ("sqlalchemy", "asyncpg", "aiosqlite", "sqlite3")


def _raised_by_database(exc: BaseException) -> bool:
    """True if ``exc`` came out of the database's code (SQLAlchemy or a driver): an OSError
    from anywhere else (an HTTP call made inside a transaction) is no lost connection."""
    frame = exc.__traceback__
    while frame is not None:
        module = str(frame.tb_frame.f_globals.get("__name__", ""))
        if module.split(".", 1)[0] in _DATABASE_PACKAGES:
            return True
        frame = frame.tb_next
    return False


def _first_line(exc: BaseException) -> str:
    # SQLAlchemy's messages go on with the SQL, its parameters and a link: not for the log.
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def migrations_dir() -> Path:
    """Where the Alembic scripts are: inside the package (wheel) or at the repo top (editable)."""
    for candidate in (_PACKAGE_DIR / "_migrations", _PACKAGE_DIR.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise FileNotFoundError("the watcher's Alembic migrations are not installed")


def alembic_config(database_url: str | None = None) -> Config:
    """An Alembic config that needs no ``alembic.ini`` on disk."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    if database_url is not None:
        # ConfigParser interpolation would choke on '%' in passwords.
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


class Database:
    """Owns the async engine and hands out sessions. Create once per process; ``close`` last."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        if url.startswith("sqlite"):
            engine_kwargs.setdefault("connect_args", {"timeout": 30})
        else:
            engine_kwargs.setdefault("pool_pre_ping", True)
        self.engine: AsyncEngine = create_async_engine(url, **engine_kwargs)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back otherwise.

        Raises :class:`DatabaseUnavailable` when the connection is lost.
        """
        async with _connection_errors(), self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A transaction that reads and then writes: it holds the write lock from its start.

        On SQLite that is ``BEGIN IMMEDIATE``: a deferred transaction that reads, then
        writes after another connection committed, fails at once with "database is
        locked" (WAL cannot upgrade a stale snapshot); an immediate one waits its turn
        (busy_timeout) and then sees the newest data. PostgreSQL locks rows as it goes,
        so there it is an ordinary transaction; the queries lock what they claim.
        """
        async with _connection_errors(), self.engine.connect() as conn:
            conn = await conn.execution_options(**{_IMMEDIATE: True})
            # The session begins (and commits, after flushing) the connection's transaction.
            async with AsyncSession(bind=conn, expire_on_commit=False) as session, session.begin():
                yield session

    async def ping(self) -> None:
        """Raise unless the database answers a trivial query."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def upgrade(self, revision: str = "head") -> None:
        """Run the migrations up to ``revision`` on this engine."""
        config = alembic_config()

        def run(sync_conn: Connection) -> None:
            config.attributes["connection"] = sync_conn
            command.upgrade(config, revision)

        async with self.engine.begin() as conn:
            await conn.run_sync(run)

    async def current_revision(self) -> str | None:
        """The schema's Alembic revision, or ``None`` for an empty database."""

        def read(sync_conn: Connection) -> str | None:
            return MigrationContext.configure(sync_conn).get_current_revision()

        async with self.engine.connect() as conn:
            return await conn.run_sync(read)

    async def require_current(self) -> None:
        """Raise :class:`SchemaNotCurrent` unless the schema is at the migrations' head."""
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert head is not None
        current = await self.current_revision()
        if current != head:
            raise SchemaNotCurrent(current, head)

    async def close(self) -> None:
        """Dispose of the engine and its pool."""
        await self.engine.dispose()


_IMMEDIATE = "watcher_immediate"


def _sqlite_begin(conn: Connection) -> None:
    # The driver's own implicit BEGIN is off (isolation_level None, set on connect), so
    # SQLAlchemy's "begin" is ours to emit, IMMEDIATE for write transactions.
    immediate = conn.get_execution_options().get(_IMMEDIATE)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's begin event emit BEGIN (the driver would defer it to the first write).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets the HTTP API read while a poll writes; busy_timeout rides out short locks.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
