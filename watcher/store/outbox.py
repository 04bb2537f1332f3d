"""The alert outbox: alerts queued in the same transaction as what caused them.

Each row is also routed (:mod:`watcher.alerts.planner`): posted on its own, as a reply in
the thread of an earlier row's message, told as a member of a digest row (sent when that
row is), or held for the daily digest. Digests and the first start's baseline summary are
rows too, so that they are claimed, recovered and retried like any alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from watcher.store.base import clean_text, error_text, record, upsert_insert
from watcher.store.deliveries import queue_deliveries
from watcher.store.models import EVENT_KEY_LIMIT, OutboxAlert, OutboxStatus

BASELINE_KEY = "baseline"
"""The event key of the first start's baseline summary. The first listing ever applied
queues it unrouted (:func:`open_baseline`): while it is, new squats are gathered for it."""

POST, REPLY, MEMBER, DAILY = "post", "reply", "member", "daily"
"""Routes: a top-level message, a reply in a thread, told by a digest, held for the daily one."""


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
    kind: str | None = None
    risk: str | None = None
    route: str | None = None
    parent_id: int | None = None
    baseline: bool = False
    # The top-level message to reply to (its parent's thread), when the route is a reply.
    thread_ts: str | None = None
    # Its message, once sent (a digest's member: the digest's).
    slack_ts: str | None = None


def _queued(alert: OutboxAlert, threads: dict[int, str | None] | None = None) -> QueuedAlert:
    thread = (threads or {}).get(alert.parent_id) if alert.parent_id is not None else None
    return record(QueuedAlert, alert, status=OutboxStatus(alert.status), thread_ts=thread)


async def _threads(session: AsyncSession, alerts: list[OutboxAlert]) -> dict[int, str | None]:
    """Per parent row: the top-level message its thread hangs from (the parent's own if it
    is top-level, else the thread it was posted in), or ``None`` while it is not sent."""
    parents = {a.parent_id for a in alerts if a.parent_id is not None}
    if not parents:
        return {}
    rows = await session.execute(
        select(OutboxAlert.id, OutboxAlert.thread_ts, OutboxAlert.slack_ts).where(
            OutboxAlert.id.in_(parents), OutboxAlert.status == OutboxStatus.SENT
        )
    )
    return {id_: thread or ts or None for id_, thread, ts in rows}


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
    kind = str(payload.get("event") or "new")
    # A new squat found while the first start's baseline is still being gathered is one of
    # the collisions that existed before we looked: told in the summary, not on its own.
    baseline = kind == "new" and await baseline_open(session)
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
            kind=clean_text(kind, 32),
            risk=clean_text(str(payload.get("severity") or ""), 16) or None,
            baseline=baseline,
        )
        .on_conflict_do_nothing(index_elements=["event_key"])
        .returning(table.c.id)
    )
    row = result.first()
    if row is None:
        return False
    # Every other destination gets it too, committed with it or not at all.
    await queue_deliveries(session, int(row[0]), now)
    return True


async def open_baseline(session: AsyncSession, now: datetime) -> None:
    """Start gathering the baseline: called with the first listing ever applied (nothing
    stored before), in its transaction. Its summary is routed once the listing's events
    are processed."""
    table: Table = OutboxAlert.__table__  # type: ignore[assignment]
    await session.execute(
        upsert_insert(session, table)
        .values(
            event_key=BASELINE_KEY,
            public_name="",
            payload={"event": "baseline"},
            status=OutboxStatus.PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
            kind="baseline",
        )
        .on_conflict_do_nothing(index_elements=["event_key"])
    )


async def baseline_marker(session: AsyncSession) -> QueuedAlert | None:
    """The baseline summary while it is being gathered (not routed yet), else ``None``."""
    row = await session.scalar(
        select(OutboxAlert).where(
            OutboxAlert.event_key == BASELINE_KEY, OutboxAlert.route.is_(None)
        )
    )
    return None if row is None else _queued(row)


async def baseline_open(session: AsyncSession) -> bool:
    """Whether the first start's baseline is being gathered."""
    found = await session.scalar(
        select(OutboxAlert.id).where(
            OutboxAlert.event_key == BASELINE_KEY, OutboxAlert.route.is_(None)
        )
    )
    return found is not None


async def drop_alert(session: AsyncSession, alert_id: int) -> None:
    """Delete a row nothing refers to (a baseline summary with nothing to summarize)."""
    await session.execute(delete(OutboxAlert).where(OutboxAlert.id == alert_id))


async def fill_digest(
    session: AsyncSession, alert_id: int, *, payload: dict[str, Any], risk: str | None
) -> None:
    """Give a gathered digest (the baseline summary) its content and route it."""
    await session.execute(
        update(OutboxAlert)
        .where(OutboxAlert.id == alert_id)
        .values(payload=payload, risk=risk, route=POST)
    )


async def claim_due_alerts(session: AsyncSession, now: datetime, limit: int) -> list[QueuedAlert]:
    """Move due pending alerts to ``sending`` and return them (skipping rows others hold).

    Only rows routed to a message of their own, and replies whose thread exists (their
    parent was sent): a reply waits for its parent, whatever its own due time.
    """
    sent = select(OutboxAlert.id).where(OutboxAlert.status == OutboxStatus.SENT)
    rows = await session.execute(
        select(OutboxAlert)
        .where(
            OutboxAlert.status == OutboxStatus.PENDING,
            OutboxAlert.next_attempt_at <= now,
            OutboxAlert.route.in_((POST, REPLY)),
            or_(OutboxAlert.parent_id.is_(None), OutboxAlert.parent_id.in_(sent)),
        )
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
    threads = await _threads(session, claimed)
    return [_queued(alert, threads) for alert in claimed]


async def in_flight_alerts(session: AsyncSession) -> list[QueuedAlert]:
    """Alerts left in ``sending``: a process died between posting and recording the post."""
    rows = await session.execute(
        select(OutboxAlert)
        .where(OutboxAlert.status == OutboxStatus.SENDING)
        .order_by(OutboxAlert.id)
    )
    stuck = list(rows.scalars())
    threads = await _threads(session, stuck)
    return [_queued(alert, threads) for alert in stuck]


async def mark_alert_sent(
    session: AsyncSession,
    alert_id: int,
    *,
    slack_ts: str | None,
    now: datetime,
    thread_ts: str | None = None,
) -> None:
    """Record a delivered alert (posted in ``thread_ts``'s thread, if given), and the
    alerts its message told (a digest's members) as delivered by the same message."""
    values = {
        "status": OutboxStatus.SENT,
        "sent_at": now,
        "slack_ts": slack_ts,
        "thread_ts": thread_ts,
        "last_error": None,
    }
    await session.execute(update(OutboxAlert).where(OutboxAlert.id == alert_id).values(**values))
    await session.execute(
        update(OutboxAlert)
        .where(OutboxAlert.digest_id == alert_id, OutboxAlert.status != OutboxStatus.SENT)
        .values(**values)
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


async def unplanned_alerts(session: AsyncSession, limit: int | None) -> list[QueuedAlert]:
    """Pending alerts not routed yet, oldest first."""
    rows = await session.execute(
        select(OutboxAlert)
        .where(OutboxAlert.status == OutboxStatus.PENDING, OutboxAlert.route.is_(None))
        .order_by(OutboxAlert.id)
        .limit(limit)
    )
    return [_queued(alert) for alert in rows.scalars()]


async def first_alert_of(
    session: AsyncSession, public_name: str, before: int, kinds: tuple[str, ...]
) -> QueuedAlert | None:
    """The first alert of ``kinds`` about ``public_name`` queued before row ``before``."""
    row = await session.scalar(
        select(OutboxAlert)
        .where(
            OutboxAlert.public_name == public_name,
            OutboxAlert.id < before,
            OutboxAlert.kind.in_(kinds),
        )
        .order_by(OutboxAlert.id)
        .limit(1)
    )
    return None if row is None else _queued(row)


async def sent_posts_of(
    session: AsyncSession, public_names: list[str], kinds: tuple[str, ...]
) -> list[QueuedAlert]:
    """The alerts of ``kinds`` about ``public_names`` sent as top-level messages of their own
    (route ``post``, with their message's ts), oldest first. A digest's member is not one:
    it shares the digest's message."""
    rows = await session.scalars(
        select(OutboxAlert)
        .where(
            OutboxAlert.public_name.in_(public_names),
            OutboxAlert.kind.in_(kinds),
            OutboxAlert.route == POST,
            OutboxAlert.status == OutboxStatus.SENT,
            OutboxAlert.slack_ts.is_not(None),
            OutboxAlert.thread_ts.is_(None),
        )
        .order_by(OutboxAlert.id)
    )
    return [_queued(alert) for alert in rows]


async def route_alerts(
    session: AsyncSession,
    alert_ids: list[int],
    route: str,
    *,
    parent_id: int | None = None,
    digest_id: int | None = None,
) -> None:
    """Decide how alerts are delivered (see the module's docstring)."""
    if alert_ids:
        await session.execute(
            update(OutboxAlert)
            .where(OutboxAlert.id.in_(alert_ids))
            .values(route=route, parent_id=parent_id, digest_id=digest_id)
        )


async def held_alerts(session: AsyncSession, *, before: datetime) -> list[QueuedAlert]:
    """Alerts held for the daily digest that were queued before ``before``."""
    rows = await session.execute(
        select(OutboxAlert)
        .where(
            OutboxAlert.status == OutboxStatus.PENDING,
            OutboxAlert.route == DAILY,
            OutboxAlert.created_at < before,
        )
        .order_by(OutboxAlert.id)
    )
    return [_queued(alert) for alert in rows.scalars()]


async def add_digest(
    session: AsyncSession,
    *,
    event_key: str,
    payload: dict[str, Any],
    risk: str | None,
    now: datetime,
    parent_id: int | None = None,
) -> int:
    """Queue a digest (or one part of its list, in ``parent_id``'s thread); return its id."""
    row = OutboxAlert(
        event_key=clean_text(event_key, EVENT_KEY_LIMIT) or "",
        public_name="",
        payload=payload,
        status=OutboxStatus.PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        kind=str(payload["event"]),
        risk=risk,
        route=REPLY if parent_id is not None else POST,
        parent_id=parent_id,
    )
    session.add(row)
    await session.flush()
    return row.id
