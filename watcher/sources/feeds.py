"""The RSS feeds: the fastest source. Each poll records matched items as events, with the
feed's cursor, in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from packaging.utils import NormalizedName

from watcher.errors import FeedsFailed, IndexClientError, IndexUnavailable
from watcher.matching.live import LiveCatalog
from watcher.pypi import FeedItem, FeedKind, IndexClient
from watcher.store import Database, events, feeds
from watcher.store.base import utcnow
from watcher.store.events import NewEvent
from watcher.store.history import storable_version
from watcher.store.models import EventKind, EventSource

log = logging.getLogger(__name__)

_MAX_ETAG = 512  # the cursor's column

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


class PollReports(list[PollReport]):
    """The reports of the feeds one poll read, and the errors of those it could not read."""

    def __init__(self, reports: list[PollReport], errors: dict[FeedKind, IndexClientError]):
        super().__init__(reports)
        self.errors = errors


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
        # Polls in a row each feed has failed: its error is logged the first time only.
        self._failures: dict[FeedKind, int] = {}
        self._logged: set[FeedKind] = set()  # feeds whose failure was logged here

    async def poll(self) -> PollReports:
        """Poll both feeds; a failing feed does not stop the other.

        Returns the reports of the feeds read, with the others' errors in ``errors``;
        raises :class:`~watcher.errors.FeedsFailed` when no feed could be read. A feed
        that answers something unusable is logged (once until it recovers); the index
        being unreachable is left to the caller to report, once for the whole index.
        """
        reports: list[PollReport] = []
        errors: dict[FeedKind, IndexClientError] = {}
        for kind in (FeedKind.PACKAGES, FeedKind.UPDATES):
            try:
                reports.append(await self.poll_feed(kind))
            except IndexClientError as exc:
                # The cursor is untouched: the next good poll processes what this one missed.
                errors[kind] = exc
                failures = self._failures[kind] = self._failures.get(kind, 0) + 1
                if kind not in self._logged and not isinstance(exc, IndexUnavailable):
                    self._logged.add(kind)
                    log.error("poll of %s feed failed, cursor not advanced: %s", kind, exc)
                else:
                    log.debug("poll of %s feed failed (%d in a row): %s", kind, failures, exc)
            else:
                failures = self._failures.pop(kind, 0)
                if kind in self._logged:
                    self._logged.discard(kind)
                    log.info("%s feed read again after %d failed polls", kind, failures)
        if errors and not reports:
            raise FeedsFailed({str(kind): exc for kind, exc in errors.items()})
        return PollReports(reports, errors)

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

        items = [_storable(item) for item in page.items]
        keys = [item.key for item in items]
        report.items = len(keys)
        previous_newest = cursor.newest_key if cursor else None
        if previous_newest is not None and previous_newest not in keys:
            # The feed window moved past everything we saw last time: items may have been
            # missed. The index reconcile is the safety net for that window.
            report.gap = True
        seen = cursor.seen_keys if cursor else frozenset()
        fresh = [item for item in reversed(items) if item.key not in seen]
        report.new_items = len(fresh)
        matcher = self._catalog.current.matcher
        matched = [item for item in fresh if matcher.match(item.canonical)]
        report.matched = [item.canonical for item in matched]
        async with self._db.write() as session:
            await events.add_events(session, [_event(kind, item) for item in matched], now)
            gaps = await feeds.save_cursor(
                session, kind, etag=_etag(page.etag), seen_keys=keys, now=now, gap=report.gap
            )
        if report.gap:
            log.warning(
                "%s feed overflowed since the last poll (%s no longer listed; gap %d so far)",
                kind,
                previous_newest,
                gaps,
            )
        if fresh:
            # The poll job logs a summary of all feeds at most once a minute.
            log.debug("%s feed: %d new items, %d matched", kind, len(fresh), len(matched))
        return report


def _storable(item: FeedItem) -> FeedItem:
    """The item with its version as it will be stored (its key goes into the cursor): a
    hostile version of thousands of characters must not make the feed unpollable."""
    if item.version is None:
        return item
    version = storable_version(item.version)
    return item if version == item.version else replace(item, version=version)


def _etag(etag: str | None) -> str | None:
    # A cut ETag matches nothing: one too long to store is not sent back at all.
    return etag if etag is None or len(etag) <= _MAX_ETAG else None


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
