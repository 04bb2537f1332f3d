"""The catalog's footprint in the database: first-start checks and the state of each catalog
source, on SQLite and PostgreSQL (schema from the migrations)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from watcher.store import Database
from watcher.store import catalog as catalog_store
from watcher.store.catalog import CatalogStatus

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
T1 = T0 + timedelta(minutes=1)


def loaded(source: str = "/etc/watcher/catalog.toml", **fields: object) -> CatalogStatus:
    values: dict[str, object] = {
        "source": source,
        "digest": "d" * 64,
        "loaded_at": T0,
        "names": 3,
        "prefixes": 1,
        "allow": 1,
        "owners": 2,
        "last_error": None,
        "error_at": None,
    }
    values.update(fields)
    return CatalogStatus(**values)  # type: ignore[arg-type]


async def statuses(db: Database) -> list[CatalogStatus]:
    async with db.transaction() as session:
        return await catalog_store.catalog_statuses(session)


# --- first-start catalog checks -----------------------------------------------------------


async def test_unchecked_entries_and_mark_checked(db: Database) -> None:
    entries = [("acme-billing", "name"), ("acme", "prefix"), ("acme", "name")]
    async with db.transaction() as session:
        assert await catalog_store.unchecked_entries(session, entries) == entries
        await catalog_store.mark_checked(session, "acme", "prefix", found=True, now=T0)
    async with db.transaction() as session:
        assert await catalog_store.unchecked_entries(session, entries) == [
            ("acme-billing", "name"),
            ("acme", "name"),
        ]
        # Marking twice is harmless and keeps the first answer.
        await catalog_store.mark_checked(session, "acme", "prefix", found=False, now=T0)
        await catalog_store.mark_checked(session, "acme-billing", "name", found=False, now=T0)
    async with db.transaction() as session:
        assert await catalog_store.unchecked_entries(session, entries) == [("acme", "name")]
        rows = (
            await session.execute(text("SELECT normalized_name, entry, found FROM catalog_checks"))
        ).all()
    assert sorted((n, e, bool(f)) for n, e, f in rows) == [
        ("acme", "prefix", True),
        ("acme-billing", "name", False),
    ]


async def test_forgotten_entries_are_checked_again(db: Database) -> None:
    entries = [("acme-billing", "name"), ("acme", "prefix"), ("acme", "name")]
    async with db.transaction() as session:
        for name, entry in entries:
            await catalog_store.mark_checked(session, name, entry, found=True, now=T0)
    async with db.transaction() as session:
        assert await catalog_store.unchecked_entries(session, entries) == []
        await catalog_store.forget_checked(session, [])  # nothing to forget is fine
        # The prefix 'acme' left the catalog; the name 'acme' did not.
        await catalog_store.forget_checked(session, [("acme", "prefix"), ("gone", "name")])
    async with db.transaction() as session:
        assert await catalog_store.unchecked_entries(session, entries) == [("acme", "prefix")]


# --- catalog sources --------------------------------------------------------------------


async def test_save_loaded_records_and_replaces_a_sources_state(db: Database) -> None:
    assert await statuses(db) == []
    first = loaded()
    async with db.write() as session:
        await catalog_store.save_loaded(session, first)
    assert await statuses(db) == [first]

    reloaded = loaded(digest="e" * 64, loaded_at=T1, names=5, prefixes=0, allow=0, owners=1)
    async with db.write() as session:
        await catalog_store.save_loaded(session, reloaded)
    assert await statuses(db) == [reloaded]


async def test_save_error_keeps_the_catalog_in_use_and_a_reload_clears_it(db: Database) -> None:
    first = loaded()
    async with db.write() as session:
        await catalog_store.save_loaded(session, first)
    async with db.write() as session:
        await catalog_store.save_error(session, first.source, "bad TOML " * 500, T1)
    [failed] = await statuses(db)
    # What is loaded stays as it was; only the error is new (clipped to the column's use).
    assert failed == loaded(last_error=failed.last_error, error_at=T1, failing_since=T1)
    assert failed.last_error is not None
    assert failed.last_error.startswith("bad TOML bad TOML")
    assert len(failed.last_error) == 2000

    fixed = loaded(digest="f" * 64, loaded_at=T1 + timedelta(seconds=1))
    async with db.write() as session:
        await catalog_store.save_loaded(session, fixed)
    assert await statuses(db) == [fixed]  # last_error and error_at cleared


async def test_save_error_for_a_source_never_loaded(db: Database) -> None:
    async with db.write() as session:
        await catalog_store.save_error(session, "/new.toml", "missing", T0)
    assert await statuses(db) == [
        CatalogStatus(
            source="/new.toml",
            digest=None,
            loaded_at=None,
            names=0,
            prefixes=0,
            allow=0,
            owners=0,
            last_error="missing",
            error_at=T0,
            failing_since=T0,
        )
    ]


async def test_keep_only_forgets_sources_no_longer_configured(db: Database) -> None:
    a, b, c = loaded("/a.toml"), loaded("/b.toml", names=9), loaded("/c.toml")
    async with db.write() as session:
        for state in (c, a, b):
            await catalog_store.save_loaded(session, state)
    assert await statuses(db) == [a, b, c]  # in source order
    async with db.write() as session:
        await catalog_store.keep_only(session, ["/b.toml", "/not-stored.toml"])
    assert await statuses(db) == [b]
    async with db.write() as session:
        await catalog_store.keep_only(session, [])
    assert await statuses(db) == []


# --- private indexes: last good loads and outages ------------------------------------------

INDEX = "http://127.0.0.1:9/simple/"


async def test_an_index_load_round_trips_and_replaces_the_previous_one(db: Database) -> None:
    from packaging.utils import NormalizedName

    from watcher.catalog.model import InternalPackage
    from watcher.pypi.models import DistFile

    billing = InternalPackage(
        name="Acme_Billing",
        source=INDEX,
        versions=("1.0", "4.2.0"),
        files=(
            DistFile("acme_billing-1.0.tar.gz", "a" * 64, T0),
            DistFile("acme_billing-4.2.0-py3-none-any.whl", None, None),
        ),
    )
    name = NormalizedName("acme-billing")
    async with db.transaction() as session:
        assert await catalog_store.load_index(session, INDEX) is None  # never loaded
        await catalog_store.save_index(
            session,
            INDEX,
            {name: billing},
            {NormalizedName("requests"): "same files as the public project"},
            {name: '"etag-1"'},
            T0,
        )
    async with db.transaction() as session:
        stored = await catalog_store.load_index(session, INDEX)
        assert await catalog_store.load_index(session, "http://other/simple/") is None
    assert stored is not None
    assert stored.packages == {name: billing}
    assert stored.mirrored == {NormalizedName("requests"): "same files as the public project"}
    assert stored.etags == {name: '"etag-1"'}
    assert stored.loaded_at == T0
    async with db.transaction() as session:
        await catalog_store.save_index(session, INDEX, {}, {}, {}, T1)
        await catalog_store.save_loaded(session, loaded(INDEX, loaded_at=T1, names=0))
    async with db.transaction() as session:
        emptied = await catalog_store.load_index(session, INDEX)
    # An index that loaded empty is an empty load, not "never loaded".
    assert emptied is not None
    assert emptied.packages == {}
    assert emptied.loaded_at == T1


async def test_an_outage_keeps_its_start_until_a_good_load(db: Database) -> None:
    async with db.transaction() as session:
        await catalog_store.save_loaded(session, loaded(INDEX))
        await catalog_store.save_error(session, INDEX, "HTTP 503", T0)
        await catalog_store.save_error(session, INDEX, "HTTP 502", T1)
        await catalog_store.mark_down_alerted(session, INDEX, T1)
    async with db.transaction() as session:
        status = await catalog_store.get_status(session, INDEX)
    assert status is not None
    assert (status.last_error, status.failing_since, status.down_alerted_at) == ("HTTP 502", T0, T1)
    async with db.transaction() as session:
        await catalog_store.save_loaded(session, loaded(INDEX, loaded_at=T1, mirrored=4))
    async with db.transaction() as session:
        status = await catalog_store.get_status(session, INDEX)
    assert status is not None
    assert (status.failing_since, status.down_alerted_at, status.mirrored) == (None, None, 4)
