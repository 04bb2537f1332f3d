"""The catalog source's check of new entries when the index cannot answer for them."""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp
import pytest

from tests.fakes.pypi import FakeIndex
from watcher.catalog import load_catalog_file
from watcher.matching.live import LiveCatalog
from watcher.pypi import IndexClient
from watcher.sources import CatalogSource
from watcher.store import Database, events, listing
from watcher.store.base import utcnow


async def test_an_unreachable_index_is_one_warning_and_every_entry_stays_unchecked(
    db: Database, fake_index: FakeIndex, catalog_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    live = LiveCatalog.of(load_catalog_file(catalog_file))  # 3 names and a prefix
    fake_index.fail("/simple/", 503, times=None)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        source = CatalogSource(db, IndexClient(session, fake_index.base_url, retries=0), live)
        with caplog.at_level(logging.WARNING, logger="watcher.sources.catalog"):
            assert await source.check() == 0
        warnings = [r.getMessage() for r in caplog.records]
        assert len(warnings) == 1, warnings
        assert "4 entries left unchecked" in warnings[0]
        assert [r.path for r in fake_index.requests].count("/simple/acme-billing/") == 1
        # Back: every entry is checked then, none was marked checked meanwhile.
        fake_index.clear_failures()
        fake_index.add_release("acme-billing", "1.0")
        assert await source.check() == 1
        assert await source.check() == 0


async def test_entries_waiting_for_the_index_scan_the_stored_listing_once(
    db: Database, fake_index: FakeIndex, catalog_file: Path
) -> None:
    live = LiveCatalog.of(load_catalog_file(catalog_file))
    async with db.transaction() as session:
        await listing.upsert_rows(
            session,
            [
                {
                    "normalized_name": "acme-bililng",
                    "name": "acme-bililng",
                    "last_serial": 1,
                    "first_seen_at": utcnow(),
                    "removed_at": None,
                }
            ],
        )
    fake_index.fail("/simple/", 503, times=None)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        source = CatalogSource(db, IndexClient(session, fake_index.base_url, retries=0), live)
        assert await source.check() == 1  # the stored typo of acme-billing, as an event
        assert await source.check() == 0  # index still down: not scanned (nor queued) again
    async with db.transaction() as tx:
        assert await events.pending_count(tx) == 1
