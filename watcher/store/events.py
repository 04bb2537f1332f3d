"""Index events: what sources saw, queued for the pipeline, claimed with a lease.

Every source writes its events in the same transaction as its cursor; the pipeline claims
them in batches. A claim sets ``lease_until`` and ``claimed_by`` on rows nobody holds (or
whose lease ran out: their worker died), locking them with ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL so that concurrent workers, in one process or across replicas, take disjoint
rows; on SQLite the claim runs in a write transaction, which serializes claims anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from watcher.errors import InvalidName
from watcher.names import canonical, spelling_of
from watcher.store.base import clean_text, error_text, record
from watcher.store.models import NAME_LENGTH, EventKind, EventSource, IndexEvent

log = logging.getLogger(__name__)

# Failed attempts before an event is dead-lettered, and the backoff between them (doubling
# from the first delay, capped): 10 s, 20 s, ... 30 min, about two hours of retries in all.
# Only the project's own failures count: the database's are not attempts.
MAX_ATTEMPTS = 12
RETRY_BASE = timedelta(seconds=10)
RETRY_CAP = timedelta(minutes=30)


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
    attempts: int = 0  # failed attempts before this claim


@dataclass(frozen=True)
class DeadLetter:
    """An event given up on after :data:`MAX_ATTEMPTS` failed attempts."""

    id: int
    normalized_name: str
    event: str
    source: str | None
    attempts: int
    last_error: str | None
    created_at: datetime
    dead_at: datetime


async def add_events(session: AsyncSession, events: Sequence[NewEvent], now: datetime) -> None:
    """Queue events for the pipeline.

    What the index said is made storable first (:func:`storable`); an event whose name is
    no valid project name is refused (logged), never truncated into another name.
    """
    rows = []
    for event in events:
        row = storable(event)
        if row is None:
            log.warning("index event for an invalid project name refused: %.80r", event.name)
        else:
            rows.append({**asdict(row), "created_at": now})
    if rows:
        await session.execute(insert(IndexEvent), rows)


def storable(event: NewEvent) -> NewEvent | None:
    """``event`` with every text the index supplied fit for its column, or ``None`` when its
    name is no valid project name (a cut name would be another project's)."""
    try:
        norm = canonical(event.normalized_name)
    except InvalidName:
        return None
    name = spelling_of(event.name, norm)
    return NewEvent(
        normalized_name=norm,
        name=name,
        event=event.event,
        source=event.source,
        serial=event.serial,
        detail=clean_text(event.detail),
        version=clean_text(event.version, NAME_LENGTH),
        published_at=event.published_at,
        author=clean_text(event.author),
    )


async def claim_events(
    session: AsyncSession, worker: str, now: datetime, lease: timedelta, limit: int
) -> list[ClaimedEvent]:
    """Claim up to ``limit`` unheld events, oldest first, for ``worker`` until ``now + lease``.

    Call inside :meth:`Database.write`.
    """
    rows = await session.execute(
        select(IndexEvent)
        .where(
            or_(IndexEvent.lease_until.is_(None), IndexEvent.lease_until < now),
            or_(IndexEvent.next_attempt_at.is_(None), IndexEvent.next_attempt_at <= now),
            IndexEvent.dead_at.is_(None),
        )
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


async def fail_events(
    session: AsyncSession,
    ids: Sequence[int],
    worker: str,
    error: str,
    now: datetime,
    *,
    max_attempts: int = MAX_ATTEMPTS,
) -> list[DeadLetter]:
    """Hand back events ``worker`` failed to process: count the attempt, retry after a
    doubling backoff, dead-letter those out of attempts; return the newly dead."""
    rows = await session.execute(
        select(IndexEvent)
        .where(IndexEvent.id.in_(list(ids)), IndexEvent.claimed_by == worker)
        .with_for_update()
    )
    dead = []
    message = error_text(error)
    for event in rows.scalars():
        event.attempts += 1
        event.last_error = message
        event.lease_until = None
        event.claimed_by = None
        if event.attempts >= max_attempts:
            event.dead_at = now
            dead.append(record(DeadLetter, event))
        else:
            event.next_attempt_at = now + retry_delay(event.attempts)
    return dead


def retry_delay(attempts: int) -> timedelta:
    """How long an event that failed ``attempts`` times waits before the next try."""
    return min(RETRY_BASE * (1 << min(max(attempts - 1, 0), 20)), RETRY_CAP)


async def dead_letters(session: AsyncSession, limit: int = 100) -> list[DeadLetter]:
    """Dead-lettered events, oldest first."""
    rows = await session.execute(
        select(IndexEvent)
        .where(IndexEvent.dead_at.is_not(None))
        .order_by(IndexEvent.id)
        .limit(limit)
    )
    return [record(DeadLetter, e) for e in rows.scalars()]


async def pending_count(session: AsyncSession) -> int:
    """Events still waiting (claimed or not; dead letters are not waiting)."""
    return int(
        await session.scalar(
            select(func.count()).select_from(IndexEvent).where(IndexEvent.dead_at.is_(None))
        )
        or 0
    )


async def dead_count(session: AsyncSession) -> int:
    """Events dead-lettered."""
    return int(
        await session.scalar(
            select(func.count()).select_from(IndexEvent).where(IndexEvent.dead_at.is_not(None))
        )
        or 0
    )
