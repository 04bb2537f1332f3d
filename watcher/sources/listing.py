"""The whole simple index: the complete answer the feeds' small windows cannot give.

One write transaction loads the listing, matches every new or changed name (in bulk),
resolves the findings of removed names, records the matched ones as events and advances
the stored listing and its serial. A crash anywhere leaves either the old listing or the
new one with its events.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from watcher.matching.live import LiveCatalog
from watcher.pipeline import Recorder
from watcher.pypi import IndexClient
from watcher.store import Database, events, findings, listing
from watcher.store.base import utcnow
from watcher.store.events import NewEvent
from watcher.store.models import EventKind, EventSource

log = logging.getLogger(__name__)


@dataclass
class ReconcileReport:
    """What one whole-index reconcile did."""

    not_modified: bool = False
    projects: int = 0
    new: int = 0
    changed: int = 0
    removed: int = 0
    matched: int = 0
    resolved: int = 0


class ListingSource:
    """Reconciles the stored listing with the index's whole project list."""

    def __init__(
        self,
        db: Database,
        client: IndexClient,
        catalog: LiveCatalog,
        recorder: Recorder,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = db
        self._client = client
        self._catalog = catalog
        self._recorder = recorder
        self._clock = clock

    async def reconcile(self) -> ReconcileReport:
        """Fetch the whole simple index, store it, record what is new or changed and matches.

        Raises :class:`~watcher.errors.WatcherError` when the index cannot be read or the
        listing is stale or refused (then nothing is stored).
        """
        report = ReconcileReport()
        async with self._db.transaction() as session:
            state = await listing.get_state(session)
        known_serial = state.serial if state else None
        fetched = await self._client.fetch_index(
            etag=state.etag if state else None, min_serial=known_serial
        )
        now = self._clock()
        if fetched is None or (fetched.serial is not None and fetched.serial == known_serial):
            # 304, or the same global serial: every change to the index moves the serial.
            report.not_modified = True
            return report
        view = self._catalog.current
        matched: list[NewEvent] = []
        async with self._db.write() as session:
            await listing.lock_state(session)
            count = await listing.load_snapshot(
                session, fetched.names, fetched.serials, serial=fetched.serial
            )
            async for batch in listing.new_or_changed(session):
                hits = {m.public_name for m in view.matcher.match_many([b[0] for b in batch])}
                matched += [
                    NewEvent(
                        normalized_name=norm,
                        name=name,
                        event=EventKind(event),
                        source=EventSource.INDEX,
                        serial=serial,
                    )
                    for norm, name, serial, event in batch
                    if norm in hits
                ]
            gone = await listing.gone_names(session)
            removed = await findings.resolve_open_findings(session, gone, now)
            stamp = fetched.serial if fetched.serial is not None else now.isoformat()
            report.resolved = await self._recorder.announce_removed(
                session, view.catalog, removed, stamp, now
            )
            diff = await listing.apply_snapshot(session, now)
            await events.add_events(session, matched, now)
            await listing.save_state(
                session,
                serial=fetched.serial,
                etag=fetched.etag,
                projects=diff.stored + diff.new - diff.removed,
                now=now,
            )
        report.projects = count
        report.new, report.changed, report.removed = diff.new, diff.changed, diff.removed
        report.matched = len(matched)
        log.info(
            "reconciled %d projects (serial %s): %d new, %d changed, %d removed, %d matched",
            report.projects,
            fetched.serial,
            diff.new,
            diff.changed,
            diff.removed,
            report.matched,
        )
        return report
