"""Queries and the UTC column type, on SQLite and PostgreSQL (schema from the migrations)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, StatementError

from watcher.store import Database, queries
from watcher.store.models import Finding, OutboxAlert, PublicProject, Release

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
PLUS_TWO = timezone(timedelta(hours=2))


def assert_utc(value: datetime | None) -> datetime:
    assert value is not None
    assert value.tzinfo is not None
    assert value.utcoffset() == timedelta(0)
    return value


def assert_no_leaked_connections(db: Database) -> None:
    pool = db.engine.pool
    checkedout = getattr(pool, "checkedout", None)
    if checkedout is not None:
        assert checkedout() == 0


async def new_project(db: Database, name: str = "acme-tools", now: datetime = T0) -> int:
    async with db.transaction() as session:
        project = await queries.upsert_project(session, name, name, now)
        return project.id


async def new_alert(db: Database, key: str, now: datetime = T0) -> int:
    async with db.transaction() as session:
        assert await queries.enqueue_alert(
            session, event_key=key, public_name="acme-tools", payload={"k": key}, now=now
        )
        row = (
            await session.execute(select(OutboxAlert).where(OutboxAlert.event_key == key))
        ).scalar_one()
        return row.id


async def alert(db: Database, alert_id: int) -> OutboxAlert:
    async with db.transaction() as session:
        row = await session.get(OutboxAlert, alert_id)
        assert row is not None
        return row


# --- UTC datetimes ------------------------------------------------------------------------


async def test_aware_datetimes_round_trip_as_utc(db: Database) -> None:
    local = datetime(2024, 5, 1, 14, 0, 0, 654321, tzinfo=PLUS_TWO)  # 12:00:00.654321 UTC
    async with db.transaction() as session:
        session.add(
            PublicProject(normalized_name="acme-x", name="acme-x", first_seen_at=local, owners=[])
        )
    async with db.transaction() as session:
        project = (
            await session.execute(
                select(PublicProject).where(PublicProject.normalized_name == "acme-x")
            )
        ).scalar_one()
        raw = (await session.execute(text("SELECT first_seen_at FROM public_projects"))).scalar()
    first_seen = assert_utc(project.first_seen_at)
    assert first_seen == local
    assert (first_seen.hour, first_seen.microsecond) == (12, 654321)
    # The stored value itself is UTC (SQLite keeps naive text: it must not be local time).
    assert "12:00:00" in str(raw)
    assert_utc(project.last_seen_at)  # the Python-side default is aware too
    assert_no_leaked_connections(db)


async def test_naive_datetime_is_rejected(db: Database) -> None:
    naive = datetime(2024, 5, 1, 12, 0)  # noqa: DTZ001 - the point of the test
    with pytest.raises(StatementError, match="naive datetime"):
        async with db.transaction() as session:
            await queries.upsert_project(session, "acme-x", "acme-x", naive)
    async with db.transaction() as session:
        assert (await session.execute(select(PublicProject))).first() is None


async def test_datetime_comparison_in_sql_uses_utc(db: Database) -> None:
    """A due time written in one offset compares correctly against 'now' in another."""
    due = datetime(2024, 5, 1, 14, 0, tzinfo=PLUS_TWO)  # 12:00 UTC
    alert_id = await new_alert(db, "k1", now=due)
    async with db.transaction() as session:
        early = await queries.claim_due_alerts(session, datetime(2024, 5, 1, 11, 59, tzinfo=UTC), 5)
    assert early == []
    async with db.transaction() as session:
        claimed = await queries.claim_due_alerts(session, datetime(2024, 5, 1, 12, tzinfo=UTC), 5)
    assert [a.id for a in claimed] == [alert_id]


# --- public projects and history --------------------------------------------------------


async def test_upsert_project_inserts_then_refreshes_keeping_first_seen(db: Database) -> None:
    later = T0 + timedelta(days=3)
    async with db.transaction() as session:
        first = await queries.upsert_project(
            session,
            "acme-tools",
            "Acme_Tools",
            T0,
            summary="first summary",
            latest_version="1.0",
            owners=["mallory"],
        )
        first_id = first.id
    async with db.transaction() as session:
        again = await queries.upsert_project(
            session, "acme-tools", "acme.tools", later, summary=None, latest_version="2.0"
        )
        assert again.id == first_id
    async with db.transaction() as session:
        rows = list((await session.execute(select(PublicProject))).scalars())
    assert len(rows) == 1
    project = rows[0]
    assert project.first_seen_at == T0
    assert project.last_seen_at == later
    assert project.name == "acme.tools"
    assert project.latest_version == "2.0"
    assert project.summary == "first summary"  # None does not overwrite
    assert project.owners == ["mallory"]


async def test_add_release_once_and_history_in_order_seen(db: Database) -> None:
    project_id = await new_project(db)
    other_id = await new_project(db, "acme-other")
    upload = datetime(2024, 4, 30, 8, 0, tzinfo=UTC)
    async with db.transaction() as session:
        for version in ("2.0", "1.0", "10.0"):
            assert await queries.add_release(
                session,
                project_id,
                version,
                upload_time=upload,
                files=[f"acme_tools-{version}.tar.gz"],
                owners=["mallory"],
                source="feed:updates",
            )
        assert await queries.add_release(session, other_id, "2.0", source="feed:updates")
    async with db.transaction() as session:
        assert not await queries.add_release(
            session, project_id, "1.0", files=["changed.tar.gz"], source="feed:packages"
        )
        history = await queries.project_history(session, "acme-tools")
        assert await queries.project_history(session, "nothing-here") == []
    assert [r.version for r in history] == ["2.0", "1.0", "10.0"]
    one = history[1]
    assert one.files == ["acme_tools-1.0.tar.gz"]  # the duplicate changed nothing
    assert one.source == "feed:updates"
    assert one.owners == ["mallory"]
    assert one.upload_time == upload
    assert_utc(one.first_seen_at)
    assert one.yanked is False
    async with db.transaction() as session:
        count = len(list((await session.execute(select(Release))).scalars()))
    assert count == 4


# --- findings -----------------------------------------------------------------------------


async def test_finding_unique_per_public_internal_and_kind(db: Database) -> None:
    async def add(public: str, internal: str, kind: str) -> bool:
        async with db.transaction() as session:
            return await queries.add_finding(
                session,
                public_name=public,
                internal_name=internal,
                kind=kind,
                detail=f"{public} vs {internal}",
                now=T0,
            )

    assert await add("acme-billing", "acme-billing", "exact")
    assert not await add("acme-billing", "acme-billing", "exact")
    assert await add("acme-billing", "acme", "prefix")
    assert await add("acme-billing", "acme-billing", "prefix")
    assert await add("acme-other", "acme-billing", "exact")
    async with db.transaction() as session:
        found = await queries.findings_for(session, "acme-billing")
        total = len(list((await session.execute(select(Finding))).scalars()))
    assert [(f.internal_name, f.kind) for f in found] == [
        ("acme-billing", "exact"),
        ("acme", "prefix"),
        ("acme-billing", "prefix"),
    ]
    assert all(f.status == "open" and f.first_seen_at == T0 for f in found)
    assert total == 4


# --- alert outbox -------------------------------------------------------------------------


async def test_enqueue_alert_unique_per_event_key(db: Database) -> None:
    payload = {"text": "hello", "matches": [{"kind": "exact"}], "n": 1}
    async with db.transaction() as session:
        assert await queries.enqueue_alert(
            session, event_key="new:acme-x", public_name="acme-x", payload=payload, now=T0
        )
    async with db.transaction() as session:
        assert not await queries.enqueue_alert(
            session, event_key="new:acme-x", public_name="acme-x", payload={"other": 1}, now=T0
        )
        assert await queries.enqueue_alert(
            session, event_key="new:acme-y", public_name="acme-y", payload={}, now=T0
        )
    async with db.transaction() as session:
        rows = list((await session.execute(select(OutboxAlert).order_by(OutboxAlert.id))).scalars())
        counts = await queries.outbox_counts(session)
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


async def test_claim_takes_only_due_pending_rows(db: Database) -> None:
    due = await new_alert(db, "due")
    future = await new_alert(db, "future", now=T0 + timedelta(hours=1))
    done = await new_alert(db, "done")
    async with db.transaction() as session:
        await queries.mark_alert_sent(session, done, slack_ts="1.0", now=T0)
    now = T0 + timedelta(minutes=1)
    async with db.transaction() as session:
        claimed = await queries.claim_due_alerts(session, now, 10)
    assert [a.id for a in claimed] == [due]

    row = await alert(db, due)
    assert (row.status, row.attempts, row.claimed_at) == ("sending", 1, now)
    assert (await alert(db, future)).status == "pending"
    assert (await alert(db, future)).attempts == 0
    assert (await alert(db, done)).status == "sent"

    # Later the future row is due; the one in 'sending' is not claimed again.
    async with db.transaction() as session:
        later = await queries.claim_due_alerts(session, now + timedelta(hours=2), 10)
    assert [a.id for a in later] == [future]
    async with db.transaction() as session:
        assert await queries.claim_due_alerts(session, now + timedelta(hours=2), 10) == []
    assert (await alert(db, due)).attempts == 1
    assert (await alert(db, future)).attempts == 1


async def test_claim_respects_limit_in_id_order(db: Database) -> None:
    ids = [await new_alert(db, f"k{i}") for i in range(3)]
    async with db.transaction() as session:
        first = await queries.claim_due_alerts(session, T0, 2)
    async with db.transaction() as session:
        second = await queries.claim_due_alerts(session, T0, 2)
    assert [a.id for a in first] == ids[:2]
    assert [a.id for a in second] == ids[2:]


@pytest.mark.postgres
async def test_concurrent_claims_never_take_the_same_row(postgres_db: Database) -> None:
    # Row locks (FOR UPDATE SKIP LOCKED) exist on PostgreSQL only.
    db = postgres_db
    ids = [await new_alert(db, f"k{i}") for i in range(4)]
    async with db.transaction() as holder:
        held = await queries.claim_due_alerts(holder, T0, 2)
        async with db.transaction() as other:
            rest = await queries.claim_due_alerts(other, T0, 10)
    assert [a.id for a in held] == ids[:2]
    assert [a.id for a in rest] == ids[2:]
    for alert_id in ids:
        assert (await alert(db, alert_id)).attempts == 1


async def test_mark_failed_reschedules_and_mark_sent_records(db: Database) -> None:
    alert_id = await new_alert(db, "k")
    async with db.transaction() as session:
        await queries.claim_due_alerts(session, T0, 10)
    failed_at = T0 + timedelta(seconds=5)
    async with db.transaction() as session:
        await queries.mark_alert_failed(
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
        not_yet = await queries.claim_due_alerts(session, failed_at + timedelta(seconds=29), 10)
    assert not_yet == []
    async with db.transaction() as session:
        again = await queries.claim_due_alerts(session, failed_at + timedelta(seconds=30), 10)
    assert [a.id for a in again] == [alert_id]
    assert again[0].attempts == 2

    sent_at = failed_at + timedelta(seconds=31)
    async with db.transaction() as session:
        await queries.mark_alert_sent(session, alert_id, slack_ts="1712345678.000100", now=sent_at)
    row = await alert(db, alert_id)
    assert (row.status, row.slack_ts, row.last_error) == ("sent", "1712345678.000100", None)
    assert row.sent_at == sent_at
    async with db.transaction() as session:
        assert await queries.claim_due_alerts(session, sent_at + timedelta(days=1), 10) == []
        assert await queries.outbox_counts(session) == {"sent": 1}


async def test_release_alerts_hands_claims_back_unattempted(db: Database) -> None:
    a, b, c = [await new_alert(db, f"k{i}") for i in range(3)]
    async with db.transaction() as session:
        await queries.claim_due_alerts(session, T0, 10)
    async with db.transaction() as session:
        await queries.mark_alert_sent(session, c, slack_ts="9.9", now=T0)
    async with db.transaction() as session:
        await queries.release_alerts(session, [a, b, c])
    assert [((r := await alert(db, i)).status, r.attempts) for i in (a, b, c)] == [
        ("pending", 0),
        ("pending", 0),
        ("sent", 1),  # only rows still in 'sending' are handed back
    ]


async def test_in_flight_alerts_are_the_sending_rows(db: Database) -> None:
    a, b, c = [await new_alert(db, f"k{i}") for i in range(3)]
    async with db.transaction() as session:
        assert await queries.in_flight_alerts(session) == []
        await queries.claim_due_alerts(session, T0, 10)
    async with db.transaction() as session:
        await queries.mark_alert_sent(session, b, slack_ts="1.0", now=T0)
    async with db.transaction() as session:
        stuck = await queries.in_flight_alerts(session)
    assert [s.id for s in stuck] == [a, c]
    assert all(s.status == "sending" for s in stuck)


# --- first-start catalog checks -----------------------------------------------------------


async def test_unchecked_entries_and_mark_checked(db: Database) -> None:
    entries = [("acme-billing", "name"), ("acme", "prefix"), ("acme", "name")]
    async with db.transaction() as session:
        assert await queries.unchecked_entries(session, entries) == entries
        await queries.mark_checked(session, "acme", "prefix", found=True, now=T0)
    async with db.transaction() as session:
        assert await queries.unchecked_entries(session, entries) == [
            ("acme-billing", "name"),
            ("acme", "name"),
        ]
        # Marking twice is harmless and keeps the first answer.
        await queries.mark_checked(session, "acme", "prefix", found=False, now=T0)
        await queries.mark_checked(session, "acme-billing", "name", found=False, now=T0)
    async with db.transaction() as session:
        assert await queries.unchecked_entries(session, entries) == [("acme", "name")]
        rows = (
            await session.execute(text("SELECT normalized_name, entry, found FROM catalog_checks"))
        ).all()
    assert sorted((n, e, bool(f)) for n, e, f in rows) == [
        ("acme", "prefix", True),
        ("acme-billing", "name", False),
    ]


# --- feed cursor --------------------------------------------------------------------------


async def test_feed_state_save_touch_and_advance(db: Database) -> None:
    async with db.transaction() as session:
        assert await queries.get_feed_state(session, "updates") is None
        await queries.touch_feed_state(session, "updates", T0)  # nothing to touch yet
    async with db.transaction() as session:
        assert await queries.get_feed_state(session, "updates") is None
        await queries.save_feed_state(
            session, "updates", etag='"abc"', seen_keys=["b 2.0", "a 1.0"], now=T0
        )

    later = T0 + timedelta(minutes=1)
    async with db.transaction() as session:
        await queries.touch_feed_state(session, "updates", later)
    async with db.transaction() as session:
        state = await queries.get_feed_state(session, "updates")
        assert state is not None
        assert state.etag == '"abc"'
        assert state.seen_keys == ["b 2.0", "a 1.0"]
        assert state.newest_key == "b 2.0"
        assert state.polled_at == later
        assert state.advanced_at == T0
        assert await queries.get_feed_state(session, "packages") is None

    latest = T0 + timedelta(minutes=2)
    async with db.transaction() as session:
        await queries.save_feed_state(session, "updates", etag=None, seen_keys=[], now=latest)
    async with db.transaction() as session:
        state = await queries.get_feed_state(session, "updates")
    assert state is not None
    assert (state.etag, state.seen_keys, state.newest_key) == (None, [], None)
    assert state.polled_at == latest
    assert state.advanced_at == latest


# --- transactions ---------------------------------------------------------------------------


class Boom(Exception):
    pass


async def write_everything_then_fail(db: Database) -> None:
    async with db.transaction() as session:
        project = await queries.upsert_project(session, "acme-x", "acme-x", T0)
        await queries.add_release(session, project.id, "1.0", source="feed:updates")
        await queries.add_finding(
            session,
            public_name="acme-x",
            internal_name="acme",
            kind="prefix",
            detail="d",
            now=T0,
        )
        await queries.enqueue_alert(
            session, event_key="new:acme-x", public_name="acme-x", payload={}, now=T0
        )
        await queries.save_feed_state(session, "updates", etag="e", seen_keys=["k"], now=T0)
        await queries.mark_checked(session, "acme", "prefix", found=True, now=T0)
        await session.flush()  # the rows really reached the database before the failure
        raise Boom


async def test_failed_transaction_rolls_back_everything(db: Database) -> None:
    with pytest.raises(Boom):
        await write_everything_then_fail(db)
    async with db.transaction() as session:
        for table in (
            "public_projects",
            "releases",
            "findings",
            "alert_outbox",
            "feed_states",
            "catalog_checks",
        ):
            count = (await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar()  # noqa: S608
            assert count == 0, table
    assert_no_leaked_connections(db)


async def alert_then_orphan_release(db: Database, project_id: int) -> None:
    async with db.transaction() as session:
        await queries.enqueue_alert(
            session, event_key="new:acme-x", public_name="acme-x", payload={}, now=T0
        )
        # A release of a project that does not exist violates the foreign key.
        await queries.add_release(session, project_id + 1000, "1.0", source="feed:updates")


async def test_constraint_violation_rolls_back_the_whole_transaction(db: Database) -> None:
    project_id = await new_project(db)
    with pytest.raises(IntegrityError):
        await alert_then_orphan_release(db, project_id)
    async with db.transaction() as session:
        assert await queries.outbox_counts(session) == {}
