"""The alert outbox, on SQLite and PostgreSQL (schema from the migrations)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from watcher.store import Database, outbox
from watcher.store.models import OutboxAlert, OutboxStatus
from watcher.store.outbox import QueuedAlert

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
PLUS_TWO = timezone(timedelta(hours=2))


async def new_alert(db: Database, key: str, now: datetime = T0) -> int:
    async with db.transaction() as session:
        assert await outbox.enqueue_alert(
            session, event_key=key, public_name="acme-tools", payload={"k": key}, now=now
        )
        row = (
            await session.execute(select(OutboxAlert).where(OutboxAlert.event_key == key))
        ).scalar_one()
        # Routed as the dispatcher's planner routes an alert posted on its own.
        await outbox.route_alerts(session, [row.id], outbox.POST)
        return row.id


async def alert(db: Database, alert_id: int) -> OutboxAlert:
    async with db.transaction() as session:
        row = await session.get(OutboxAlert, alert_id)
        assert row is not None
        return row


async def test_enqueue_alert_unique_per_event_key(db: Database) -> None:
    payload = {"text": "hello", "matches": [{"kind": "exact"}], "n": 1}
    async with db.transaction() as session:
        assert await outbox.enqueue_alert(
            session, event_key="new:acme-x", public_name="acme-x", payload=payload, now=T0
        )
    async with db.transaction() as session:
        assert not await outbox.enqueue_alert(
            session, event_key="new:acme-x", public_name="acme-x", payload={"other": 1}, now=T0
        )
        assert await outbox.enqueue_alert(
            session, event_key="new:acme-y", public_name="acme-y", payload={}, now=T0
        )
    async with db.transaction() as session:
        rows = list((await session.execute(select(OutboxAlert).order_by(OutboxAlert.id))).scalars())
        counts = await outbox.outbox_counts(session)
    assert [r.event_key for r in rows] == ["new:acme-x", "new:acme-y"]
    first = rows[0]
    assert first.payload == payload
    assert (first.status, first.attempts, first.slack_ts, first.sent_at) == (
        "pending",
        0,
        None,
        None,
    )
    assert first.next_attempt_at == T0
    assert first.created_at == T0
    assert counts == {"pending": 2}


async def test_a_key_longer_than_its_column_stays_unique(db: Database) -> None:
    # A public name matching many catalog entries makes a long key ("new:name:a/typo,...");
    # PostgreSQL refused it (600 characters), so the squat was never alerted.
    many = ",".join(f"acme-internal-{n:03}/typo" for n in range(60))
    keys = [f"new:acme-x:{many}", f"new:acme-x:{many},one-more/exact"]
    async with db.transaction() as session:
        for key in [*keys, keys[0]]:
            await outbox.enqueue_alert(
                session, event_key=key, public_name="acme-x", payload={}, now=T0
            )
    async with db.transaction() as session:
        stored = list((await session.execute(select(OutboxAlert.event_key))).scalars())
    assert len(stored) == 2  # the same long key twice is one alert; two different are two
    assert all(
        len(key) <= 600 and key.startswith("new:acme-x:acme-internal-000/typo") for key in stored
    )


async def test_datetime_comparison_in_sql_uses_utc(db: Database) -> None:
    """A due time written in one offset compares correctly against 'now' in another."""
    due = datetime(2024, 5, 1, 14, 0, tzinfo=PLUS_TWO)  # 12:00 UTC
    alert_id = await new_alert(db, "k1", now=due)
    async with db.transaction() as session:
        early = await outbox.claim_due_alerts(session, datetime(2024, 5, 1, 11, 59, tzinfo=UTC), 5)
    assert early == []
    async with db.transaction() as session:
        claimed = await outbox.claim_due_alerts(session, datetime(2024, 5, 1, 12, tzinfo=UTC), 5)
    assert [a.id for a in claimed] == [alert_id]


async def test_claim_takes_only_due_pending_rows(db: Database) -> None:
    due = await new_alert(db, "due")
    future = await new_alert(db, "future", now=T0 + timedelta(hours=1))
    done = await new_alert(db, "done")
    async with db.transaction() as session:
        await outbox.mark_alert_sent(session, done, slack_ts="1.0", now=T0)
    now = T0 + timedelta(minutes=1)
    async with db.transaction() as session:
        claimed = await outbox.claim_due_alerts(session, now, 10)
    assert [a.id for a in claimed] == [due]
    # What the dispatcher gets is the claimed state, as a typed record.
    assert claimed == [
        QueuedAlert(
            id=due,
            event_key="due",
            public_name="acme-tools",
            payload={"k": "due"},
            status=OutboxStatus.SENDING,
            attempts=1,
            created_at=T0,
            claimed_at=now,
            kind="new",  # a payload without an event is an older "new" alert's
            route="post",
        )
    ]

    row = await alert(db, due)
    assert (row.status, row.attempts, row.claimed_at) == ("sending", 1, now)
    assert (await alert(db, future)).status == "pending"
    assert (await alert(db, future)).attempts == 0
    assert (await alert(db, done)).status == "sent"

    # Later the future row is due; the one in 'sending' is not claimed again.
    async with db.transaction() as session:
        later = await outbox.claim_due_alerts(session, now + timedelta(hours=2), 10)
    assert [a.id for a in later] == [future]
    async with db.transaction() as session:
        assert await outbox.claim_due_alerts(session, now + timedelta(hours=2), 10) == []
    assert (await alert(db, due)).attempts == 1
    assert (await alert(db, future)).attempts == 1


async def test_claim_respects_limit_in_id_order(db: Database) -> None:
    ids = [await new_alert(db, f"k{i}") for i in range(3)]
    async with db.transaction() as session:
        first = await outbox.claim_due_alerts(session, T0, 2)
    async with db.transaction() as session:
        second = await outbox.claim_due_alerts(session, T0, 2)
    assert [a.id for a in first] == ids[:2]
    assert [a.id for a in second] == ids[2:]


@pytest.mark.postgres
async def test_concurrent_claims_never_take_the_same_row(postgres_db: Database) -> None:
    # Row locks (FOR UPDATE SKIP LOCKED) exist on PostgreSQL only.
    db = postgres_db
    ids = [await new_alert(db, f"k{i}") for i in range(4)]
    async with db.transaction() as holder:
        held = await outbox.claim_due_alerts(holder, T0, 2)
        async with db.transaction() as other:
            rest = await outbox.claim_due_alerts(other, T0, 10)
    assert [a.id for a in held] == ids[:2]
    assert [a.id for a in rest] == ids[2:]
    for alert_id in ids:
        assert (await alert(db, alert_id)).attempts == 1


async def test_mark_failed_reschedules_and_mark_sent_records(db: Database) -> None:
    alert_id = await new_alert(db, "k")
    async with db.transaction() as session:
        await outbox.claim_due_alerts(session, T0, 10)
    failed_at = T0 + timedelta(seconds=5)
    async with db.transaction() as session:
        await outbox.mark_alert_failed(
            session, alert_id, error="boom " * 1000, retry_in=timedelta(seconds=30), now=failed_at
        )
    row = await alert(db, alert_id)
    assert row.status == "pending"
    assert row.attempts == 1
    assert row.next_attempt_at == failed_at + timedelta(seconds=30)
    assert row.last_error is not None
    assert row.last_error.startswith("boom boom")
    assert len(row.last_error) == 2000

    async with db.transaction() as session:
        not_yet = await outbox.claim_due_alerts(session, failed_at + timedelta(seconds=29), 10)
    assert not_yet == []
    async with db.transaction() as session:
        again = await outbox.claim_due_alerts(session, failed_at + timedelta(seconds=30), 10)
    assert [a.id for a in again] == [alert_id]
    assert again[0].attempts == 2

    sent_at = failed_at + timedelta(seconds=31)
    async with db.transaction() as session:
        await outbox.mark_alert_sent(session, alert_id, slack_ts="1712345678.000100", now=sent_at)
    row = await alert(db, alert_id)
    assert (row.status, row.slack_ts, row.last_error) == ("sent", "1712345678.000100", None)
    assert row.sent_at == sent_at
    async with db.transaction() as session:
        assert await outbox.claim_due_alerts(session, sent_at + timedelta(days=1), 10) == []
        assert await outbox.outbox_counts(session) == {"sent": 1}


async def test_release_alerts_hands_claims_back_unattempted(db: Database) -> None:
    a, b, c = [await new_alert(db, f"k{i}") for i in range(3)]
    async with db.transaction() as session:
        await outbox.claim_due_alerts(session, T0, 10)
    async with db.transaction() as session:
        await outbox.mark_alert_sent(session, c, slack_ts="9.9", now=T0)
    async with db.transaction() as session:
        await outbox.release_alerts(session, [a, b, c])
    assert [((r := await alert(db, i)).status, r.attempts) for i in (a, b, c)] == [
        ("pending", 0),
        ("pending", 0),
        ("sent", 1),  # only rows still in 'sending' are handed back
    ]


async def test_in_flight_alerts_are_the_sending_rows(db: Database) -> None:
    a, b, c = [await new_alert(db, f"k{i}") for i in range(3)]
    async with db.transaction() as session:
        assert await outbox.in_flight_alerts(session) == []
        await outbox.claim_due_alerts(session, T0, 10)
    async with db.transaction() as session:
        await outbox.mark_alert_sent(session, b, slack_ts="1.0", now=T0)
    async with db.transaction() as session:
        stuck = await outbox.in_flight_alerts(session)
    assert [s.id for s in stuck] == [a, c]
    assert all(s.status == OutboxStatus.SENDING for s in stuck)
    assert all(s.claimed_at == T0 and s.attempts == 1 for s in stuck)
    assert [s.payload for s in stuck] == [{"k": "k0"}, {"k": "k2"}]
