"""Prunes the outbox of alerts delivered longer ago than the retention (the leader's job;
what is kept and why: :mod:`watcher.store.retention`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from watcher.alerts.planner import THREAD_STARTERS
from watcher.store import Database
from watcher.store.base import utcnow
from watcher.store.retention import prune_delivered

log = logging.getLogger(__name__)


class OutboxRetention:
    """Deletes delivered alerts older than ``days`` days, in short transactions."""

    def __init__(self, db: Database, days: int, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._db = db
        self._keep = timedelta(days=days)
        self._clock = clock

    async def run(self) -> int:
        """One pass; return how many alerts were deleted."""
        before = self._clock() - self._keep
        starters = [str(kind) for kind in THREAD_STARTERS]
        total = 0
        while True:
            # One batch a transaction: the dispatcher's claims never wait long behind it.
            async with self._db.write() as session:
                deleted = await prune_delivered(session, before, starters)
            total += deleted
            if not deleted:
                break
        if total:
            log.info("retention: %d alerts delivered before %s deleted", total, before.date())
        return total
