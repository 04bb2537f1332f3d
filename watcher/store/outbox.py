"""The alert outbox: alerts queued in the same transaction as what caused them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from watcher.store.base import clean_text, error_text, record, upsert_insert
from watcher.store.models import EVENT_KEY_LIMIT, OutboxAlert, OutboxStatus


@dataclass(frozen=True)
class QueuedAlert:
    """One outbox row as the dispatcher sees it (``payload`` is an alert message's JSON)."""

    id: int
    event_key: str
    public_name: str
    payload: dict[str, Any]
    status: OutboxStatus
    attempts: int
    created_at: datetime
    claimed_at: datetime | None


def _queued(alert: OutboxAlert) -> QueuedAlert:
    return record(QueuedAlert, alert, status=OutboxStatus(alert.status))


async def enqueue_alert(
    session: AsyncSession,
    *,
    event_key: str,
    public_name: str,
    payload: dict[str, Any],
    now: datetime,
) -> bool:
    """Add an alert unless one exists for ``event_key``; True if it was new.

    A key too long for its column (a name matching many catalog entries) is cut and marked
    with a digest of the whole, so that two different keys stay two alerts.
    """
    event_key = clean_text(event_key, EVENT_KEY_LIMIT) or ""
    table: Table = OutboxAlert.__table__  # type: ignore[assignment]
    result = await session.execute(
        upsert_insert(session, table)
        .values(
            event_key=event_key,
            public_name=public_name,
            payload=payload,
            status=OutboxStatus.PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["event_key"])
        .returning(table.c.id)
    )
    return result.first() is not None


async def claim_due_alerts(session: AsyncSession, now: datetime, limit: int) -> list[QueuedAlert]:
    """Move due pending alerts to ``sending`` and return them (skipping rows others hold)."""
    rows = await session.execute(
        select(OutboxAlert)
        .where(OutboxAlert.status == OutboxStatus.PENDING, OutboxAlert.next_attempt_at <= now)
        .order_by(OutboxAlert.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = list(rows.scalars())
    for alert in claimed:
        alert.status = OutboxStatus.SENDING
        alert.claimed_at = now
        alert.attempts += 1
    await session.flush()
    return [_queued(alert) for alert in claimed]


async def in_flight_alerts(session: AsyncSession) -> list[QueuedAlert]:
    """Alerts left in ``sending``: a process died between posting and recording the post."""
    rows = await session.execute(
        select(OutboxAlert)
        .where(OutboxAlert.status == OutboxStatus.SENDING)
        .order_by(OutboxAlert.id)
    )
    return [_queued(alert) for alert in rows.scalars()]


async def mark_alert_sent(
    session: AsyncSession, alert_id: int, *, slack_ts: str | None, now: datetime
) -> None:
    """Record a delivered alert."""
    await session.execute(
        update(OutboxAlert)
        .where(OutboxAlert.id == alert_id)
        .values(status=OutboxStatus.SENT, sent_at=now, slack_ts=slack_ts, last_error=None)
    )


async def mark_alert_failed(
    session: AsyncSession, alert_id: int, *, error: str, retry_in: timedelta, now: datetime
) -> None:
    """Put an alert back in the queue, due again after ``retry_in``."""
    await session.execute(
        update(OutboxAlert)
        .where(OutboxAlert.id == alert_id)
        .values(
            status=OutboxStatus.PENDING,
            next_attempt_at=now + retry_in,
            last_error=error_text(error),
        )
    )


async def release_alerts(session: AsyncSession, alert_ids: list[int]) -> None:
    """Hand claimed but unattempted alerts back to the queue, as if never claimed."""
    await session.execute(
        update(OutboxAlert)
        .where(OutboxAlert.id.in_(alert_ids), OutboxAlert.status == OutboxStatus.SENDING)
        .values(status=OutboxStatus.PENDING, attempts=OutboxAlert.attempts - 1)
    )


async def outbox_counts(session: AsyncSession) -> dict[str, int]:
    """Number of outbox rows per status."""
    rows = await session.execute(
        select(OutboxAlert.status, func.count()).group_by(OutboxAlert.status)
    )
    return {str(status): int(count) for status, count in rows}
