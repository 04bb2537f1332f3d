"""The opt-in change log: create, removal and role-change rows through the same pipeline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from tests.conftest import SettingsFactory, running
from tests.fakes.pypi import FakeIndex, billion_laughs_feed
from tests.fakes.slack import FakeSlack
from watcher.errors import BadResponse
from watcher.matching.live import LiveCatalog, load_view
from watcher.pipeline import Pipeline
from watcher.pypi import IndexClient
from watcher.sources import FeedSource, JournalSource, ListingSource
from watcher.sources.journal import JournalReport
from watcher.sources.listing import ReconcileReport
from watcher.store import Database, findings, history
from watcher.store.models import IndexProject, JournalState, OutboxAlert


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Rig:
    pipeline: Pipeline
    journal: JournalSource
    listing: ListingSource
    feeds: FeedSource
    live: LiveCatalog
    clock: Clock
    db: Database
    client: IndexClient

    def journal_source(self, *, page_rows: int) -> JournalSource:
        """Another follower of the same log, reading pages of ``page_rows`` rows."""
        return JournalSource(
            self.db,
            self.client,
            self.live,
            self.pipeline.recorder,
            page_rows=page_rows,
            clock=self.clock,
        )

    async def follow(self, journal: JournalSource | None = None) -> tuple[JournalReport, int]:
        """One run of the change-log job: read the log, then turn the events it recorded
        into alerts; the report and how many alerts the pipeline queued."""
        report = await (journal or self.journal).poll()
        return report, await self.pipeline.process_pending()

    async def reconcile(self) -> tuple[ReconcileReport, int]:
        """One run of the reconcile job: the report and how many alerts it led to."""
        report = await self.listing.reconcile()
        return report, await self.pipeline.process_pending()

    async def poll_feeds(self) -> int:
        """One feed poll with its events processed; how many alerts it queued."""
        await self.feeds.poll()
        return await self.pipeline.process_pending()


@pytest.fixture
async def rig(db: Database, fake_index: FakeIndex, catalog_file: Path) -> AsyncIterator[Rig]:
    clock = Clock()
    live = LiveCatalog(load_view(catalog_file, clock()))
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        client = IndexClient(session, fake_index.base_url, retries=0)
        pipeline = Pipeline(db, client, live, clock=clock)
        yield Rig(
            pipeline=pipeline,
            journal=JournalSource(db, client, live, pipeline.recorder, page_rows=50, clock=clock),
            listing=ListingSource(db, client, live, pipeline.recorder, clock=clock),
            feeds=FeedSource(db, client, live, clock=clock),
            live=live,
            clock=clock,
            db=db,
            client=client,
        )


async def _alerts(db: Database, prefix: str) -> list[dict[str, Any]]:
    async with db.transaction() as session:
        rows = await session.execute(
            select(OutboxAlert.payload)
            .where(OutboxAlert.event_key.like(prefix + "%"))
            .order_by(OutboxAlert.id)
        )
        return list(rows.scalars())


async def _cursor(db: Database) -> JournalState | None:
    async with db.transaction() as session:
        return await session.get(JournalState, 1)


async def test_create_owner_change_remove_and_return_drive_the_pipeline(
    rig: Rig, fake_index: FakeIndex
) -> None:
    fake_index.add_release("harmless", "1.0")
    first, alerts = await rig.follow()
    # A first run starts at the log's newest serial: the reconcile covers what came before.
    assert (first.rows, alerts) == (0, 0)
    state = await _cursor(rig.db)
    assert state is not None
    assert state.serial == fake_index.serial

    fake_index.add_release("acme-evil", "1.0", owners=("squatter",))
    report, alerts = await rig.follow()
    assert (report.matched, alerts) == (1, 1)
    [new] = await _alerts(rig.db, "new:acme-evil")
    assert new["source"] == "journal"
    assert new["text"].startswith("Possible squat on PyPI: acme-evil 1.0 collides with")

    fake_index.set_owners("acme-evil", ["squatter", "mallory"])
    report, alerts = await rig.follow()
    assert alerts == 1
    [owner] = await _alerts(rig.db, "owner:acme-evil")
    assert owner["event"] == "owner"
    assert owner["change"] == "add Owner mallory"
    assert owner["text"].startswith(
        "Ownership changed on a reported squat on PyPI: acme-evil 1.0 (add Owner mallory)"
    )
    assert owner["owners"] == ["squatter", "mallory"]
    async with rig.db.transaction() as session:
        assert len(await findings.findings_for(session, "acme-evil")) == 1  # no new finding

    # A new release (seen only in the log here) is one update, not a new finding.
    fake_index.add_release("acme-evil", "2.0")
    assert (await rig.follow())[1] == 1
    [release] = await _alerts(rig.db, "release:acme-evil")
    assert release["text"].startswith("New release of a reported squat on PyPI: acme-evil 2.0")
    async with rig.db.transaction() as session:
        releases = await history.project_history(session, "acme-evil")
    assert [r.version for r in releases] == ["1.0", "2.0"]
    assert {r.source for r in releases} == {"journal"}

    fake_index.remove_project("acme-evil")
    report, _ = await rig.follow()
    assert (report.removed, report.resolved) == (1, 1)
    [removed] = await _alerts(rig.db, "removed:acme-evil")
    assert removed["text"].startswith("Removed from PyPI: acme-evil is gone")
    async with rig.db.transaction() as session:
        assert {f.status for f in await findings.findings_for(session, "acme-evil")} == {"resolved"}
        stored = await session.get(IndexProject, "acme-evil")
        assert stored is not None
        assert stored.removed_at is not None

    fake_index.add_release("acme-evil", "6.6.6")
    assert (await rig.follow())[1] == 1
    [back] = await _alerts(rig.db, "reopened:acme-evil")
    assert back["text"].startswith("Squat back on PyPI: acme-evil 6.6.6")

    # Nothing was counted twice, and a poll with nothing new does nothing.
    report, alerts = await rig.follow()
    assert (report.rows, alerts) == (0, 0)
    assert len(await _alerts(rig.db, "")) == 5


async def test_the_reconcile_does_not_repeat_or_undo_what_the_log_did(
    rig: Rig, fake_index: FakeIndex
) -> None:
    fake_index.add_release("acme-one", "1.0")
    assert (await rig.reconcile())[1] == 1
    await rig.follow()  # starts at the listing's serial
    fake_index.add_release("noise", "1.0")
    fake_index.freeze_listing()  # a cache keeps this listing while the index moves on

    fake_index.add_release("acme-two", "1.0")
    fake_index.remove_project("acme-one")
    report, new_alerts = await rig.follow()
    assert (new_alerts, report.resolved) == (1, 1)
    alerts = len(await _alerts(rig.db, ""))

    # The cached listing is newer than the one applied, so it is not refused as stale; it
    # still shows acme-one (removed since) and not acme-two (created since). Applying it
    # must neither bring acme-one back nor remove acme-two.
    cached, cached_alerts = await rig.reconcile()
    # (noise is not new either: the log already stored it.)
    assert (cached.new, cached.removed, cached.matched, cached.resolved) == (0, 0, 0, 0)
    assert cached_alerts == 0
    async with rig.db.transaction() as session:
        one = await session.get(IndexProject, "acme-one")
        two = await session.get(IndexProject, "acme-two")
        assert one is not None
        assert one.removed_at is not None
        assert two is not None
        assert two.removed_at is None
        assert {f.status for f in await findings.findings_for(session, "acme-one")} == {"resolved"}

    # The fresh listing agrees with the log: nothing left to report.
    fake_index.thaw_listing()
    fresh, fresh_alerts = await rig.reconcile()
    assert (fresh.new, fresh.removed, fresh.matched, fresh_alerts) == (0, 0, 0, 0)
    assert len(await _alerts(rig.db, "")) == alerts


async def test_a_rate_limit_fault_backs_off_and_keeps_the_cursor(
    rig: Rig, fake_index: FakeIndex
) -> None:
    await rig.follow()
    state = await _cursor(rig.db)
    assert state is not None
    start = state.serial

    fake_index.add_release("acme-late", "1.0")
    fake_index.rate_limit_journal(2)
    report, _ = await rig.follow()
    assert report.rate_limited
    state = await _cursor(rig.db)
    assert state is not None
    assert (state.serial, state.failures) == (start, 1)
    assert state.retry_at == rig.clock.now + timedelta(seconds=60)
    assert "HTTPTooManyRequests" in (state.last_error or "")

    # While backing off, the index is not asked at all.
    calls = len([r for r in fake_index.requests if r.method == "POST"])
    assert (await rig.follow())[0].backing_off
    assert len([r for r in fake_index.requests if r.method == "POST"]) == calls

    # The second fault in a row doubles the wait.
    rig.clock.now += timedelta(seconds=61)
    assert (await rig.follow())[0].rate_limited
    state = await _cursor(rig.db)
    assert state is not None
    assert (state.serial, state.failures) == (start, 2)
    assert state.retry_at == rig.clock.now + timedelta(seconds=120)

    rig.clock.now += timedelta(seconds=121)
    _, alerts = await rig.follow()
    assert alerts == 1
    state = await _cursor(rig.db)
    assert state is not None
    assert (state.serial, state.failures, state.retry_at) == (fake_index.serial, 0, None)
    assert len(await _alerts(rig.db, "new:acme-late")) == 1


async def test_a_long_log_is_read_page_by_page(rig: Rig, fake_index: FakeIndex) -> None:
    await rig.follow()
    fake_index.journal_page = 50  # the follower was built with page_rows=50
    for n in range(60):
        fake_index.add_release(f"noise-{n}", "1.0")  # 4 rows each: 240 rows
    fake_index.add_release("acme-deep", "1.0")
    report, alerts = await rig.follow()
    assert report.rows == 244
    assert report.pages == 5
    assert alerts == 1
    async with rig.db.transaction() as session:
        count = len((await session.execute(select(IndexProject.normalized_name))).all())
    assert count == 61


async def test_a_hostile_answer_is_refused_and_the_cursor_kept(
    rig: Rig, fake_index: FakeIndex
) -> None:
    await rig.follow()
    state = await _cursor(rig.db)
    assert state is not None
    fake_index.add_release("acme-later", "1.0")
    fake_index.set_body("/pypi", billion_laughs_feed(), content_type="text/xml")
    with pytest.raises(BadResponse):
        await rig.journal.poll()
    after = await _cursor(rig.db)
    assert after is not None
    assert after.serial == state.serial
    fake_index.set_body("/pypi", None)
    assert (await rig.follow())[1] == 1


async def test_daemon_posts_owner_changes_and_removals_seen_only_in_the_log(
    make_settings: SettingsFactory, fake_index: FakeIndex, fake_slack: FakeSlack
) -> None:
    settings = make_settings(
        poll_interval=0.5, reconcile_interval=3600, journal=True, journal_interval=0.5
    )
    async with running(settings):
        await asyncio.sleep(1.0)
        fake_index.add_release("acme-squat", "1.0")
        await fake_slack.wait_for_messages(1, timeout=5)
        # Neither feed shows a role change or a removal; only the change log does.
        fake_index.set_owners("acme-squat", ["someone", "mallory"])
        await fake_slack.wait_for_messages(2, timeout=5)
        fake_index.remove_project("acme-squat")
        messages = await fake_slack.wait_for_messages(3, timeout=5)
        await asyncio.sleep(1.5)
    assert len(fake_slack.messages) == 3
    assert "Possible squat on PyPI: acme-squat 1.0" in messages[0]["text"]
    assert "(add Owner mallory)" in messages[1]["text"]
    assert messages[2]["text"].startswith("Removed from PyPI: acme-squat is gone")


async def test_a_log_lagging_behind_the_listing_does_not_undo_it(
    rig: Rig, fake_index: FakeIndex
) -> None:
    await rig.follow()  # cursor at the start
    fake_index.add_release("acme-phoenix", "1.0")
    fake_index.remove_project("acme-phoenix")
    removal = fake_index.serial
    fake_index.add_release("acme-phoenix", "2.0")  # re-created before anyone looked
    assert (await rig.reconcile())[1] == 1
    alerts = len(await _alerts(rig.db, ""))

    # The log now delivers history the listing already covers, cut right after the
    # removal: that removal is older than what is stored and must not resolve anything.
    state = await _cursor(rig.db)
    assert state is not None
    fake_index.journal_page = removal - state.serial
    report, _ = await rig.follow()
    assert report.serial == removal
    assert (report.removed, report.resolved, report.matched) == (0, 0, 0)
    fake_index.journal_page = 50
    report, new_alerts = await rig.follow()
    assert report.serial == fake_index.serial
    assert (report.matched, new_alerts) == (0, 0)
    async with rig.db.transaction() as session:
        assert {f.status for f in await findings.findings_for(session, "acme-phoenix")} == {"open"}
        stored = await session.get(IndexProject, "acme-phoenix")
        assert stored is not None
        assert stored.removed_at is None
    assert len(await _alerts(rig.db, "")) == alerts


async def test_pages_read_before_a_rate_limit_fault_are_kept_and_alerted(
    rig: Rig, db: Database, fake_index: FakeIndex
) -> None:
    journal = rig.journal_source(page_rows=5)
    await rig.follow(journal)
    fake_index.add_release("acme-first", "1.0")  # rows 1-4
    fake_index.add_release("noise", "1.0")  # rows 5-8
    fake_index.add_release("acme-second", "1.0")  # rows 9-12
    fake_index.journal_page = 5
    fake_index.rate_limit_journal(1, after=1)  # the second page is refused
    report, alerts = await rig.follow(journal)
    assert report.rate_limited
    assert (report.pages, report.rows, alerts) == (1, 5, 1)
    assert len(await _alerts(db, "new:acme-first")) == 1
    state = await _cursor(db)
    assert state is not None
    assert (state.serial, state.failures) == (report.serial, 1)

    rig.clock.now += timedelta(seconds=61)
    report, alerts = await rig.follow(journal)
    assert (report.rows, alerts) == (7, 1)
    assert len(await _alerts(db, "new:acme-second")) == 1


async def test_a_role_change_a_listing_already_covered_is_still_posted(
    rig: Rig, fake_index: FakeIndex
) -> None:
    await rig.follow()
    fake_index.add_release("acme-owned", "1.0")
    assert (await rig.follow())[1] == 1
    fake_index.set_owners("acme-owned", ["someone", "mallory"])
    # The reconcile sees the serial move first; a listing cannot say what changed.
    assert (await rig.reconcile())[1] == 0
    _, alerts = await rig.follow()
    assert alerts == 1
    [owner] = await _alerts(rig.db, "owner:acme-owned")
    assert owner["change"] == "add Owner mallory"


async def test_an_owner_added_in_the_page_that_created_a_reported_squat_is_posted(
    rig: Rig, fake_index: FakeIndex
) -> None:
    fake_index.add_release("harmless", "1.0")
    await rig.poll_feeds()
    await rig.follow()
    fake_index.add_release("acme-quick", "1.0")
    assert await rig.poll_feeds() == 1  # the feed reports the squat first
    assert len(await _alerts(rig.db, "new:acme-quick")) == 1
    fake_index.set_owners("acme-quick", ["someone", "mallory"])
    # One page holds the creation and the later role change.
    _, alerts = await rig.follow()
    assert alerts == 1
    [owner] = await _alerts(rig.db, "owner:acme-quick")
    assert owner["change"] == "add Owner mallory"


async def test_page_boundaries_do_not_turn_first_owners_into_changes(
    rig: Rig, db: Database, fake_index: FakeIndex
) -> None:
    journal = rig.journal_source(page_rows=1)
    fake_index.add_release("harmless", "1.0")
    await rig.poll_feeds()
    await rig.follow(journal)
    fake_index.add_release("acme-split", "1.0", owners=("squatter", "helper"))
    assert await rig.poll_feeds() == 1  # reported by the feed first
    fake_index.journal_page = 1  # every row on a page of its own
    report, alerts = await rig.follow(journal)
    assert report.pages == 6
    assert alerts == 0
    assert await _alerts(rig.db, "owner:") == []


async def test_a_stranger_gaining_a_role_on_our_own_projects_is_posted(
    rig: Rig, fake_index: FakeIndex
) -> None:
    await rig.follow()
    # Ours: allowlisted, and an internal name we registered publicly ourselves.
    fake_index.add_release("acme-public-sdk", "1.0", owners=("acme-corp",))
    fake_index.add_release("acme-billing", "1.0", owners=("acme-corp",))
    assert (await rig.follow())[1] == 0

    fake_index.set_owners("acme-public-sdk", ["acme-corp", "ACME-CORP-bot", "mallory"])
    fake_index.set_owners("acme-billing", ["acme-corp", "Acme-Corp"])  # still only us
    assert (await rig.follow())[1] == 2  # one critical alert per stranger's role
    fake_index.set_owners("acme-billing", ["acme-corp", "eve"])
    fake_index.set_owners("acme-public-sdk", ["acme-corp"])  # strangers removed: no alert
    assert (await rig.follow())[1] == 1

    bot, mallory, billing = await _alerts(rig.db, "ours:")
    assert bot["text"] == (
        "Role change on our own PyPI project: acme-public-sdk: add Owner ACME-CORP-bot; "
        "add Owner mallory (ACME-CORP-bot (Owner) not among our owners)"
    )
    assert [m["detail"] for m in bot["matches"] + mallory["matches"]] == [
        "ACME-CORP-bot became Owner; not one of the catalog's owners",
        "mallory became Owner; not one of the catalog's owners",
    ]
    assert {bot["severity"], mallory["severity"], billing["severity"]} == {"critical"}
    assert billing["text"] == (
        "Role change on our own PyPI project: acme-billing: remove Owner Acme-Corp; "
        "add Owner eve (eve (Owner) not among our owners)"
    )
    assert await _alerts(rig.db, "new:") == []  # ours, so never a squat


async def test_a_squat_that_came_and_went_between_two_looks_is_posted_once(
    rig: Rig, fake_index: FakeIndex
) -> None:
    fake_index.add_release("harmless", "1.0")
    await rig.poll_feeds()
    await rig.follow()
    fake_index.add_release("acme-flash", "6.6.6")
    fake_index.remove_project("acme-flash")
    # Seen by the feed before its removal: a finding, then a removal note; not both kinds.
    fake_index.add_release("acme-seen", "1.0")
    assert await rig.poll_feeds() == 1
    fake_index.remove_project("acme-seen")

    before = len(await _alerts(rig.db, ""))
    report, alerts = await rig.follow()
    # The came-and-went alert is queued by the source itself (there is nothing left to
    # fetch details of); the pipeline has nothing more to say.
    assert (report.came_and_went, alerts, report.resolved) == (1, 0, 1)
    # One came-and-went alert and one removal note: nothing else.
    assert len(await _alerts(rig.db, "")) == before + 2
    [flash] = await _alerts(rig.db, "came_and_went:")
    assert flash["text"].startswith(
        "Squat appeared on PyPI and was removed before it was looked at: acme-flash 6.6.6 "
        "(public from "
    )
    assert "collides with internal 'acme' (prefix)" in flash["text"]
    assert flash["title"] == "A squat came and went"
    async with rig.db.transaction() as session:
        rows = await findings.findings_for(session, "acme-flash")
    assert [(f.internal_name, f.status) for f in rows] == [("acme", "resolved")]
    assert len(await _alerts(rig.db, "removed:acme-seen")) == 1
    assert await _alerts(rig.db, "came_and_went:acme-seen") == []
    report, alerts = await rig.follow()
    assert (report.came_and_went, alerts) == (0, 0)
