"""Keeps the check API's in-memory view of the public names in step with the store.

The view is built whole (in a worker thread: seconds for a million names; until the first
build the API asks the index) at start, after every reconcile applied (a listing can add or
remove any number of names, in one long transaction), and when more names were added since
than :data:`~watcher.matching.public_names.REBUILD_AFTER`. In between, each run reads what
the listing gained and lost since the previous one (the change log's and the feeds' short
transactions, with a margin for those that committed late) and applies it; names removed
and since come back are looked up again.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from watcher.matching.public_index import PublicIndex
from watcher.matching.public_names import REBUILD_AFTER, PublicNames
from watcher.store import Database, known, listing
from watcher.store.base import utcnow

log = logging.getLogger(__name__)

# Rows are stamped with their transaction's start, and a transaction commits a little later
# (a reconcile's long one is covered by the rebuild that follows it).
_MARGIN = timedelta(minutes=2)


class KnownNames:
    """Refreshes a :class:`PublicNames` from the store."""

    def __init__(
        self, db: Database, names: PublicNames, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._db = db
        self.names = names
        self._clock = clock
        self._last: datetime | None = None
        self._reconciled: datetime | None = None  # the reconcile the last build followed
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
            state = await listing.get_state(session)
        reconciled = state.reconciled_at if state is not None else None
        if self._last is None or reconciled != self._reconciled:
            await self._rebuild(now, reconciled)
            return
        since = self._last - _MARGIN
        async with self._db.transaction() as session:
            added, removed = await known.changed_since(session, since)
            back = await known.present(session, sorted(self.names.removed - removed))
        if len(added) + self.names.pending > REBUILD_AFTER:
            # Building the additions' own index would hold the event loop: build anew.
            await self._rebuild(now, reconciled)
            return
        self.names.apply(added | back, removed, now)
        self._last = now

    async def _rebuild(self, now: datetime, reconciled: datetime | None) -> None:
        started = asyncio.get_running_loop().time()
        names: set[str] = set()
        async with self._db.transaction() as session:
            async for batch in known.known_names(session):
                names.update(batch)
        # Seconds of CPU for a million names: off the event loop.
        base = await asyncio.to_thread(PublicIndex, sorted(names))
        self.names.replace(base, now)
        self._last = now
        self._reconciled = reconciled
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
