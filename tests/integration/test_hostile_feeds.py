"""A hostile or broken feed: no crash, an error in the log, cursor kept, next good poll wins."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from tests.fakes.pypi import FakeIndex, billion_laughs_feed, external_entity_feed, truncated_feed
from watcher.matching.live import LiveCatalog, load_view
from watcher.pipeline import Pipeline
from watcher.pypi import FeedKind, IndexClient
from watcher.sources import FeedSource
from watcher.store import Database, feeds, findings
from watcher.store.base import utcnow

UPDATES = "/rss/updates.xml"
FIFTY_MB = 50 * 1024 * 1024


@dataclass
class Rig:
    feeds: FeedSource
    pipeline: Pipeline


@pytest.fixture
async def rig(db: Database, fake_index: FakeIndex, catalog_file: Path) -> AsyncIterator[Rig]:
    live = LiveCatalog(load_view(catalog_file, utcnow()))
    timeout = aiohttp.ClientTimeout(total=20)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        client = IndexClient(
            session, fake_index.base_url, retries=0, max_feed_bytes=5 * 1024 * 1024
        )
        yield Rig(FeedSource(db, client, live), Pipeline(db, client, live))


def _bomb(_: FakeIndex) -> None:
    _.set_body(UPDATES, billion_laughs_feed())


def _external(_: FakeIndex) -> None:
    _.set_body(UPDATES, external_entity_feed())


def _truncated(_: FakeIndex) -> None:
    _.set_body(UPDATES, truncated_feed(_))


def _huge(_: FakeIndex) -> None:
    _.set_huge_body(UPDATES, FIFTY_MB)


def _huge_declared(_: FakeIndex) -> None:
    _.set_huge_body(UPDATES, FIFTY_MB, declare_length=True)


def _not_rss(_: FakeIndex) -> None:
    _.set_body(UPDATES, b"<html><body>maintenance</body></html>")


@pytest.mark.parametrize(
    "spoil",
    [_bomb, _external, _truncated, _huge, _huge_declared, _not_rss],
    ids=["entity-bomb", "external-entity", "truncated", "50MB-chunked", "50MB-declared", "not-rss"],
)
async def test_bad_feed_is_refused_and_next_good_poll_processed(
    rig: Rig,
    db: Database,
    fake_index: FakeIndex,
    spoil: Callable[[FakeIndex], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_index.add_release("harmless", "1.0")
    report = await rig.feeds.poll_feed(FeedKind.UPDATES)
    assert report.items == 1
    async with db.transaction() as session:
        before = await feeds.get_cursor(session, FeedKind.UPDATES)
        assert before is not None

    fake_index.add_release("acme-billing", "66.6")
    spoil(fake_index)
    with caplog.at_level(logging.ERROR):
        reports = await rig.feeds.poll()
    assert [r.feed for r in reports] == [FeedKind.PACKAGES]  # updates failed, packages ran
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("updates feed failed, cursor not advanced" in r.getMessage() for r in errors)
    async with db.transaction() as session:
        after = await feeds.get_cursor(session, FeedKind.UPDATES)
        assert after is not None
        assert (after.etag, after.seen_keys, after.newest_key) == (
            before.etag,
            before.seen_keys,
            before.newest_key,
        )

    fake_index.set_body(UPDATES, None)
    report = await rig.feeds.poll_feed(FeedKind.UPDATES)
    assert report.new_items == 1
    assert report.matched == ["acme-billing"]
    # The packages feed recorded the squat too: one project, one alert.
    assert await rig.pipeline.process_pending() == 1
    async with db.transaction() as session:
        rows = await findings.findings_for(session, "acme-billing")
    assert {f.kind for f in rows} == {"exact", "prefix"}


async def test_index_5xx_keeps_cursor(rig: Rig, db: Database, fake_index: FakeIndex) -> None:
    fake_index.add_release("acme-x", "1.0")
    fake_index.fail(UPDATES, 503, times=None)
    await rig.feeds.poll()
    async with db.transaction() as session:
        assert await feeds.get_cursor(session, FeedKind.UPDATES) is None
    fake_index.clear_failures()
    report = await rig.feeds.poll_feed(FeedKind.UPDATES)
    assert report.matched == ["acme-x"]
