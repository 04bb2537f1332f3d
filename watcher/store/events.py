"""Index events: what sources saw, queued for the pipeline, claimed with a lease.

Every source writes its events in the same transaction as its cursor; the pipeline claims
them in batches. A claim sets ``lease_until`` and ``claimed_by`` on rows nobody holds (or
whose lease ran out: their worker died), locking them with ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL so that concurrent workers, in one process or across replicas, take disjoint
rows; on SQLite the claim runs in a write transaction, which serializes claims anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from watcher.store.base import record
from watcher.store.models import EventKind, EventSource, IndexEvent


@dataclass(frozen=True)
class NewEvent:
    """An event a source records (``name`` is the spelling the source saw)."""

    normalized_name: str
    name: str
    event: EventKind
    source: EventSource
    serial: int | None = None
    detail: str | None = None  # what changed, in the index's words ("add Owner mallory")
    version: str | None = None  # a feed item's release
    published_at: datetime | None = None
    author: str | None = None


@dataclass(frozen=True)
class ClaimedEvent(NewEvent):
    """An event a worker holds, until it finishes it or its lease runs out."""

    id: int = 0


async def add_events(session: AsyncSession, events: Sequence[NewEvent], now: datetime) -> None:
    """Queue events for the pipeline."""
    if events:
        await session.execute(
            insert(IndexEvent), [{**asdict(e), "created_at": now} for e in events]
        )


async def claim_events(
    session: AsyncSession, worker: str, now: datetime, lease: timedelta, limit: int
) -> list[ClaimedEvent]:
    """Claim up to ``limit`` unheld events, oldest first, for ``worker`` until ``now + lease``.

    Call inside :meth:`Database.write`.
    """
    rows = await session.execute(
        select(IndexEvent)
        .where(or_(IndexEvent.lease_until.is_(None), IndexEvent.lease_until < now))
        .order_by(IndexEvent.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = list(rows.scalars())
    if claimed:
        await session.execute(
            update(IndexEvent)
            .where(IndexEvent.id.in_([e.id for e in claimed]))
            .values(lease_until=now + lease, claimed_by=worker)
        )
    return [
        record(
            ClaimedEvent,
            e,
            event=EventKind(e.event),
            source=EventSource(e.source or EventSource.INDEX),
        )
        for e in claimed
    ]


async def finish_events(session: AsyncSession, ids: Sequence[int], worker: str) -> int:
    """Delete processed events that ``worker`` still holds; return how many it did."""
    result = await session.execute(
        delete(IndexEvent).where(IndexEvent.id.in_(list(ids)), IndexEvent.claimed_by == worker)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def extend_leases(
    session: AsyncSession, ids: Sequence[int], worker: str, until: datetime
) -> None:
    """Keep holding events still being processed (the worker's heartbeat)."""
    await session.execute(
        update(IndexEvent)
        .where(IndexEvent.id.in_(list(ids)), IndexEvent.claimed_by == worker)
        .values(lease_until=until)
    )


async def release_all(session: AsyncSession) -> int:
    """Release every claim: at start-up of the only process that may hold any (SQLite)."""
    result = await session.execute(
        update(IndexEvent)
        .where(IndexEvent.claimed_by.is_not(None))
        .values(lease_until=None, claimed_by=None)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def release_events(session: AsyncSession, ids: Sequence[int], worker: str) -> None:
    """Give up claims without processing (shutting down): others may take them at once."""
    await session.execute(
        update(IndexEvent)
        .where(IndexEvent.id.in_(list(ids)), IndexEvent.claimed_by == worker)
        .values(lease_until=None, claimed_by=None)
    )


async def pending_count(session: AsyncSession) -> int:
    """Events still waiting (claimed or not)."""
    return int(await session.scalar(select(func.count()).select_from(IndexEvent)) or 0)
