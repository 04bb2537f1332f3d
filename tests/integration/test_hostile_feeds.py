"""A hostile or broken feed: no crash, an error in the log, cursor kept, next good poll wins."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest

from tests.fakes.pypi import FakeIndex, billion_laughs_feed, external_entity_feed, truncated_feed
from watcher.catalog import load_catalog_file
from watcher.matching import build_matcher
from watcher.pypi import FeedKind, IndexClient
from watcher.store import Database, queries
from watcher.watch import Watch

UPDATES = "/rss/updates.xml"
FIFTY_MB = 50 * 1024 * 1024


@pytest.fixture
async def watch(db: Database, fake_index: FakeIndex, catalog_file: Path) -> AsyncIterator[Watch]:
    catalog = load_catalog_file(catalog_file)
    timeout = aiohttp.ClientTimeout(total=20)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        client = IndexClient(
            session, fake_index.base_url, retries=0, max_feed_bytes=5 * 1024 * 1024
        )
        yield Watch(db, client, catalog, build_matcher(catalog))


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
    watch: Watch,
    db: Database,
    fake_index: FakeIndex,
    spoil: Callable[[FakeIndex], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_index.add_release("harmless", "1.0")
    report = await watch.poll_feed(FeedKind.UPDATES)
    assert report.items == 1
    async with db.transaction() as session:
        before = await queries.get_feed_state(session, FeedKind.UPDATES)
        assert before is not None
        cursor_before = (before.etag, list(before.seen_keys))

    fake_index.add_release("acme-billing", "66.6")
    spoil(fake_index)
    with caplog.at_level(logging.ERROR):
        reports = await watch.poll_feeds()
    assert [r.feed for r in reports] == [FeedKind.PACKAGES]  # updates failed, packages ran
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("updates feed failed, cursor not advanced" in r.getMessage() for r in errors)
    async with db.transaction() as session:
        after = await queries.get_feed_state(session, FeedKind.UPDATES)
        assert after is not None
        assert (after.etag, list(after.seen_keys)) == cursor_before

    fake_index.set_body(UPDATES, None)
    report = await watch.poll_feed(FeedKind.UPDATES)
    assert report.new_items == 1
    assert report.matched == ["acme-billing"]
    async with db.transaction() as session:
        findings = await queries.findings_for(session, "acme-billing")
    assert {f.kind for f in findings} == {"exact", "prefix"}


async def test_index_5xx_keeps_cursor(watch: Watch, db: Database, fake_index: FakeIndex) -> None:
    fake_index.add_release("acme-x", "1.0")
    fake_index.fail(UPDATES, 503, times=None)
    await watch.poll_feeds()
    async with db.transaction() as session:
        assert await queries.get_feed_state(session, FeedKind.UPDATES) is None
    fake_index.clear_failures()
    report = await watch.poll_feed(FeedKind.UPDATES)
    assert report.matched == ["acme-x"]
