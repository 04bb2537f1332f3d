"""Where every source stands, read in one transaction: the answer to "did anything slip
through?" (``GET /v1/status``, ``watcher status``). The web layer shapes it as JSON."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from watcher.store import deliveries, events, journal, listing, outbox
from watcher.store.base import record
from watcher.store.catalog import CatalogStatus, catalog_statuses
from watcher.store.models import FeedState, Finding


@dataclass(frozen=True)
class FeedStatus:
    """One feed's last poll, last advance and gap count."""

    feed: str
    polled_at: datetime | None
    advanced_at: datetime | None
    gaps: int


@dataclass(frozen=True)
class Coverage:
    """Feed cursors with their gaps, the last listing, the change-log cursor, the catalog,
    and the queues."""

    feeds: list[FeedStatus]
    index: listing.ListingState | None
    journal: journal.JournalCursor | None
    catalogs: list[CatalogStatus]
    pending_index_events: int
    # Index events given up on (oldest first, at most 100) and how many there are in all.
    dead_letters: list[events.DeadLetter]
    dead_index_events: int
    alerts: dict[str, int]
    findings: dict[str, int]
    # Per destination besides Slack (the webhook): deliveries per status.
    deliveries: dict[str, dict[str, int]]


async def coverage(session: AsyncSession) -> Coverage:
    """Read where every source stands."""
    feeds = [
        record(FeedStatus, s)
        for s in (await session.execute(select(FeedState).order_by(FeedState.feed))).scalars()
    ]
    findings = await session.execute(select(Finding.status, func.count()).group_by(Finding.status))
    return Coverage(
        feeds=feeds,
        index=await listing.get_state(session),
        journal=await journal.get_cursor(session),
        catalogs=await catalog_statuses(session),
        pending_index_events=await events.pending_count(session),
        dead_letters=await events.dead_letters(session),
        dead_index_events=await events.dead_count(session),
        alerts=await outbox.outbox_counts(session),
        findings={str(status): int(count) for status, count in findings},
        deliveries=await deliveries.delivery_counts(session),
    )
