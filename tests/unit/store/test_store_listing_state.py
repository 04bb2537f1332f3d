"""The index's state in the database: the stored listing, the last listing applied and the
change-log cursor, on SQLite and PostgreSQL (schema from the migrations)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from packaging.utils import canonicalize_name
from sqlalchemy import select

from watcher.errors import ListingRefused
from watcher.store import Database, journal, listing
from watcher.store.base import ERROR_LIMIT
from watcher.store.journal import JournalCursor
from watcher.store.listing import ListingDiff, ListingState
from watcher.store.models import IndexProject

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
T1 = T0 + timedelta(minutes=1)


def row(name: str, serial: int | None, removed_at: datetime | None = None) -> dict[str, Any]:
    return {
        "normalized_name": canonicalize_name(name),
        "name": name,
        "last_serial": serial,
        "first_seen_at": T0,
        "removed_at": removed_at,
    }


async def stored(db: Database) -> dict[str, tuple[str, int | None, bool]]:
    """normalized name -> (display name, serial, removed?) of the stored listing."""
    async with db.transaction() as session:
        rows = (await session.execute(select(IndexProject))).scalars().all()
    return {p.normalized_name: (p.name, p.last_serial, p.removed_at is not None) for p in rows}


# --- the last listing applied ---------------------------------------------------------------


async def test_listing_state_saved_and_replaced(db: Database) -> None:
    async with db.write() as session:
        await listing.lock_state(session)  # no row yet: locks nothing, fails nothing
        assert await listing.get_state(session) is None
        await listing.save_state(session, serial=100, etag='"a"', projects=3, now=T0)
    async with db.write() as session:
        assert await listing.get_state(session) == ListingState(100, '"a"', 3, T0)
        await listing.lock_state(session)
        await listing.save_state(session, serial=None, etag=None, projects=5, now=T1)
    async with db.transaction() as session:
        assert await listing.get_state(session) == ListingState(None, None, 5, T1)


# --- the stored listing -------------------------------------------------------------------


async def test_upsert_rows_newer_serial_wins(db: Database) -> None:
    async with db.write() as session:
        await listing.upsert_rows(session, [])  # nothing to write is fine
        await listing.upsert_rows(
            session, [row("Acme-A", 10), row("acme-b", 20), row("acme-c", None)]
        )
    async with db.write() as session:
        await listing.upsert_rows(
            session,
            [
                row("ACME-A", 11, removed_at=T1),  # newer: wins (and records the removal)
                row("Acme_B", 19),  # older than stored: ignored
                row("acme-c", 5),  # stored without a serial: anything wins
                row("acme-d", 1),  # new
            ],
        )
    assert await stored(db) == {
        "acme-a": ("ACME-A", 11, True),
        "acme-b": ("acme-b", 20, False),
        "acme-c": ("acme-c", 5, False),
        "acme-d": ("acme-d", 1, False),
    }


async def test_stored_serials_and_stored_names(db: Database) -> None:
    names = [f"acme-{i:04d}" for i in range(1200)]  # more than one query's batch
    async with db.write() as session:
        await listing.upsert_rows(session, [row(n, i + 1) for i, n in enumerate(names)])
        await listing.upsert_rows(
            session, [row("acme-gone", 7, removed_at=T0), row("acme-unknown", None)]
        )
    async with db.transaction() as session:
        serials = await listing.stored_serials(
            session, [*names, "acme-gone", "acme-unknown", "never-seen"]
        )
        batches = [b async for b in listing.stored_names(session)]
    assert len(serials) == len(names) + 1  # no serial, or never stored: left out
    assert serials["acme-0000"] == (1, False)
    assert serials["acme-1199"] == (1200, False)
    assert serials["acme-gone"] == (7, True)
    assert "acme-unknown" not in serials
    on_index = sorted(r for b in batches for r in b)
    # Only names on the index now, with their serials (None when unknown).
    assert len(on_index) == len(names) + 1
    assert ("acme-gone", "acme-gone", 7) not in on_index
    assert ("acme-unknown", "acme-unknown", None) in on_index
    assert ("acme-0041", "acme-0041", 42) in on_index


async def test_bulk_listing_diffs_and_applies_a_snapshot(db: Database) -> None:
    async with db.write() as session:
        await listing.upsert_rows(
            session,
            [row("acme-same", 5), row("acme-moved", 5), row("acme-dropped", 5)],
        )
    names = [b"acme-same", b"Acme.Moved", b"acme-new"]
    serials = [5, 9, 8]
    async with db.write() as session:
        await listing.lock_state(session)
        assert await listing.load_snapshot(session, names, serials, serial=10) == 3
        delta = sorted(r for b in [b async for b in listing.new_or_changed(session)] for r in b)
        assert await listing.gone_names(session) == ["acme-dropped"]
        diff = await listing.apply_snapshot(session, T1)
        await listing.save_state(session, serial=10, etag=None, projects=3, now=T1)
    assert delta == [("acme-moved", "Acme.Moved", 9, "changed"), ("acme-new", "acme-new", 8, "new")]
    assert diff == ListingDiff(new=1, changed=1, removed=1, stored=3)
    assert await stored(db) == {
        "acme-same": ("acme-same", 5, False),
        "acme-moved": ("Acme.Moved", 9, False),
        "acme-new": ("acme-new", 8, False),
        "acme-dropped": ("acme-dropped", 5, True),
    }


async def apply_listing(
    db: Database, names: list[bytes], serials: list[int | None], serial: int
) -> ListingDiff:
    async with db.write() as session:
        await listing.lock_state(session)
        await listing.load_snapshot(session, names, serials, serial=serial)
        return await listing.apply_snapshot(session, T1)


async def test_a_listing_removing_most_of_the_index_is_refused(db: Database) -> None:
    names = [f"acme-{i:04d}" for i in range(1100)]
    async with db.write() as session:
        await listing.upsert_rows(session, [row(n, 1) for n in names])
    with pytest.raises(ListingRefused) as refused:
        await apply_listing(db, [b"acme-0000"], [1], serial=2)
    assert (refused.value.removed, refused.value.stored) == (1099, 1100)
    assert all(not removed for _, _, removed in (await stored(db)).values())


# --- the change-log cursor ----------------------------------------------------------------


async def test_journal_cursor_backoff_and_recovery(db: Database) -> None:
    async with db.write() as session:
        assert await journal.get_cursor(session) is None
        # No cursor yet: a backoff has nothing to attach to.
        assert not await journal.save_backoff(session, failures=1, retry_at=T1, error="503", now=T0)
        assert await journal.get_cursor(session) is None
        await journal.save_cursor(session, 100, T0)
    async with db.write() as session:
        assert await journal.get_cursor(session, lock=True) == JournalCursor(100, 0, None, None, T0)
        assert await journal.save_backoff(
            session, failures=3, retry_at=T1, error="x" * 5000, now=T1
        )
    async with db.transaction() as session:
        cursor = await journal.get_cursor(session)
    assert cursor is not None
    assert (cursor.serial, cursor.failures, cursor.retry_at, cursor.updated_at) == (100, 3, T1, T1)
    assert cursor.last_error is not None
    assert len(cursor.last_error) == ERROR_LIMIT  # clipped
    assert cursor.last_error.startswith("x" * 1000)
    later = T1 + timedelta(minutes=1)
    async with db.write() as session:
        await journal.save_cursor(session, 12345678901, later)  # beyond 32 bits
    async with db.transaction() as session:
        assert await journal.get_cursor(session) == JournalCursor(12345678901, 0, None, None, later)
