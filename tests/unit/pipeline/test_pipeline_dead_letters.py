"""A project whose events keep failing: retried with backoff, then dead-lettered, never
holding up the others; and one message for a new squat whose details are unavailable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.fakes.pypi import FakeIndex
from tests.support import new_event
from watcher.catalog import Catalog
from watcher.errors import DatabaseUnavailable
from watcher.matching.live import LiveCatalog
from watcher.pipeline import Observation, Pipeline, Recorder
from watcher.pypi import FeedKind, IndexClient
from watcher.sources import FeedSource
from watcher.store import Database, Session, events
from watcher.store.models import OutboxAlert
from watcher.store.status import coverage


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class PoisonedRecorder(Recorder):
    """A recorder that cannot record one project (as a bug or a database refusal would)."""

    async def record(
        self, session: Session, catalog: Catalog, obs: Observation, now: datetime
    ) -> int:
        if obs.public_name == "acme-poison":
            raise RuntimeError("cannot store acme-poison")
        return await super().record(session, catalog, obs, now)


async def _queue(db: Database, name: str, now: datetime) -> None:
    async with db.transaction() as session:
        await events.add_events(session, [new_event(name)], now)


async def _alerted(db: Database) -> list[str]:
    async with db.transaction() as session:
        rows = await session.execute(select(OutboxAlert.public_name).order_by(OutboxAlert.id))
    return list(rows.scalars())


async def test_a_failing_project_is_retried_with_backoff_then_dead_lettered(
    db: Database, index_client: IndexClient, live_catalog: LiveCatalog, fake_index: FakeIndex
) -> None:
    clock = Clock()
    for name in ("acme-poison", "acme-one", "acme-two"):
        fake_index.add_release(name, "1.0")
    await _queue(db, "acme-poison", clock.now)
    await _queue(db, "acme-one", clock.now)
    pipeline = Pipeline(
        db,
        index_client,
        live_catalog,
        recorder=PoisonedRecorder(index_client.project_url),
        clock=clock,
    )

    assert await pipeline.process_pending() == 1  # acme-one went on
    # Not retried at once (no tight loop), and not only once the lease runs out: after
    # its backoff, which doubles with each failure.
    assert await pipeline.process_pending() == 0
    delays = [events.retry_delay(n) for n in range(1, events.MAX_ATTEMPTS)]
    assert delays == sorted(delays)
    assert delays[0] < delays[-1]
    for delay in delays:
        clock.now += delay - timedelta(seconds=1)
        await pipeline.process_pending()
        async with db.transaction() as session:
            assert await events.pending_count(session) == 1  # too early: still waiting
        clock.now += timedelta(seconds=2)
        await pipeline.process_pending()

    async with db.transaction() as session:
        cov = await coverage(session)
    assert cov.pending_index_events == 0
    [dead] = cov.dead_letters
    assert dead.normalized_name == "acme-poison"
    assert dead.attempts == events.MAX_ATTEMPTS
    assert dead.last_error == "RuntimeError: cannot store acme-poison"

    # A dead letter is never claimed again and blocks nothing behind it.
    clock.now += timedelta(days=1)
    await _queue(db, "acme-two", clock.now)
    assert await pipeline.process_pending() == 1
    assert await _alerted(db) == ["acme-one", "acme-two"]
    async with db.transaction() as session:
        assert await events.dead_count(session) == 1


class DatabaseDownRecorder(Recorder):
    """A recorder whose database connection is lost (a restart, a failover), for a while."""

    down = True

    async def record(
        self, session: Session, catalog: Catalog, obs: Observation, now: datetime
    ) -> int:
        if self.down:
            raise DatabaseUnavailable("connection reset by peer")
        return await super().record(session, catalog, obs, now)


async def test_a_database_outage_is_no_attempt_and_dead_letters_nothing(
    db: Database, index_client: IndexClient, live_catalog: LiveCatalog, fake_index: FakeIndex
) -> None:
    clock = Clock()
    fake_index.add_release("acme-one", "1.0")
    await _queue(db, "acme-one", clock.now)
    recorder = DatabaseDownRecorder(index_client.project_url)
    pipeline = Pipeline(db, index_client, live_catalog, recorder=recorder, clock=clock)
    for _ in range(events.MAX_ATTEMPTS + 2):  # longer than any project's retries
        with pytest.raises(DatabaseUnavailable):  # the run fails, as the database did
            await pipeline.process_pending()
        clock.now += timedelta(hours=1)
    async with db.transaction() as session:
        cov = await coverage(session)
    assert (cov.pending_index_events, cov.dead_letters) == (1, [])
    recorder.down = False
    assert await pipeline.process_pending() == 1  # the squat is alerted after all
    assert await _alerted(db) == ["acme-one"]


async def test_a_new_squat_without_details_seen_by_both_feeds_is_one_message(
    db: Database, index_client: IndexClient, live_catalog: LiveCatalog, fake_index: FakeIndex
) -> None:
    feeds = FeedSource(db, index_client, live_catalog)
    await feeds.poll()  # the baseline
    fake_index.add_release("acme-fresh", "1.0")  # in the packages AND the updates feed
    fake_index.fail("/pypi/acme-fresh/json", 404, times=None)  # the JSON API lags behind
    for kind in (FeedKind.PACKAGES, FeedKind.UPDATES):
        await feeds.poll_feed(kind)

    assert await Pipeline(db, index_client, live_catalog).process_pending() == 1
    async with db.transaction() as session:
        [alert] = (await session.execute(select(OutboxAlert))).scalars().all()
    assert alert.payload["version"] == "1.0"  # not "(no release)"
    assert alert.event_key.startswith("new:acme-fresh:")
