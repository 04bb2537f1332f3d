"""A PostgreSQL session-level advisory lock on a connection of its own (watcher.leader).

The lock lives as long as the session: it is never taken inside a transaction that ends,
and the connection never goes back to the pool while it may hold the lock.
"""

from __future__ import annotations

import contextlib

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from watcher.store.session import Database

# The server notices a connection cut off after about idle + interval * count seconds
# (PostgreSQL's own TCP keepalives for this session; ignored on a Unix socket).
_KEEPALIVES = {"tcp_keepalives_idle": 4, "tcp_keepalives_interval": 2, "tcp_keepalives_count": 3}


class LockSession:
    """One connection, set aside for an advisory lock."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    @classmethod
    async def open(cls, db: Database) -> LockSession:
        """A new connection from ``db``'s engine, probed by the server as said above."""
        conn = await db.engine.connect()
        try:
            for setting, value in _KEEPALIVES.items():
                await conn.execute(text(f"SET {setting} = {int(value)}"))
            await conn.commit()
        except BaseException:
            await _discard(conn)
            raise
        return cls(conn)

    async def try_lock(self, key: int) -> bool:
        """Take the lock ``key`` if nobody holds it (never waits)."""
        got = await self._conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key})
        await self._conn.commit()  # no transaction left open on this connection
        return bool(got)

    async def holds(self) -> bool:
        """Whether this session still holds an advisory lock (a round trip: the heartbeat)."""
        held = await self._conn.scalar(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                " AND pid = pg_backend_pid() AND granted"
            )
        )
        await self._conn.commit()
        return bool(held)

    async def release(self) -> None:
        """Give every lock back and close the connection (a clean stop)."""
        try:
            await self._conn.execute(text("SELECT pg_advisory_unlock_all()"))
            await self._conn.commit()
            await self._conn.close()
        except Exception:
            await self.discard()

    async def discard(self) -> None:
        """Close a connection that must not be reused (broken, or maybe holding the lock):
        invalidated, so the pool closes it instead of handing it out again."""
        await _discard(self._conn)


async def _discard(conn: AsyncConnection) -> None:
    with contextlib.suppress(Exception):
        await conn.invalidate()
    with contextlib.suppress(Exception):
        await conn.close()


async def lock_holder(db: Database, key: int) -> int | None:
    """The server process id of the session holding the advisory lock ``key`` now, or
    ``None`` when nobody does (PostgreSQL only; read from ``pg_locks``, taking nothing).

    ``pg_locks`` lists the locks of every database on the server: only this database's
    count (another database's service has a leader of its own). A lock taken with one
    64-bit key is listed with its high half in ``classid``, its low half in ``objid`` and
    ``objsubid`` 1.
    """
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    async with db.engine.connect() as conn:
        pid = await conn.scalar(
            text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND database = (SELECT oid FROM pg_database"
                " WHERE datname = current_database())"
                " AND classid::bigint = :high AND objid::bigint = :low AND objsubid = 1"
                " LIMIT 1"
            ),
            {"high": unsigned >> 32, "low": unsigned & 0xFFFF_FFFF},
        )
    return int(pid) if pid is not None else None
