"""Hostile values from the index (issue 10, failure 2): one bad project never stops the
alerting. Served over real HTTP by the simulated index, stored in SQLite and PostgreSQL
(where a NUL or a text longer than its column fails an insert)."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from sqlalchemy import select

from tests.fakes.pypi import FakeIndex
from watcher.matching.live import LiveCatalog
from watcher.pipeline import Pipeline
from watcher.pypi import FeedKind, IndexClient
from watcher.sources import FeedSource
from watcher.store import Database, events, history
from watcher.store.models import FeedState, OutboxAlert, PublicProject, Release

LONG = 300  # longer than every name-sized column (255)


async def _document(fake_index: FakeIndex, name: str) -> dict[str, Any]:
    """The simulated index's own JSON document of ``name``, to make hostile."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{fake_index.base_url}/pypi/{name}/json") as resp,
    ):
        assert resp.status == 200
        document: dict[str, Any] = await resp.json()
    return document


def _serve(fake_index: FakeIndex, name: str, document: dict[str, Any]) -> None:
    body = json.dumps(document).encode()
    fake_index.set_body(f"/pypi/{name}/json", body, content_type="application/json")


async def _alerts(db: Database) -> list[OutboxAlert]:
    async with db.transaction() as session:
        return list((await session.execute(select(OutboxAlert).order_by(OutboxAlert.id))).scalars())


async def _queue_and_process(
    db: Database, index_client: IndexClient, live_catalog: LiveCatalog, fake_index: FakeIndex
) -> int:
    """Record what the feeds show, then process it, as a poll does."""
    source = FeedSource(db, index_client, live_catalog)
    for kind in (FeedKind.PACKAGES, FeedKind.UPDATES):
        await source.poll_feed(kind)
    return await Pipeline(db, index_client, live_catalog).process_pending()


async def test_a_release_of_ten_thousand_digits_is_data_not_a_stuck_event(
    db: Database, index_client: IndexClient, live_catalog: LiveCatalog, fake_index: FakeIndex
) -> None:
    fake_index.add_release("acme-digits", "1.0")
    document = await _document(fake_index, "acme-digits")
    huge = "1" * 10_000  # packaging raises ValueError (int conversion), not InvalidVersion
    document["releases"][huge] = []
    _serve(fake_index, "acme-digits", document)

    assert await _queue_and_process(db, index_client, live_catalog, fake_index) == 1
    [alert] = await _alerts(db)
    assert alert.public_name == "acme-digits"
    async with db.transaction() as session:
        assert await events.pending_count(session) == 0
        stored = await history.project_history(session, "acme-digits")
    assert "1.0" in {r.version for r in stored}
    assert len(stored) == 2
    assert all(len(r.version) <= 255 for r in stored)


async def test_nul_and_overlong_texts_from_the_details_are_stored_bounded(
    db: Database, index_client: IndexClient, live_catalog: LiveCatalog, fake_index: FakeIndex
) -> None:
    fake_index.add_release("acme-hostile", "1.0")
    document = await _document(fake_index, "acme-hostile")
    # Two long versions with a common 300-character prefix: two releases, not one.
    long_a, long_b = "1." + "0" * LONG + "1", "1." + "0" * LONG + "2"
    document["releases"][long_a] = []
    document["releases"][long_b] = []
    document["info"].update(
        name="acme-hostile" + "x" * LONG,  # no valid spelling of the project's name
        summary="evil\x00summary",
        author="mal\x00lory \ud800",
        version=long_b,
    )
    document["ownership"]["organization"] = "o" * LONG
    _serve(fake_index, "acme-hostile", document)

    assert await _queue_and_process(db, index_client, live_catalog, fake_index) == 1
    async with db.transaction() as session:
        project = (await session.execute(select(PublicProject))).scalar_one()
        versions = set((await session.execute(select(Release.version))).scalars())
        assert await events.pending_count(session) == 0
    assert project.name == "acme-hostile"
    assert project.summary == "evilsummary"
    assert project.author == "mallory "
    assert len(project.organization or "x" * LONG) <= 255
    assert len(project.latest_version or "x" * LONG) <= 255
    assert len(versions) == 3  # 1.0 and both long ones, kept apart by their digests
    assert all(len(v) <= 255 for v in versions)


async def test_a_feed_item_with_an_overlong_version_does_not_stop_the_feed(
    db: Database, index_client: IndexClient, live_catalog: LiveCatalog, fake_index: FakeIndex
) -> None:
    source = FeedSource(db, index_client, live_catalog)
    await source.poll()  # the baseline
    fake_index.add_release("acme-long", "1." + "0" * LONG)
    fake_index.add_release("acme-after", "1.0")  # a later squat in the same window

    reports = await source.poll()
    assert not reports.errors
    alerts = await Pipeline(db, index_client, live_catalog).process_pending()
    assert alerts == 2
    assert sorted(a.public_name for a in await _alerts(db)) == ["acme-after", "acme-long"]
    async with db.transaction() as session:
        newest = (
            await session.execute(select(FeedState.newest_key).where(FeedState.feed == "updates"))
        ).scalar_one()
    assert (newest or "").startswith("acme-after==")
