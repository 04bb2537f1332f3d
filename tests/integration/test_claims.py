"""Claims: the feed poll, the reconcile and the change log work the same pending events at
once, and each event is processed by one of them (details fetched once, alerted once)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.conftest import SettingsFactory
from tests.fakes.pypi import FakeIndex
from tests.support import new_event
from watcher.alerts import Dispatcher
from watcher.config import Settings
from watcher.jobs import Jobs
from watcher.matching.live import LiveCatalog, load_view
from watcher.pipeline import Pipeline
from watcher.pypi import open_index_client
from watcher.sources import CatalogSource, FeedSource, JournalSource, ListingSource
from watcher.store import Database, events, outbox
from watcher.store.base import utcnow
from watcher.store.events import NewEvent
from watcher.store.models import EventKind, EventSource, FeedState, IndexEvent, OutboxAlert

SQUATS = ("acme-alpha", "acme-beta", "acme-gamma", "acme-delta", "payments.core")


def _norm(name: str) -> str:
    return name.lower().replace(".", "-").replace("_", "-")


def details_requests(fake_index: FakeIndex, *, since: int = 0) -> Counter[str]:
    """How often each project's JSON-API details were asked for (by canonical name)."""
    counts: Counter[str] = Counter()
    for request in fake_index.requests[since:]:
        parts = request.path.strip("/").split("/")
        if request.method == "GET" and len(parts) == 3 and parts[::2] == ["pypi", "json"]:
            counts[parts[1]] += 1
    return counts


async def pending(db: Database) -> int:
    async with db.transaction() as session:
        return await events.pending_count(session)


async def event_sources(db: Database) -> dict[str, set[str]]:
    """The sources of the pending events, per project."""
    async with db.transaction() as session:
        rows = await session.execute(select(IndexEvent.normalized_name, IndexEvent.source))
    found: dict[str, set[str]] = {}
    for name, source in rows:
        found.setdefault(name, set()).add(source or EventSource.INDEX)
    return found


async def outbox_keys(db: Database) -> list[tuple[str, str]]:
    """The alerts queued (not the first start's baseline summary, gathered meanwhile)."""
    async with db.transaction() as session:
        rows = await session.execute(
            select(OutboxAlert.public_name, OutboxAlert.event_key)
            .where(OutboxAlert.event_key != outbox.BASELINE_KEY)
            .order_by(OutboxAlert.id)
        )
    return [(str(name), str(key)) for name, key in rows]


@dataclass
class Rig:
    jobs: Jobs
    feeds: FeedSource
    listing: ListingSource
    journal: JournalSource
    catalog: CatalogSource


@asynccontextmanager
async def wired(settings: Settings, db: Database) -> AsyncIterator[Rig]:
    """The daemon's jobs wired as :class:`watcher.app.Service` wires them (one pipeline,
    every source), without the scheduler: the test calls the jobs."""
    async with AsyncExitStack() as stack:
        client = await stack.enter_async_context(open_index_client(settings.index))
        live = LiveCatalog(load_view(settings.catalog_path, utcnow()))
        pipeline = Pipeline(db, client, live)
        catalog = CatalogSource(db, client, live, path=settings.catalog_path)
        await catalog.record_loaded()
        feeds = FeedSource(db, client, live)
        listing = ListingSource(db, client, live, pipeline.recorder)
        journal = JournalSource(db, client, live, pipeline.recorder)
        jobs = Jobs(
            pipeline,
            Dispatcher(db, None),
            settings.schedule,
            feeds=feeds,
            listing=listing,
            catalog=catalog,
            journal=journal,
        )
        yield Rig(jobs, feeds, listing, journal, catalog)


async def test_poll_reconcile_and_change_log_at_once_fetch_each_projects_details_once(
    make_settings: SettingsFactory, fake_index: FakeIndex, db: Database
) -> None:
    settings = make_settings(journal=True)
    fake_index.add_release("harmless", "1.0")
    async with wired(settings, db) as rig:
        # The change log's cursor starts here (no listing yet: at the log's head).
        await rig.journal.poll()
        for name in SQUATS:
            fake_index.add_release(name, "1.0")
        fake_index.add_release("unrelated", "2.0")

        # Every source sees the squats and records events, nothing is processed yet.
        await rig.feeds.poll()
        await rig.listing.reconcile()
        await rig.journal.poll()  # covered by the listing: it records nothing more here
        await rig.catalog.check()  # the first-start check: catalog names vs stored listing
        # Each squat is also in the change log (same serials as in the listing): its
        # events there, as a follower that ran before the reconcile would have recorded.
        async with db.transaction() as session:
            await events.add_events(
                session,
                [
                    NewEvent(
                        normalized_name=_norm(name),
                        name=name,
                        event=EventKind.NEW,
                        source=EventSource.JOURNAL,
                        serial=fake_index.serial,
                    )
                    for name in SQUATS
                ],
                utcnow(),
            )
        sources = await event_sources(db)
        assert set(sources) == {_norm(n) for n in SQUATS}
        for name, seen in sources.items():
            # In the feeds, the listing and the change log: several pending events each.
            assert {EventSource.FEED_UPDATES, EventSource.INDEX, EventSource.JOURNAL} <= seen, (
                name,
                seen,
            )
        assert details_requests(fake_index) == Counter()
        before = len(fake_index.requests)

        results = await asyncio.gather(
            rig.jobs.poll(),
            rig.jobs.reconcile(),
            rig.jobs.follow_journal(),
            return_exceptions=True,
        )
        failed = {
            job: repr(result)
            for job, result in zip(("poll", "reconcile", "follow_journal"), results, strict=True)
            if isinstance(result, BaseException)
        }
        assert not failed, f"jobs failed while running at once: {failed}"

    fetched = details_requests(fake_index, since=before)
    assert fetched == Counter({_norm(n): 1 for n in SQUATS})
    assert await pending(db) == 0
    alerts = await outbox_keys(db)
    assert sorted(name for name, _ in alerts) == sorted(_norm(n) for n in SQUATS), alerts
    assert all(key.startswith("new:") for _, key in alerts), alerts


def _workers(fake_index: FakeIndex, since: int, agents: Iterable[str]) -> Counter[str]:
    wanted = set(agents)
    return Counter(
        r.headers.get("User-Agent", "")
        for r in fake_index.requests[since:]
        if r.path.startswith("/pypi/") and r.headers.get("User-Agent") in wanted
    )


async def _fifty_events(db: Database, fake_index: FakeIndex) -> list[str]:
    names = [f"acme-claim-{n:02d}" for n in range(50)]
    for name in names:
        fake_index.add_release(name, "1.0")
    async with db.transaction() as session:
        await events.add_events(
            session,
            [
                NewEvent(
                    normalized_name=name,
                    name=name,
                    event=EventKind.NEW,
                    source=EventSource.INDEX,
                    serial=fake_index.serial,
                )
                for name in names
            ],
            utcnow(),
        )
    return names


async def _drain(pipeline: Pipeline, db: Database, limit: int) -> None:
    """Process in claims of ``limit`` events until nothing is left (also not held by the
    other worker)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:
        await pipeline.process_pending(limit=limit)
        if await pending(db) == 0:
            return
        assert loop.time() < deadline, "events never finished"
        await asyncio.sleep(0.01)


async def _two_pipelines_over_fifty_events(
    make_settings: SettingsFactory, fake_index: FakeIndex, db: Database, limit: int
) -> Counter[str]:
    settings = make_settings()
    live = LiveCatalog(load_view(settings.catalog_path, utcnow()))
    names = await _fifty_events(db, fake_index)
    agents = ("worker-a", "worker-b")
    before = len(fake_index.requests)
    async with AsyncExitStack() as stack:
        pipelines = []
        for agent in agents:
            index = replace(settings.index, user_agent=agent)
            client = await stack.enter_async_context(open_index_client(index))
            pipelines.append(Pipeline(db, client, live))
        await asyncio.gather(*(_drain(p, db, limit) for p in pipelines))

    assert details_requests(fake_index, since=before) == Counter(dict.fromkeys(names, 1))
    assert await pending(db) == 0
    alerts = await outbox_keys(db)
    assert sorted(name for name, _ in alerts) == names
    return _workers(fake_index, before, agents)


async def test_two_pipelines_fetch_each_projects_details_once(
    make_settings: SettingsFactory, fake_index: FakeIndex, db: Database
) -> None:
    await _two_pipelines_over_fifty_events(make_settings, fake_index, db, limit=500)


async def test_two_pipelines_in_small_claims_share_the_work_and_fetch_once(
    make_settings: SettingsFactory, fake_index: FakeIndex, db: Database
) -> None:
    # Claims of five events: the two workers take turns over the same queue.
    workers = await _two_pipelines_over_fifty_events(make_settings, fake_index, db, limit=5)
    assert sum(workers.values()) == 50
    assert set(workers) == {"worker-a", "worker-b"}, workers


async def test_every_poll_processes_waiting_events_even_when_the_feeds_fail(
    make_settings: SettingsFactory, fake_index: FakeIndex, db: Database
) -> None:
    # An event a dead process left behind (its lease long over), and a poll whose feed
    # source fails with something unexpected (here a corrupt stored cursor): the event is
    # still processed by this poll, not left for the next reconcile half an hour later.
    fake_index.add_release("acme-left", "1.0")
    long_ago = utcnow() - timedelta(hours=1)
    async with db.write() as session:
        await events.add_events(session, [new_event("acme-left")], long_ago)
        await events.claim_events(session, "dead-worker", long_ago, timedelta(seconds=15), 10)
        session.add(FeedState(feed="updates", seen_keys=5, gaps=0))  # not a list of keys
    async with wired(make_settings(), db) as rig:
        with pytest.raises(TypeError):
            await rig.jobs.poll()
    assert [name for name, _ in await outbox_keys(db)] == ["acme-left"]
    assert await pending(db) == 0
