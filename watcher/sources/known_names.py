"""Keeps the check API's in-memory view of the public names in step with the store.

The first run reads every known name and builds the view in a worker thread (until then
the API asks the index); each later run reads what the listing gained and lost since the
previous one (with a margin for transactions that committed late) and applies it; names
removed and since come back are looked up again. Past
:data:`~watcher.matching.public_names.REBUILD_AFTER` additions a new base is built.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from watcher.matching.public_index import PublicIndex
from watcher.matching.public_names import REBUILD_AFTER, PublicNames
from watcher.store import Database, known
from watcher.store.base import utcnow

log = logging.getLogger(__name__)

# Rows are stamped with their transaction's start; a long one (a reconcile) commits later.
_MARGIN = timedelta(minutes=15)


class KnownNames:
    """Refreshes a :class:`PublicNames` from the store."""

    def __init__(
        self, db: Database, names: PublicNames, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._db = db
        self.names = names
        self._clock = clock
        self._last: datetime | None = None
        # Stored public projects (those that matched the catalog) and their open findings.
        self._projects: dict[str, known.StoredProject] = {}

    def project(self, name: str) -> known.StoredProject | None:
        """What the store keeps of public project ``name`` (as of the last look), if any."""
        return self._projects.get(name)

    async def refresh(self) -> None:
        """One look at the store (a job)."""
        now = self._clock()
        async with self._db.transaction() as session:
            self._projects = await known.stored_projects(session)
        if self._last is None or self.names.pending > REBUILD_AFTER:
            await self._rebuild(now)
            return
        since = self._last - _MARGIN
        async with self._db.transaction() as session:
            added, removed = await known.changed_since(session, since)
            back = await known.present(session, sorted(self.names.removed - removed))
        self.names.apply(added | back, removed, now)
        self._last = now

    async def _rebuild(self, now: datetime) -> None:
        started = asyncio.get_running_loop().time()
        names: set[str] = set()
        async with self._db.transaction() as session:
            async for batch in known.known_names(session):
                names.update(batch)
        # Seconds of CPU for a million names: off the event loop.
        base = await asyncio.to_thread(PublicIndex, sorted(names))
        self.names.replace(base, now)
        self._last = now
        # What is alive now lives for the process (a million names, the catalog): kept out
        # of the cyclic collector's full scans, which would otherwise pause every request.
        # Reference counting still frees whatever of it is dropped later.
        gc.freeze()
        log.info(
            "check API: %d known public names indexed in %.1fs (%.0f MiB of keys)",
            len(base),
            asyncio.get_running_loop().time() - started,
            base.nbytes / 2**20,
        )
