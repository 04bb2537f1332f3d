"""One bad listing must not disable the reconcile, nor announce a live squat as removed
(issue 10, failures 3, 4 and 9)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from tests.conftest import SettingsFactory, running
from tests.fakes.pypi import FakeIndex
from tests.support import until
from watcher.errors import AnswerRefused, ListingNotRefreshed
from watcher.matching.live import LiveCatalog, load_view
from watcher.pipeline import Pipeline
from watcher.pypi import IndexClient
from watcher.simulator.documents import simple_index_json
from watcher.sources import ListingSource
from watcher.sources.listing import GAP_PATIENCE, ReconcileReport
from watcher.store import Database
from watcher.store.listing import ListingState, get_state
from watcher.store.models import IndexProject, OutboxAlert

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class Rig:
    """The reconcile as the daemon wires it, on a clock the test moves."""

    def __init__(self, db: Database, client: IndexClient, catalog_file: Path) -> None:
        self.db = db
        self.clock = Clock()
        live = LiveCatalog(load_view(catalog_file, self.clock()))
        self.pipeline = Pipeline(db, client, live, clock=self.clock)
        self.listing = ListingSource(db, client, live, self.pipeline.recorder, clock=self.clock)

    async def reconcile(self) -> tuple[ReconcileReport, int]:
        """One run of the reconcile job: the report and how many alerts it led to."""
        report = await self.listing.reconcile()
        return report, await self.pipeline.process_pending()

    async def state(self) -> ListingState:
        async with self.db.transaction() as session:
            state = await get_state(session)
        assert state is not None
        return state

    async def alerts(self, prefix: str) -> list[str]:
        async with self.db.transaction() as session:
            rows = await session.execute(
                select(OutboxAlert.event_key).where(OutboxAlert.event_key.like(prefix + "%"))
            )
            return list(rows.scalars())


@pytest.fixture
async def rig(db: Database, fake_index: FakeIndex, catalog_file: Path) -> AsyncIterator[Rig]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield Rig(db, IndexClient(session, fake_index.base_url, retries=0), catalog_file)


def _serve(fake_index: FakeIndex, serial: int, entries: list[tuple[str, str, int]]) -> None:
    fake_index.set_body("/simple/", simple_index_json(serial, entries), SIMPLE_JSON)


@pytest.mark.parametrize("newest_too", [False, True])
async def test_a_listing_claiming_a_far_serial_is_refused_and_true_ones_still_apply(
    rig: Rig, fake_index: FakeIndex, newest_too: bool
) -> None:
    fake_index.add_release("first", "1.0")
    await rig.reconcile()
    applied = (await rig.state()).serial
    rig.clock.now += timedelta(hours=1)
    _, entries = fake_index.listing()
    if newest_too:  # consistent within itself: only other answers can tell
        entries = [*entries[:-1], (*entries[-1][:2], 10**12)]
    _serve(fake_index, 10**12, entries)
    with pytest.raises(AnswerRefused, match="claims serial 1000000000000"):
        await rig.reconcile()
    assert (await rig.state()).serial == applied  # never stored

    fake_index.set_body("/simple/", None)
    fake_index.add_release("acme-late", "1.0")
    report, alerts = await rig.reconcile()
    assert (report.new, report.matched, alerts) == (1, 1, 1)
    assert (await rig.state()).serial == fake_index.serial


async def test_a_first_listing_contradicted_by_its_newest_project_is_refused(
    rig: Rig, fake_index: FakeIndex
) -> None:
    fake_index.add_release("first", "1.0")
    _, entries = fake_index.listing()
    _serve(fake_index, 10**12, [(*entries[0][:2], 10**12)])
    with pytest.raises(AnswerRefused, match="newest project's JSON says serial 4"):
        await rig.reconcile()
    fake_index.set_body("/simple/", None)
    assert (await rig.reconcile())[0].new == 1


async def test_a_listing_of_many_unknown_names_is_refused_and_the_true_one_applies(
    rig: Rig, db: Database, fake_index: FakeIndex
) -> None:
    for name in ("first", "second", "third"):
        fake_index.add_release(name, "1.0")
    await rig.reconcile()
    applied = await rig.state()
    _, entries = fake_index.listing()
    bogus = [(f"bogus-{n}", f"bogus-{n}", 1) for n in range(5_000)]
    _serve(fake_index, fake_index.serial + 1, sorted(entries + bogus))
    with pytest.raises(AnswerRefused, match="adds 5000 names"):
        await rig.reconcile()
    assert await rig.state() == applied

    fake_index.set_body("/simple/", None)
    fake_index.add_release("acme-new", "1.0")
    report, alerts = await rig.reconcile()  # not "would remove 5,000": it never came in
    assert (report.new, report.removed, alerts) == (1, 0, 1)


async def test_a_listing_missing_a_live_squat_does_not_announce_it_removed(
    rig: Rig, db: Database, fake_index: FakeIndex, caplog: pytest.LogCaptureFixture
) -> None:
    fake_index.add_release("acme-live", "1.0")
    fake_index.add_release("harmless", "1.0")
    assert (await rig.reconcile())[1] == 1
    fake_index.add_release("other", "1.0")
    _, entries = fake_index.listing()
    # Complete and well-formed, but without the squat (a mirror or cache that lost it).
    _serve(fake_index, fake_index.serial, [e for e in entries if e[0] != "acme-live"])
    report, alerts = await rig.reconcile()
    assert (report.new, report.removed, report.resolved, alerts) == (1, 0, 0, 0)
    assert "kept: acme-live" in caplog.text
    async with db.transaction() as session:
        live = await session.get(IndexProject, "acme-live")
        assert live is not None
        assert live.removed_at is None
    fake_index.set_body("/simple/", None)
    fake_index.add_release("more", "1.0")
    await rig.reconcile()
    assert await rig.alerts("removed:") == []
    assert await rig.alerts("reopened:") == []

    # A real removal: the project's page answers 404, so it is announced.
    fake_index.remove_project("acme-live")
    report, _ = await rig.reconcile()
    assert (report.removed, report.resolved) == (1, 1)
    assert len(await rig.alerts("removed:")) == 1


async def test_an_unchanged_listing_after_a_feed_gap_is_refused_until_a_fresh_one(
    rig: Rig, fake_index: FakeIndex, caplog: pytest.LogCaptureFixture
) -> None:
    fake_index.add_release("first", "1.0")
    await rig.reconcile()
    fake_index.freeze_listing()  # a cache keeps serving the listing already applied
    fake_index.add_release("acme-lost", "1.0")
    assert (await rig.reconcile())[0].not_modified  # no gap seen: nothing is known missing
    rig.listing.expect_newer()
    with pytest.raises(ListingNotRefreshed, match="retried in 120 s") as refused:
        await rig.reconcile()
    assert refused.value.retry_in == 120
    fake_index.thaw_listing()
    report, alerts = await rig.reconcile()
    assert (report.new, alerts) == (1, 1)
    assert (await rig.reconcile())[0].not_modified  # satisfied: unchanged is fine again

    # A gap whose changes never show up: after GAP_PATIENCE the demand lapses, loudly.
    fake_index.freeze_listing()
    rig.listing.expect_newer()
    with pytest.raises(ListingNotRefreshed):
        await rig.reconcile()
    rig.clock.now += GAP_PATIENCE
    caplog.set_level(logging.WARNING)
    assert (await rig.reconcile())[0].not_modified
    assert "minutes after a feed gap" in caplog.text


async def test_the_daemon_says_a_gap_reconcile_got_a_cached_listing_and_retries_soon(
    make_settings: SettingsFactory, fake_index: FakeIndex, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    settings = make_settings(poll_interval=0.3, reconcile_interval=3600)
    fake_index.add_release("harmless", "1.0")
    async with running(settings) as service:
        health = service.sources()

        async def reconciled() -> bool:
            return health["reconcile"].last_success is not None

        async def refused() -> bool:
            return health["reconcile"].failures > 0

        await until(reconciled, 5, "the start-up reconcile")
        fake_index.freeze_listing()
        for n in range(150):  # more than a feed window between two polls: a gap
            fake_index.add_release(f"burst-{n}", "1.0")
        await until(refused, 5, "the gap's reconcile to fail")
        reconcile = health["reconcile"]
        assert reconcile.last_error is not None
        assert "feed gap: the index has changed" in reconcile.last_error
        assert service.jobs is not None
        job = service.jobs.scheduler.get_job("reconcile")
        assert job is not None
        # Retried in about two minutes, not at the next scheduled reconcile in an hour.
        wait = (job.next_run_time - datetime.now(UTC)).total_seconds()
        assert 60 < wait < 130
    assert "whole-index reconcile failed" in caplog.text
    assert "feed gap: the index has changed" in caplog.text
