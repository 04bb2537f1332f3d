"""One leader among replicas: the holder of a PostgreSQL advisory lock.

Any number of replicas serve the HTTP API; one of them, the leader, also polls, reconciles,
follows the change log, reloads catalogs and dispatches alerts. Leadership is a
session-level advisory lock taken on a connection of its own, kept for as long as the
leader lives: PostgreSQL releases it the moment that session ends (the process killed, the
connection cut), and another replica, trying every few seconds, takes it.

The leader checks its connection with a heartbeat. A heartbeat that fails, or does not
answer in time, means leadership is lost at once: the callback stops the leader's work,
the connection is dropped (never returned to the pool), and the replica goes back to
trying. The server side is told to probe the connection too (TCP keepalives), so that a
leader cut off from the network does not hold the lock for the kernel's default two hours.

SQLite is one process per file: that process leads, and says so at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable

from watcher.store import Database
from watcher.store.advisory import LockSession

log = logging.getLogger(__name__)

# The advisory lock's key: any 64-bit number, the same for every replica of one database.
LOCK_KEY = 0x77617463686572  # "watcher"
HEARTBEAT = 2.0  # seconds between checks of the lock's connection, and between tries


def instance_name() -> str:
    """This replica in the log: host name and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Leadership:
    """Whether this replica leads, kept current by a background task (from :meth:`start`
    to :meth:`stop`).

    ``on_change`` is called with True when leadership is won and False when it is lost
    (also at shutdown), from the event loop, never twice in a row with the same value.
    """

    def __init__(
        self,
        db: Database,
        on_change: Callable[[bool], None],
        *,
        heartbeat: float = HEARTBEAT,
        key: int = LOCK_KEY,
    ) -> None:
        self._db = db
        self._on_change = on_change
        self._heartbeat = heartbeat
        self._key = key
        self.leading = False
        self._session: LockSession | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def single(self) -> bool:
        """True where there is one replica by construction (SQLite)."""
        return self._db.dialect != "postgresql"

    async def start(self) -> None:
        """Lead at once on SQLite; on PostgreSQL, try now and keep trying in the background."""
        if self.single:
            log.info("SQLite: one replica, this one (%s) leads", instance_name())
            self._set(True)
            return
        await self._try()
        self._task = asyncio.create_task(self._loop(), name="leadership")

    async def stop(self) -> None:
        """Stop trying, give the lock back (by closing its session) and stop leading."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._drop(invalidate=False)
        self._set(False)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat)
            if self.leading:
                await self._beat()
            else:
                await self._try()

    async def _try(self) -> None:
        """One attempt to take the lock (errors mean: not now)."""
        session = None
        try:
            async with asyncio.timeout(self._heartbeat * 2):
                session = await LockSession.open(self._db)
                got = await session.try_lock(self._key)
        except Exception as exc:
            if session is not None:
                await session.discard()
            log.debug("leadership: cannot try the lock now: %s", exc)
            return
        if not got:
            await session.release()
            return
        self._session = session
        log.info("this replica (%s) leads: it holds the advisory lock", instance_name())
        self._set(True)

    async def _beat(self) -> None:
        """Check the lock's connection; leadership ends at once when it does not answer."""
        try:
            if self._session is None:
                raise ConnectionError("no connection")
            async with asyncio.timeout(self._heartbeat * 2):
                held = await self._session.holds()
            if not held:
                raise ConnectionError("the advisory lock is no longer held")
        except Exception as exc:
            log.error("this replica lost leadership (its lock's connection failed): %s", exc)
            self._set(False)
            await self._drop(invalidate=True)

    async def _drop(self, *, invalidate: bool) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        if invalidate:
            await session.discard()
            return
        try:
            async with asyncio.timeout(self._heartbeat * 2):
                await session.release()
        except TimeoutError:
            await session.discard()

    def _set(self, leading: bool) -> None:
        if leading != self.leading:
            self.leading = leading
            self._on_change(leading)
