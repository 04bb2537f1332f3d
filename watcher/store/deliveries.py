"""Alerts delivered to destinations besides Slack (the webhook), through the same outbox.

A delivery row is queued in the transaction that queues its alert (:func:`queue_deliveries`,
called by :func:`watcher.store.outbox.enqueue_alert`), one per configured destination, so an
alert committed is an alert every destination will get. Rows then go pending -> sending ->
sent like the outbox's own; a row left in ``sending`` by a dead process goes back to
``pending`` and is sent again under the same delivery id, which receivers use to drop the
repeat. Digests and the baseline summary are Slack's way of telling many alerts at once: a
destination gets each alert on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, delete, func, insert, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from watcher.store.base import error_text, upsert_insert
from watcher.store.models import AlertDelivery, AlertDestination, OutboxAlert, OutboxStatus

_WHEN = AlertDelivery.__table__.c.created_at.type  # our UTC column type, for literals


@dataclass(frozen=True)
class Delivery:
    """One alert to deliver to one destination (``payload`` is the alert message's JSON)."""

    id: int
    alert_id: int
    destination: str
    attempts: int
    public_name: str
    kind: str | None
    risk: str | None
    payload: dict[str, Any]
    queued_at: datetime  # when the alert was queued


async def set_destinations(session: AsyncSession, names: set[str], now: datetime) -> None:
    """Make ``names`` the configured destinations: alerts queued from now on are delivered
    to each. A destination not configured any more gets no new alerts (its undelivered ones
    wait, and go when it is configured again)."""
    table: Table = AlertDestination.__table__  # type: ignore[assignment]
    await session.execute(delete(AlertDestination).where(AlertDestination.name.not_in(names)))
    for name in sorted(names):
        await session.execute(
            upsert_insert(session, table)
            .values(name=name, enabled_at=now)
            .on_conflict_do_nothing(index_elements=["name"])
        )


async def queue_deliveries(session: AsyncSession, alert_id: int, now: datetime) -> None:
    """Queue alert ``alert_id`` for every configured destination (in the alert's own
    transaction)."""
    await session.execute(
        insert(AlertDelivery).from_select(
            ["alert_id", "destination", "status", "attempts", "next_attempt_at", "created_at"],
            select(
                literal(alert_id),
                AlertDestination.name,
                literal(str(OutboxStatus.PENDING)),
                literal(0),
                literal(now, type_=_WHEN),
                literal(now, type_=_WHEN),
            ),
        )
    )


async def claim_due(
    session: AsyncSession, destination: str, now: datetime, limit: int
) -> list[Delivery]:
    """Move due pending deliveries of ``destination`` to ``sending`` and return them, oldest
    first (skipping rows another process holds)."""
    rows = await session.execute(
        select(AlertDelivery)
        .where(
            AlertDelivery.destination == destination,
            AlertDelivery.status == OutboxStatus.PENDING,
            AlertDelivery.next_attempt_at <= now,
        )
        .order_by(AlertDelivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = list(rows.scalars())
    for row in claimed:
        row.status = OutboxStatus.SENDING
        row.claimed_at = now
        row.attempts += 1
    await session.flush()
    if not claimed:
        return []
    alerts = {
        a.id: a
        for a in await session.scalars(
            select(OutboxAlert).where(OutboxAlert.id.in_([r.alert_id for r in claimed]))
        )
    }
    return [
        Delivery(
            id=row.id,
            alert_id=row.alert_id,
            destination=row.destination,
            attempts=row.attempts,
            public_name=alerts[row.alert_id].public_name,
            kind=alerts[row.alert_id].kind,
            risk=alerts[row.alert_id].risk,
            payload=dict(alerts[row.alert_id].payload),
            queued_at=alerts[row.alert_id].created_at,
        )
        for row in claimed
    ]


async def requeue_in_flight(
    session: AsyncSession, destination: str, *, claimed_before: datetime | None = None
) -> int:
    """Put deliveries a dead process left in ``sending`` (claimed before ``claimed_before``,
    if given) back to ``pending`` (sent again, same delivery id); return how many."""
    stmt = update(AlertDelivery).where(
        AlertDelivery.destination == destination,
        AlertDelivery.status == OutboxStatus.SENDING,
    )
    if claimed_before is not None:
        stmt = stmt.where(
            or_(AlertDelivery.claimed_at.is_(None), AlertDelivery.claimed_at <= claimed_before)
        )
    result = await session.execute(stmt.values(status=OutboxStatus.PENDING))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def in_flight_count(session: AsyncSession, destination: str) -> int:
    """How many deliveries to ``destination`` are in ``sending``."""
    count = await session.scalar(
        select(func.count())
        .select_from(AlertDelivery)
        .where(
            AlertDelivery.destination == destination,
            AlertDelivery.status == OutboxStatus.SENDING,
        )
    )
    return int(count or 0)


async def mark_sent(session: AsyncSession, delivery_id: int, now: datetime) -> None:
    """The destination took it."""
    await session.execute(
        update(AlertDelivery)
        .where(AlertDelivery.id == delivery_id)
        .values(status=OutboxStatus.SENT, sent_at=now, last_error=None)
    )


async def mark_failed(
    session: AsyncSession, delivery_id: int, *, error: str, retry_in: timedelta, now: datetime
) -> None:
    """Not delivered: back to ``pending``, due again in ``retry_in``."""
    await session.execute(
        update(AlertDelivery)
        .where(AlertDelivery.id == delivery_id)
        .values(
            status=OutboxStatus.PENDING,
            next_attempt_at=now + retry_in,
            last_error=error_text(error),
        )
    )


async def release(session: AsyncSession, delivery_ids: list[int]) -> None:
    """Hand back claimed deliveries that were not attempted (shutting down)."""
    if delivery_ids:
        await session.execute(
            update(AlertDelivery)
            .where(AlertDelivery.id.in_(delivery_ids), AlertDelivery.status == OutboxStatus.SENDING)
            .values(status=OutboxStatus.PENDING, attempts=AlertDelivery.attempts - 1)
        )


async def delivery_counts(session: AsyncSession) -> dict[str, dict[str, int]]:
    """Per destination, the number of deliveries per status."""
    rows = await session.execute(
        select(AlertDelivery.destination, AlertDelivery.status, func.count()).group_by(
            AlertDelivery.destination, AlertDelivery.status
        )
    )
    counts: dict[str, dict[str, int]] = {}
    for destination, status, count in rows:
        counts.setdefault(str(destination), {})[str(status)] = int(count)
    return counts
