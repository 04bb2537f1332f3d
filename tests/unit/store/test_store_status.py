"""Coverage: where every source stands, read in one transaction, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from watcher.store import Database, catalog, events, feeds, findings, journal, listing, outbox
from watcher.store.catalog import CatalogStatus
from watcher.store.events import NewEvent
from watcher.store.listing import ListingState
from watcher.store.models import EventKind, EventSource
from watcher.store.status import Coverage, FeedStatus, coverage

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
T1 = T0 + timedelta(minutes=1)


async def read(db: Database) -> Coverage:
    async with db.transaction() as session:
        return await coverage(session)


async def test_coverage_of_an_empty_database(db: Database) -> None:
    assert await read(db) == Coverage(
        feeds=[],
        index=None,
        journal=None,
        catalogs=[],
        pending_index_events=0,
        dead_letters=[],
        dead_index_events=0,
        alerts={},
        findings={},
        deliveries={},
    )


async def test_coverage_reports_every_source_catalogs_and_queues(db: Database) -> None:
    source = CatalogStatus(
        source="/etc/watcher/catalog.toml",
        digest="d" * 64,
        loaded_at=T0,
        names=3,
        prefixes=1,
        allow=1,
        owners=2,
        last_error=None,
        error_at=None,
    )
    async with db.write() as session:
        await feeds.save_cursor(session, "updates", etag=None, seen_keys=["a 1"], now=T0, gap=True)
        await feeds.save_cursor(session, "packages", etag=None, seen_keys=[], now=T0)
        await feeds.touch_cursor(session, "packages", T1)
        await listing.save_state(session, serial=777, etag='"e"', projects=12, now=T0)
        await journal.save_cursor(session, 780, T0)
        await catalog.save_loaded(session, source)
        await catalog.save_error(session, "/other.toml", "bad TOML", T1)
        await events.add_events(
            session,
            [
                NewEvent("acme-a", "acme-a", EventKind.NEW, EventSource.INDEX),
                NewEvent("acme-b", "acme-b", EventKind.OWNER, EventSource.JOURNAL),
            ],
            T0,
        )
        for key in ("k1", "k2", "k3"):
            await outbox.enqueue_alert(
                session, event_key=key, public_name="acme-a", payload={}, now=T0
            )
        for public, internal in (("acme-a", "acme"), ("acme-b", "acme"), ("acme-c", "acme")):
            await findings.add_finding(
                session,
                public_name=public,
                internal_name=internal,
                kind="prefix",
                detail="",
                now=T0,
            )
    async with db.write() as session:
        routed = [a.id for a in await outbox.unplanned_alerts(session, None)]
        await outbox.route_alerts(session, routed, outbox.POST)
        await outbox.claim_due_alerts(session, T0, 1)
        await findings.resolve_open_findings(session, ["acme-c"], T1)
        await journal.save_backoff(session, failures=2, retry_at=T1, error="503", now=T1)

    cov = await read(db)
    assert cov.feeds == [
        FeedStatus("packages", polled_at=T1, advanced_at=T0, gaps=0),
        FeedStatus("updates", polled_at=T0, advanced_at=T0, gaps=1),
    ]
    assert cov.index == ListingState(serial=777, etag='"e"', projects=12, reconciled_at=T0)
    assert cov.journal is not None
    assert (cov.journal.serial, cov.journal.failures, cov.journal.retry_at) == (780, 2, T1)
    assert (cov.journal.last_error, cov.journal.updated_at) == ("503", T1)
    assert cov.catalogs == [
        CatalogStatus("/etc/watcher/catalog.toml", "d" * 64, T0, 3, 1, 1, 2, None, None),
        CatalogStatus("/other.toml", None, None, 0, 0, 0, 0, "bad TOML", T1, failing_since=T1),
    ]
    assert cov.pending_index_events == 2
    assert cov.alerts == {"pending": 2, "sending": 1}
    assert cov.findings == {"open": 2, "resolved": 1}


async def test_coverage_lists_dead_letters_apart_from_pending_events(db: Database) -> None:
    async with db.write() as session:
        await events.add_events(
            session,
            [
                NewEvent("acme-poison", "Acme.Poison", EventKind.NEW, EventSource.INDEX),
                NewEvent("acme-fine", "acme-fine", EventKind.NEW, EventSource.INDEX),
            ],
            T0,
        )
    async with db.write() as session:
        claimed = await events.claim_events(session, "w", T0, timedelta(seconds=15), 1)
        await events.fail_events(
            session, [e.id for e in claimed], "w", "ValueError: boom", T1, max_attempts=1
        )
    cov = await read(db)
    assert cov.pending_index_events == 1
    assert cov.dead_index_events == 1
    [dead] = cov.dead_letters
    assert (dead.normalized_name, dead.attempts, dead.last_error) == (
        "acme-poison",
        1,
        "ValueError: boom",
    )
    assert dead.dead_at == T1
