"""The RSS feeds: the fastest source. Each poll records matched items as events, with the
feed's cursor, in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from packaging.utils import NormalizedName

from watcher.errors import IndexClientError
from watcher.matching.live import LiveCatalog
from watcher.pypi import FeedItem, FeedKind, IndexClient
from watcher.store import Database, events, feeds
from watcher.store.base import utcnow
from watcher.store.events import NewEvent
from watcher.store.models import EventKind, EventSource

log = logging.getLogger(__name__)

_SOURCES = {
    FeedKind.UPDATES: EventSource.FEED_UPDATES,
    FeedKind.PACKAGES: EventSource.FEED_PACKAGES,
}


@dataclass
class PollReport:
    """What one feed poll did; logged and returned to tests."""

    feed: FeedKind
    not_modified: bool = False
    items: int = 0
    new_items: int = 0
    matched: list[NormalizedName] = field(default_factory=list)
    gap: bool = False


class FeedSource:
    """Polls the updates and packages feeds from their stored cursors."""

    def __init__(
        self,
        db: Database,
        client: IndexClient,
        catalog: LiveCatalog,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = db
        self._client = client
        self._catalog = catalog
        self._clock = clock

    async def poll(self) -> list[PollReport]:
        """Poll both feeds; a failing feed is logged and does not stop the other."""
        reports = []
        for kind in (FeedKind.PACKAGES, FeedKind.UPDATES):
            try:
                reports.append(await self.poll_feed(kind))
            except IndexClientError as exc:
                # The cursor is untouched: the next good poll processes what this one missed.
                log.error("poll of %s feed failed, cursor not advanced: %s", kind, exc)
        return reports

    async def poll_feed(self, kind: FeedKind) -> PollReport:
        """Fetch one feed; record items not seen in the last good poll that match the
        catalog as events, and advance the cursor, in one transaction."""
        report = PollReport(feed=kind)
        async with self._db.transaction() as session:
            cursor = await feeds.get_cursor(session, kind)
        page = await self._client.fetch_feed(kind, cursor.etag if cursor else None)
        now = self._clock()
        if page is None:
            report.not_modified = True
            async with self._db.transaction() as session:
                await feeds.touch_cursor(session, kind, now)
            return report

        keys = [item.key for item in page.items]
        report.items = len(keys)
        previous_newest = cursor.newest_key if cursor else None
        if previous_newest is not None and previous_newest not in keys:
            # The feed window moved past everything we saw last time: items may have been
            # missed. The index reconcile is the safety net for that window.
            report.gap = True
        seen = cursor.seen_keys if cursor else frozenset()
        fresh = [item for item in reversed(page.items) if item.key not in seen]
        report.new_items = len(fresh)
        matcher = self._catalog.current.matcher
        matched = [item for item in fresh if matcher.match(item.canonical)]
        report.matched = [item.canonical for item in matched]
        async with self._db.write() as session:
            await events.add_events(session, [_event(kind, item) for item in matched], now)
            gaps = await feeds.save_cursor(
                session, kind, etag=page.etag, seen_keys=keys, now=now, gap=report.gap
            )
        if report.gap:
            log.warning(
                "%s feed overflowed since the last poll (%s no longer listed; gap %d so far)",
                kind,
                previous_newest,
                gaps,
            )
        if fresh:
            log.info("%s feed: %d new items, %d matched", kind, len(fresh), len(matched))
        return report


def _event(kind: FeedKind, item: FeedItem) -> NewEvent:
    return NewEvent(
        normalized_name=item.canonical,
        name=item.name,
        event=EventKind.RELEASE if item.version else EventKind.NEW,
        source=_SOURCES[kind],
        version=item.version,
        published_at=item.published,
        author=item.author,
    )
