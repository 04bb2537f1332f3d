"""The whole index as the safety net: feed overflow, downtime, stale listings."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from tests.conftest import SettingsFactory, running
from tests.fakes.pypi import FakeIndex
from tests.fakes.slack import FakeSlack
from watcher.errors import StaleIndex
from watcher.matching.live import CatalogView, LiveCatalog, load_view
from watcher.pipeline import Pipeline
from watcher.pypi import IndexClient
from watcher.sources import CatalogSource, ListingSource
from watcher.sources.listing import ReconcileReport
from watcher.store import Database, findings
from watcher.store.base import utcnow
from watcher.store.models import IndexProject, IndexState, OutboxAlert


async def test_squat_lost_in_a_feed_overflow_is_alerted_once(
    make_settings: SettingsFactory, fake_index: FakeIndex, fake_slack: FakeSlack
) -> None:
    settings = make_settings(poll_interval=1.0, reconcile_interval=3600)
    fake_index.add_release("harmless", "1.0")
    async with running(settings):
        await asyncio.sleep(1.5)  # first poll and the start-up reconcile are done
        for n in range(500):
            fake_index.add_release(f"noise-{n}", "1.0")
        fake_index.add_release("acme_hidden", "0.1")  # a squat in the middle of a burst
        for n in range(500, 1000):
            fake_index.add_release(f"noise-{n}", "1.0")
        messages = await fake_slack.wait_for_messages(1, timeout=settings.poll_interval + 8)
        await asyncio.sleep(3)
    assert len(fake_slack.messages) == 1
    assert "acme_hidden" in messages[0]["text"] or "acme-hidden" in messages[0]["text"]


async def test_squats_that_appeared_while_down_are_alerted_once_each(
    make_settings: SettingsFactory, fake_index: FakeIndex, fake_slack: FakeSlack
) -> None:
    settings = make_settings(poll_interval=0.5, reconcile_interval=3600)
    async with running(settings):
        await asyncio.sleep(1.0)
    assert fake_slack.messages == []
    # While the daemon is down: squats, buried under more than a feed window of releases.
    for name in ("acme-one", "acrne-billing", "billing-acme"):
        fake_index.add_release(name, "1.0")
    for n in range(150):
        fake_index.add_release(f"later-{n}", "1.0")
    async with running(settings):
        await fake_slack.wait_for_messages(3, timeout=10)
        await asyncio.sleep(2)
    texts = sorted(m["text"] for m in fake_slack.messages)
    assert len(texts) == 3, texts
    assert "acme-one" in texts[0]
    assert "acrne-billing" in texts[1]
    assert "billing-acme" in texts[2]
    async with running(settings):
        await asyncio.sleep(1.5)
    assert len(fake_slack.messages) == 3


@dataclass
class Rig:
    """The reconcile and the catalog check against the fake index, as the daemon wires them."""

    db: Database
    index_client: IndexClient
    live: LiveCatalog
    pipeline: Pipeline
    listing: ListingSource
    catalog: CatalogSource

    @classmethod
    def build(cls, db: Database, index_client: IndexClient, view: CatalogView) -> Rig:
        live = LiveCatalog(view)
        pipeline = Pipeline(db, index_client, live)
        return cls(
            db=db,
            index_client=index_client,
            live=live,
            pipeline=pipeline,
            listing=ListingSource(db, index_client, live, pipeline.recorder),
            catalog=CatalogSource(db, index_client, live),
        )

    async def reconcile(self) -> tuple[ReconcileReport, int]:
        """One run of the reconcile job: the report and how many alerts it led to."""
        report = await self.listing.reconcile()
        return report, await self.pipeline.process_pending()

    async def check_catalog(self) -> tuple[int, int]:
        """Check new catalog entries: how many events that recorded, and how many alerts
        the pipeline then queued."""
        recorded = await self.catalog.check()
        return recorded, await self.pipeline.process_pending()


@pytest.fixture
def rig(db: Database, index_client: IndexClient, catalog_file: Path) -> Rig:
    return Rig.build(db, index_client, load_view(catalog_file, utcnow()))


async def test_stale_listing_is_not_applied_and_the_next_fresh_one_is(
    rig: Rig, db: Database, fake_index: FakeIndex
) -> None:
    fake_index.add_release("first", "1.0")
    report, _ = await rig.reconcile()
    assert report.new == 1
    async with db.transaction() as session:
        state = await session.get(IndexState, 1)
        assert state is not None
        applied = state.serial
    fake_index.add_release("acme-late", "1.0")
    fake_index.stale_serial = 0  # a cache serving an older listing
    with pytest.raises(StaleIndex):
        await rig.listing.reconcile()
    async with db.transaction() as session:
        state = await session.get(IndexState, 1)
        assert state is not None
        assert state.serial == applied
        count = await session.scalar(select(func.count()).select_from(IndexProject))
        assert count == 1
    fake_index.stale_serial = None
    report, _ = await rig.reconcile()
    assert (report.new, report.matched) == (1, 1)


async def test_unchanged_index_answers_304_and_removed_names_are_marked(
    rig: Rig, db: Database, fake_index: FakeIndex
) -> None:
    fake_index.add_release("keep", "1.0")
    fake_index.add_release("gone", "1.0")
    await rig.reconcile()
    report, _ = await rig.reconcile()
    assert report.not_modified
    fake_index.remove_project("gone")
    report, _ = await rig.reconcile()
    assert (report.new, report.changed, report.removed) == (0, 0, 1)
    async with db.transaction() as session:
        gone = await session.get(IndexProject, "gone")
        assert gone is not None
        assert gone.removed_at is not None


async def test_removed_squat_resolves_its_finding_and_a_return_reopens_it(
    rig: Rig, db: Database, fake_index: FakeIndex
) -> None:
    fake_index.add_release("acme-gone", "1.0")
    assert (await rig.reconcile())[1] == 1

    fake_index.remove_project("acme-gone")
    report, _ = await rig.reconcile()
    assert (report.removed, report.resolved) == (1, 1)
    async with db.transaction() as session:
        rows = await findings.findings_for(session, "acme-gone")
        assert {f.status for f in rows} == {"resolved"}
        notes = (
            (
                await session.execute(
                    select(OutboxAlert.payload).where(OutboxAlert.event_key.like("removed:%"))
                )
            )
            .scalars()
            .all()
        )
    assert len(notes) == 1
    assert notes[0]["text"].startswith("Removed from PyPI: acme-gone is gone")

    # Gone again on the next listing: nothing more to resolve, no second note.
    assert (await rig.reconcile())[0].resolved == 0

    fake_index.add_release("acme-gone", "2.0")
    _, alerts = await rig.reconcile()
    assert alerts == 1
    async with db.transaction() as session:
        rows = await findings.findings_for(session, "acme-gone")
        assert {f.status for f in rows} == {"open"}
        back = (
            (
                await session.execute(
                    select(OutboxAlert.payload).where(OutboxAlert.event_key.like("reopened:%"))
                )
            )
            .scalars()
            .all()
        )
    assert len(back) == 1
    assert back[0]["text"].startswith("Squat back on PyPI: acme-gone 2.0")


async def test_a_prefix_added_to_the_catalog_is_matched_against_stored_names_at_once(
    rig: Rig, db: Database, index_client: IndexClient, fake_index: FakeIndex, tmp_path: Path
) -> None:
    fake_index.add_release("globex-thing", "1.0")
    await rig.check_catalog()
    assert (await rig.reconcile())[0].matched == 0

    # A restart with a bigger catalog.
    bigger = tmp_path / "bigger.toml"
    bigger.write_text('names = ["acme-billing"]\nprefixes = ["acme", "globex"]\n')
    later = Rig.build(db, index_client, load_view(bigger, utcnow()))
    seen = len(fake_index.requests)
    assert await later.check_catalog() == (1, 1)
    async with db.transaction() as session:
        rows = await findings.findings_for(session, "globex-thing")
    assert [(f.internal_name, f.kind) for f in rows] == [("globex", "prefix")]
    # Matched from the stored listing: the whole index was not fetched again.
    assert "/simple/" not in [r.path for r in fake_index.requests[seen:]]
    # And only once: the entry is now checked.
    assert await later.check_catalog() == (0, 0)


async def test_a_listing_with_two_spellings_of_one_name_is_applied_once(
    rig: Rig, db: Database, fake_index: FakeIndex
) -> None:
    # The index never lists one canonical name twice; a broken mirror might, and that
    # must not make every reconcile fail.
    body = (
        b'{"meta":{"_last-serial":9,"api-version":"1.4"},"projects":['
        b'{"_last-serial":3,"name":"Acme.Dup"},{"_last-serial":7,"name":"acme_dup"},'
        b'{"_last-serial":5,"name":"other"}]}'
    )
    fake_index.set_body("/simple/", body, content_type="application/vnd.pypi.simple.v1+json")
    report, alerts = await rig.reconcile()
    assert (report.new, report.matched, alerts) == (2, 1, 1)
    async with db.transaction() as session:
        rows = (await session.execute(select(IndexProject))).scalars().all()
    assert sorted((r.normalized_name, r.last_serial) for r in rows) == [
        ("acme-dup", 7),
        ("other", 5),
    ]


async def test_status_shows_each_source_and_counts_feed_gaps(
    make_settings: SettingsFactory,
    fake_index: FakeIndex,
    fake_slack: FakeSlack,
    http: aiohttp.ClientSession,
) -> None:
    settings = make_settings(
        poll_interval=0.5, reconcile_interval=3600, journal=True, journal_interval=0.5
    )
    fake_index.add_release("harmless", "1.0")  # the feeds' newest item before the burst
    async with running(settings) as service:
        url = f"http://127.0.0.1:{service.port}/v1/status"
        await asyncio.sleep(1.0)
        for n in range(150):  # more than the updates feed's 100 items between two polls
            fake_index.add_release(f"burst-{n}", "1.0")
        fake_index.add_release("acme-burst", "1.0")
        await fake_slack.wait_for_messages(1, timeout=8)
        await asyncio.sleep(1.5)  # the reconcile the gap triggered, and the log, catch up
        async with http.get(url) as resp:
            assert resp.status == 200
            status = await resp.json()
    assert status["feeds"]["updates"]["gaps"] == 1
    assert status["feeds"]["packages"]["gaps"] == 1
    assert status["index"]["serial"] == fake_index.serial
    assert status["index"]["projects"] == 152
    assert status["journal"]["serial"] == fake_index.serial
    assert status["journal"]["failures"] == 0
    assert status["pending_index_events"] == 0
    assert status["findings"] == {"open": 1}
    assert status["alerts"] == {"sent": 1}
    assert len(fake_slack.messages) == 1
