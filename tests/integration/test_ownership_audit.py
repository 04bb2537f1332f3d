"""Our own public projects audited on every catalog reload: strangers' roles alerted
critical once, whichever path saw them first, also with the change log off."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from tests.conftest import SettingsFactory, running
from tests.fakes.pypi import FakeIndex
from tests.fakes.slack import FakeSlack
from tests.support import write_catalog
from watcher.matching.live import LiveCatalog, load_view
from watcher.pipeline import Pipeline
from watcher.pypi import IndexClient
from watcher.sources import FeedSource, JournalSource
from watcher.sources.ownership import AuditReport, OwnershipAudit
from watcher.store import Database
from watcher.store.models import OutboxAlert, PublicProject


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Rig:
    pipeline: Pipeline
    feeds: FeedSource
    journal: JournalSource
    live: LiveCatalog
    db: Database
    client: IndexClient
    clock: Clock

    def audit(self) -> OwnershipAudit:
        """A new audit, as after a restart (it remembers nothing but the database)."""
        return OwnershipAudit(
            self.db, self.client, self.live, self.pipeline.recorder, clock=self.clock
        )

    async def poll(self) -> int:
        """One feed poll with its events processed; how many alerts it queued."""
        await self.feeds.poll()
        return await self.pipeline.process_pending()

    async def follow(self) -> int:
        """One change-log run with its events processed; how many alerts it queued."""
        await self.journal.poll()
        return await self.pipeline.process_pending()


@pytest.fixture
async def rig(db: Database, fake_index: FakeIndex, catalog_file: Path) -> AsyncIterator[Rig]:
    # The standard catalog: prefix "acme", "acme-public-sdk" allowlisted, owner "acme-corp".
    clock = Clock()
    live = LiveCatalog(load_view(catalog_file, clock()))
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        client = IndexClient(session, fake_index.base_url, retries=0)
        pipeline = Pipeline(db, client, live, clock=clock)
        yield Rig(
            pipeline=pipeline,
            feeds=FeedSource(db, client, live, clock=clock),
            journal=JournalSource(db, client, live, pipeline.recorder, clock=clock),
            live=live,
            db=db,
            client=client,
            clock=clock,
        )


async def _alerts(db: Database, prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
    async with db.transaction() as session:
        rows = await session.execute(
            select(OutboxAlert.event_key, OutboxAlert.payload)
            .where(OutboxAlert.event_key.like(prefix + "%"))
            .order_by(OutboxAlert.id)
        )
        return [(key, payload) for key, payload in rows]


async def _ours(db: Database) -> dict[str, tuple[bool, list[str], str | None]]:
    async with db.transaction() as session:
        rows = await session.execute(
            select(
                PublicProject.normalized_name,
                PublicProject.ours,
                PublicProject.owners,
                PublicProject.organization,
            )
        )
        return {name: (ours, owners, org) for name, ours, owners, org in rows}


def _json_reads(fake_index: FakeIndex, name: str) -> int:
    return sum(1 for r in fake_index.requests if r.path == f"/pypi/{name}/json")


async def _ours_by_organization(rig: Rig, fake_index: FakeIndex) -> None:
    """acme-tools (under the catalog's prefix), held by our organization only, seen."""
    await rig.follow()  # the change log's cursor starts here
    fake_index.add_release("acme-tools", "1.0", owners=(), organization="ACME-Corp")
    assert await rig.poll() == 0


async def test_an_allowlisted_project_owned_by_us_is_audited_and_not_alerted(
    rig: Rig, fake_index: FakeIndex
) -> None:
    fake_index.add_release("acme-public-sdk", "1.0", owners=("acme-corp", "ACME-CORP"))
    report = await rig.audit().audit()
    assert report == AuditReport(audited=1, alerts=0)
    assert _json_reads(fake_index, "acme-public-sdk") == 1  # read, not assumed
    assert await _alerts(rig.db) == []


async def test_without_owners_nobody_is_a_stranger_and_nothing_is_audited(
    rig: Rig, fake_index: FakeIndex, catalog_file: Path
) -> None:
    write_catalog(catalog_file, owners=())
    rig.live.swap(load_view(catalog_file, rig.clock()))
    fake_index.add_release("acme-public-sdk", "1.0", owners=("someone",))
    report = await rig.audit().audit()
    assert report == AuditReport(audited=0, alerts=0)
    assert _json_reads(fake_index, "acme-public-sdk") == 0
    assert await _alerts(rig.db) == []


async def test_a_project_held_by_our_organization_is_recorded_as_ours_not_alerted(
    rig: Rig, fake_index: FakeIndex
) -> None:
    await _ours_by_organization(rig, fake_index)
    fake_index.add_release("acme-squat", "1.0")  # the control: not ours, alerted as a squat
    assert await rig.poll() == 1
    ours = await _ours(rig.db)
    assert ours["acme-tools"] == (True, [], "ACME-Corp")
    assert ours["acme-squat"][0] is False
    assert [key for key, _ in await _alerts(rig.db)] == ["new:acme-squat:acme/prefix"]

    report = await rig.audit().audit()
    assert (report.audited, report.alerts) == (1, 0)  # acme-tools; the sdk has no project
    assert list(report.missing) == ["acme-public-sdk"]
    assert len(await _alerts(rig.db)) == 1


async def test_a_stranger_on_our_project_is_alerted_once_whichever_path_sees_it(
    rig: Rig, fake_index: FakeIndex
) -> None:
    await _ours_by_organization(rig, fake_index)
    fake_index.set_owners("acme-tools", ["eve"], organization="acme-corp")
    fake_index.journal_action("acme-tools", "add Maintainer eve")

    assert await rig.audit().run() == 1
    [(key, alert)] = await _alerts(rig.db, "ours:")
    assert key == "ours:acme-tools:eve:*"
    assert alert["severity"] == "critical"
    assert alert["text"] == (
        "Role change on our own PyPI project: acme-tools: roles now: eve; organization"
        " acme-corp (eve (role holder) not among our owners)"
    )
    assert [m["detail"] for m in alert["matches"]] == [
        "eve holds a role; not one of the catalog's owners"
    ]

    # Again, by a new audit (a restart), then by the change log: nothing more.
    assert await rig.audit().run() == 0
    assert await rig.follow() == 0  # "add Owner eve", "add Maintainer eve"
    assert len(await _alerts(rig.db, "ours:")) == 1

    # The change log first this time: its grant, then the audit finds it said already.
    fake_index.journal_action("acme-tools", "add Maintainer mallory")
    assert await rig.follow() == 1
    fake_index.set_owners("acme-tools", ["eve", "mallory"], organization="acme-corp")
    assert await rig.audit().run() == 0
    # The log's own "add Owner mallory" is another role: a rise to Owner is news.
    assert await rig.follow() == 1
    keys = [key for key, _ in await _alerts(rig.db, "ours:")]
    assert keys == [
        "ours:acme-tools:eve:*",
        "ours:acme-tools:mallory:maintainer",
        "ours:acme-tools:mallory:owner",
    ]
    assert await _alerts(rig.db, "new:") == []  # ours, so never a squat


async def test_a_project_with_none_of_our_owners_left_is_still_audited(
    rig: Rig, fake_index: FakeIndex
) -> None:
    await _ours_by_organization(rig, fake_index)
    # Taken over: our organization is gone, a stranger holds it.
    fake_index.set_owners("acme-tools", ["mallory"], organization="evil-org")
    assert await rig.audit().run() == 2
    grants = [alert["grants"] for _, alert in await _alerts(rig.db, "ours:")]
    assert grants == [
        [{"role": "role holder", "user": "mallory"}],
        [{"role": "organization", "user": "evil-org"}],
    ]
    # The change log's report of it, and later events: still ours, never "a squat".
    assert await rig.follow() == 0
    fake_index.add_release("acme-tools", "6.6.6")
    assert await rig.poll() == 0
    assert (await _ours(rig.db))["acme-tools"][0] is True
    assert await _alerts(rig.db, "new:") == []
    fake_index.set_owners("acme-tools", ["mallory", "trudy"], organization="evil-org")
    assert await rig.audit().run() == 1


async def test_an_index_that_cannot_be_asked_is_never_taken_as_no_strangers(
    rig: Rig, fake_index: FakeIndex, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="watcher")
    await _ours_by_organization(rig, fake_index)
    fake_index.add_release("acme-public-sdk", "1.0", owners=("acme-corp",))
    fake_index.set_owners("acme-tools", ["acme-corp", "eve"], organization="acme-corp")
    fake_index.fail("/pypi/", 503, times=None)
    audit = rig.audit()
    caplog.clear()

    report = await audit.audit()
    assert (report.audited, report.alerts) == (0, 0)
    assert sorted(report.unreadable) == ["acme-public-sdk", "acme-tools"]
    assert await _alerts(rig.db) == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].startswith(
        "ownership audit: roles of 2 of our 2 public projects unknown, not audited this time"
        " (acme-public-sdk, acme-tools); acme-public-sdk: "
    )
    # Said once, not on every reload while it lasts.
    caplog.clear()
    await audit.audit()
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []

    # Nothing was recorded as checked: once the index answers, the stranger is alerted.
    fake_index.clear_failures()
    assert await audit.run() == 1
    assert [key for key, _ in await _alerts(rig.db)] == ["ours:acme-tools:eve:*"]
    assert "can be read again" in caplog.text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_stranger_is_alerted_within_one_reload_without_the_change_log(
    make_settings: SettingsFactory, fake_index: FakeIndex, fake_slack: FakeSlack
) -> None:
    reload = 1.0
    settings = make_settings(poll_interval=0.3, catalog_reload_interval=reload)
    assert settings.schedule.journal is False  # the change log is off (the default)
    async with running(settings):
        fake_index.add_release("acme-tools", "1.0", owners=("acme-corp",))
        fake_index.add_release("acme-squat", "1.0")  # the control: the feed poll ran
        [squat] = await fake_slack.wait_for_messages(1, timeout=5)
        assert "acme-squat" in squat["text"]

        fake_index.set_owners("acme-tools", ["acme-corp", "mallory"])
        started = time.monotonic()
        messages = await fake_slack.wait_for_messages(2, timeout=reload + 3)
        took = time.monotonic() - started
        # One reload, plus the dispatch after it; then nothing more on later reloads.
        assert took < reload + 1.5
        await until_quiet(fake_slack, 2.5 * reload)
    assert len(fake_slack.messages) == 2
    alert = messages[1]
    assert alert["text"].startswith("Role change on our own PyPI project: acme-tools: ")
    assert "mallory (role holder) not among our owners" in alert["text"]
    fields = [f["text"] for b in alert["blocks"] for f in b.get("fields", [])]
    assert "*Severity*\ncritical" in fields


async def until_quiet(fake_slack: FakeSlack, seconds: float) -> None:
    """Wait ``seconds``, failing early if Slack gets another message meanwhile."""
    count = len(fake_slack.messages)
    with pytest.raises(TimeoutError):
        await fake_slack.wait_for_messages(count + 1, timeout=seconds)
