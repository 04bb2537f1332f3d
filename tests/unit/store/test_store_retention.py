"""Retention (watcher.store.retention, watcher.alerts.retention) on both databases: delivered
alerts older than the retention go; the undelivered, the recent, thread starters, rows
something points at (until it is gone too) and the baseline marker stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from watcher.alerts.retention import OutboxRetention
from watcher.store import Database, deliveries, outbox
from watcher.store.models import AlertDelivery, OutboxAlert, OutboxStatus

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=120)
RECENT = NOW - timedelta(days=10)


async def _alert(db: Database, key: str, name: str, kind: str, **row: Any) -> int:
    """An alert queued (with its webhook delivery when the webhook is on), then set as
    ``row`` says (status, sent_at, parent_id, digest_id)."""
    async with db.transaction() as session:
        assert await outbox.enqueue_alert(
            session, event_key=key, public_name=name, payload={"event": kind}, now=OLD
        )
        alert_id = await session.scalar(select(OutboxAlert.id).where(OutboxAlert.event_key == key))
        assert alert_id is not None
        await session.execute(
            update(OutboxAlert).where(OutboxAlert.id == alert_id).values(kind=kind, **row)
        )
    return int(alert_id)


def _sent(when: datetime) -> dict[str, Any]:
    return {"status": OutboxStatus.SENT, "sent_at": when}


async def _left(db: Database) -> set[int]:
    async with db.transaction() as session:
        return set(await session.scalars(select(OutboxAlert.id)))


async def test_delivered_alerts_past_the_retention_go_and_what_is_needed_stays(
    db: Database,
) -> None:
    starter = await _alert(db, "new:acme-x", "acme-x", "new", **_sent(OLD))
    reply = await _alert(db, "rel:acme-x:2", "acme-x", "release", parent_id=starter, **_sent(OLD))
    release = await _alert(db, "rel:acme-y:1", "acme-y", "release", **_sent(OLD))
    recent = await _alert(db, "rel:acme-z:1", "acme-z", "release", **_sent(RECENT))
    pending = await _alert(db, "rel:acme-w:1", "acme-w", "release")
    digest = await _alert(db, "digest:1", "", "digest", **_sent(OLD))
    members = [
        await _alert(
            db, f"rel:acme-m{i}:1", f"acme-m{i}", "release", digest_id=digest, **_sent(OLD)
        )
        for i in range(3)
    ]
    second_new = await _alert(db, "new:acme-x:again", "acme-x", "new", **_sent(OLD))
    async with db.transaction() as session:
        await outbox.open_baseline(session, OLD)
        await session.execute(
            update(OutboxAlert)
            .where(OutboxAlert.event_key == outbox.BASELINE_KEY)
            .values(**_sent(OLD))
        )
    before = await _left(db)

    deleted = await OutboxRetention(db, 90, clock=lambda: NOW).run()

    left = await _left(db)
    gone = {reply, release, digest, second_new, *members}
    assert deleted == len(gone)
    assert left == before - gone
    assert {starter, recent, pending} <= left
    async with db.transaction() as session:
        assert await session.scalar(
            select(OutboxAlert.id).where(OutboxAlert.event_key == outbox.BASELINE_KEY)
        )
    # Nothing more to do on a second pass.
    assert await OutboxRetention(db, 90, clock=lambda: NOW).run() == 0
    # A longer retention keeps them all.
    assert await OutboxRetention(db, 365, clock=lambda: NOW).run() == 0


async def test_an_alert_not_yet_delivered_to_the_webhook_stays(db: Database) -> None:
    async with db.transaction() as session:
        await deliveries.set_destinations(session, {"webhook"}, OLD)
    waiting = await _alert(db, "rel:acme-a:1", "acme-a", "release", **_sent(OLD))
    done = await _alert(db, "rel:acme-b:1", "acme-b", "release", **_sent(OLD))
    async with db.transaction() as session:
        await session.execute(
            update(AlertDelivery)
            .where(AlertDelivery.alert_id == done)
            .values(status=OutboxStatus.SENT, sent_at=OLD)
        )

    assert await OutboxRetention(db, 90, clock=lambda: NOW).run() == 1

    assert waiting in await _left(db)
    async with db.transaction() as session:
        kept = list(await session.scalars(select(AlertDelivery.alert_id)))
    assert kept == [waiting]
