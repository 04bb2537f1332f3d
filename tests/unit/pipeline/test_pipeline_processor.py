"""The pipeline against a real database and the fake index: claims, details, decisions."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.fakes.pypi import FakeIndex
from tests.support import new_event
from watcher.catalog import Catalog, load_catalog_file
from watcher.matching.live import LiveCatalog
from watcher.pipeline import Observation, Pipeline
from watcher.pipeline.processor import strangers
from watcher.pypi import IndexClient
from watcher.store import Database, Session, events
from watcher.store.events import NewEvent
from watcher.store.models import EventKind, EventSource, Finding, IndexEvent, OutboxAlert


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def _queue(db: Database, *news: NewEvent, now: datetime | None = None) -> None:
    async with db.transaction() as session:
        await events.add_events(session, list(news), now or datetime.now(UTC))


async def _count(db: Database, table: type[IndexEvent] | type[OutboxAlert]) -> int:
    async with db.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


def _details_requests(fake_index: FakeIndex, name: str) -> int:
    return sum(1 for r in fake_index.requests if r.path == f"/pypi/{name}/json")


async def test_events_of_one_project_share_one_details_request(
    db: Database, index_client: IndexClient, live_catalog: LiveCatalog, fake_index: FakeIndex
) -> None:
    fake_index.add_release("acme-billing", "9.0")
    await _queue(
        db,
        new_event(
            "acme-billing", event=EventKind.RELEASE, source=EventSource.FEED_UPDATES, version="9.0"
        ),
        new_event("acme-billing", event=EventKind.CHANGED),
        new_event("acme-billing", event=EventKind.CATALOG),
    )
    alerts = await Pipeline(db, index_client, live_catalog).process_pending()
    assert alerts == 1  # one project, one "new" alert listing every internal name hit
    assert _details_requests(fake_index, "acme-billing") == 1
    assert await _count(db, IndexEvent) == 0


async def test_unmatched_and_own_projects_are_finished_without_alerts(
    db: Database, index_client: IndexClient, live_catalog: LiveCatalog, fake_index: FakeIndex
) -> None:
    fake_index.add_release("acme-ours", "1.0")
    fake_index.set_owners("acme-ours", ["acme-corp"])
    await _queue(db, new_event("unrelated"), new_event("acme-ours"), new_event("acme-public-sdk"))
    assert await Pipeline(db, index_client, live_catalog).process_pending() == 0
    assert await _count(db, IndexEvent) == 0
    assert await _count(db, OutboxAlert) == 0
    assert _details_requests(fake_index, "unrelated") == 0  # matches nothing: not asked


async def test_the_catalog_in_use_when_processing_decides_not_the_one_at_recording(
    db: Database,
    index_client: IndexClient,
    catalog_file: Path,
    fake_index: FakeIndex,
    tmp_path: Path,
) -> None:
    fake_index.add_release("newly-internal", "1.0")
    await _queue(db, new_event("newly-internal"))
    other = tmp_path / "other.toml"
    other.write_text('names = ["newly-internal"]\n')
    live_catalog = LiveCatalog.of(load_catalog_file(catalog_file))
    live_catalog.swap(LiveCatalog.of(load_catalog_file(other)).current)
    assert await Pipeline(db, index_client, live_catalog).process_pending() == 1


async def test_events_held_by_another_worker_are_left_alone_until_the_lease_ends(
    db: Database, index_client: IndexClient, live_catalog: LiveCatalog, fake_index: FakeIndex
) -> None:
    clock = Clock()
    fake_index.add_release("acme-billing", "9.0")
    await _queue(db, new_event("acme-billing"), now=clock.now)
    async with db.write() as session:
        [held] = await events.claim_events(
            session, "dead-worker", clock.now, timedelta(seconds=15), 10
        )
    pipeline = Pipeline(db, index_client, live_catalog, clock=clock)
    assert await pipeline.process_pending() == 0
    assert await _count(db, IndexEvent) == 1
    clock.now += timedelta(seconds=16)  # the holder died: its lease ran out
    assert await pipeline.process_pending() == 1
    assert await _count(db, IndexEvent) == 0
    assert held.normalized_name == "acme-billing"


async def test_one_failing_project_does_not_hold_up_the_others(
    db: Database, index_client: IndexClient, live_catalog: LiveCatalog, fake_index: FakeIndex
) -> None:
    clock = Clock()
    fake_index.add_release("acme-billing", "9.0")
    await _queue(db, new_event("acme-billing"), new_event("payments-core"), now=clock.now)
    pipeline = Pipeline(db, index_client, live_catalog, clock=clock)
    record = pipeline.recorder.record

    async def broken(session: Session, catalog: Catalog, obs: Observation, now: datetime) -> int:
        if obs.public_name == "acme-billing":
            raise ValueError("a bad project")
        return await record(session, catalog, obs, now)

    pipeline.recorder.record = broken  # type: ignore[method-assign]
    assert await pipeline.process_pending() == 1  # payments-core went on
    async with db.transaction() as session:
        [left] = (await session.execute(select(IndexEvent))).scalars().all()
    assert left.normalized_name == "acme-billing"
    # Not retried in a tight loop (it waits out its backoff)...
    assert await Pipeline(db, index_client, live_catalog, clock=clock).process_pending() == 0
    # ... then by whoever claims it (here the recorder works again).
    clock.now += events.retry_delay(1) + timedelta(seconds=1)
    pipeline.recorder.record = record  # type: ignore[method-assign]
    assert await pipeline.process_pending() == 1
    assert await _count(db, IndexEvent) == 0


async def test_cancelling_hands_the_claimed_events_back_at_once(
    db: Database, index_client: IndexClient, live_catalog: LiveCatalog, fake_index: FakeIndex
) -> None:
    fake_index.add_release("acme-billing", "9.0")
    await _queue(db, new_event("acme-billing"), new_event("payments-core"))
    fake_index.delay = 5.0  # the first details request hangs
    working = asyncio.create_task(Pipeline(db, index_client, live_catalog).process_pending())
    await asyncio.sleep(0.5)
    working.cancel()
    with pytest.raises(asyncio.CancelledError):
        await working
    async with db.transaction() as session:
        rows = (await session.execute(select(IndexEvent))).scalars().all()
    assert len(rows) == 2
    assert all(r.claimed_by is None and r.lease_until is None for r in rows)
    fake_index.delay = 0.0
    # Another worker takes them at once, not after the lease.
    assert await Pipeline(db, index_client, live_catalog).process_pending() == 2


async def test_two_pipelines_at_once_process_each_event_once(
    db: Database, index_client: IndexClient, live_catalog: LiveCatalog, fake_index: FakeIndex
) -> None:
    names = [f"acme-part-{i}" for i in range(30)]
    for name in names:
        fake_index.add_release(name, "1.0")
    await _queue(db, *(new_event(n) for n in names))
    fake_index.delay = 0.02  # keep both workers busy at the same time
    first, second = (
        Pipeline(db, index_client, live_catalog),
        Pipeline(db, index_client, live_catalog),
    )
    alerts = await asyncio.gather(first.process_pending(), second.process_pending())
    assert sum(alerts) == len(names)
    assert all(_details_requests(fake_index, n) == 1 for n in names)
    async with db.transaction() as session:
        findings = await session.scalar(select(func.count()).select_from(Finding))
    assert findings == len(names)


def test_strangers_are_role_gains_of_users_outside_the_owners() -> None:
    detail = (
        "add Owner mallory; remove Owner bob; accepted Maintainer Acme-Corp; add Maintainer eve"
    )
    grants = strangers(detail, frozenset({"acme-corp"}))
    assert [(g.role, g.user) for g in grants] == [("Owner", "mallory"), ("Maintainer", "eve")]
    assert strangers(None, frozenset()) == []


async def test_a_slow_worker_keeps_its_claims_past_the_lease(
    db: Database, index_client: IndexClient, live_catalog: LiveCatalog, fake_index: FakeIndex
) -> None:
    fake_index.add_release("acme-billing", "9.0")
    await _queue(db, new_event("acme-billing"))
    fake_index.delay = 1.5  # the details take five leases
    slow = Pipeline(db, index_client, live_catalog, lease=timedelta(seconds=0.3))
    working = asyncio.create_task(slow.process_pending())
    await asyncio.sleep(0.9)
    other = Pipeline(db, index_client, live_catalog, lease=timedelta(seconds=0.3))
    assert await other.process_pending() == 0  # the claim was renewed: nothing to take
    assert await working == 1
    assert _details_requests(fake_index, "acme-billing") == 1
