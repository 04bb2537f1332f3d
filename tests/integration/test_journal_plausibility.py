"""One change-log row with a far serial must not move the cursor there (issue 10, failure 3)."""

from __future__ import annotations

import time
import xmlrpc.client
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.fakes.pypi import FakeIndex
from watcher.errors import AnswerRefused
from watcher.matching.live import LiveCatalog, load_view
from watcher.pipeline import Pipeline
from watcher.pypi import IndexClient
from watcher.sources import JournalSource
from watcher.store import Database, journal
from watcher.store.base import utcnow


@pytest.fixture
async def follower(
    db: Database, fake_index: FakeIndex, catalog_file: Path
) -> AsyncIterator[tuple[JournalSource, Pipeline]]:
    live = LiveCatalog(load_view(catalog_file, utcnow()))
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        client = IndexClient(session, fake_index.base_url, retries=0)
        pipeline = Pipeline(db, client, live)
        yield JournalSource(db, client, live, pipeline.recorder), pipeline


async def _cursor(db: Database) -> int:
    async with db.transaction() as session:
        cursor = await journal.get_cursor(session)
    assert cursor is not None
    return cursor.serial


async def test_a_row_with_a_far_serial_is_refused_and_the_true_rows_still_apply(
    db: Database, fake_index: FakeIndex, follower: tuple[JournalSource, Pipeline]
) -> None:
    source, pipeline = follower
    fake_index.add_release("harmless", "1.0")
    await source.poll()  # starts at the log's newest serial
    start = await _cursor(db)
    fake_index.add_release("acme-evil", "1.0")
    rows = [list(row) for row in fake_index.journal if row[4] > start]
    bogus = ["acme-bogus", None, int(time.time()), "create", 999_999_999]
    body = xmlrpc.client.dumps(([*rows, bogus],), methodresponse=True, allow_none=True).encode()
    # XML-RPC's marshaller stops at 32 bits; the index (and a parser) do not.
    body = body.replace(b"<int>999999999</int>", b"<int>1000000000000</int>")
    fake_index.set_body("/pypi", body)  # every XML-RPC call: changelog_last_serial too

    with pytest.raises(AnswerRefused, match="claims serial 1000000000000"):
        await source.poll()
    assert await _cursor(db) == fake_index.serial  # past the true rows, not to 10**12
    assert await pipeline.process_pending() == 1  # acme-evil, from the rows before it

    fake_index.set_body("/pypi", None)
    fake_index.add_release("acme-next", "1.0")
    report = await source.poll()
    assert (report.matched, await _cursor(db)) == (1, fake_index.serial)
    assert await pipeline.process_pending() == 1


async def test_a_far_row_the_log_itself_confirms_is_applied(
    db: Database, fake_index: FakeIndex, follower: tuple[JournalSource, Pipeline]
) -> None:
    source, _ = follower
    fake_index.add_release("harmless", "1.0")
    await source.poll()
    # Two million serials in an instant: beyond the rate bound, but the log's own newest
    # serial (a second call) says it has them.
    fake_index.serial += 2_000_000
    fake_index.add_release("acme-far", "1.0")
    report = await source.poll()
    assert (report.matched, await _cursor(db)) == (1, fake_index.serial)
