"""The in-memory public names kept in step with the store (watcher.sources.known_names,
watcher.store.known), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import update

from watcher.matching.public_names import PublicNames
from watcher.sources.known_names import KnownNames
from watcher.store import Database, listing
from watcher.store.base import utcnow
from watcher.store.models import Finding, IndexProject, PublicProject, Release


def row(name: str, serial: int) -> dict[str, Any]:
    return {"normalized_name": name, "name": name, "last_serial": serial, "removed_at": None}


async def test_first_build_then_additions_removals_and_returns(db: Database) -> None:
    async with db.transaction() as session:
        await listing.upsert_rows(session, [row("requests", 1), row("numpy", 2)])
        session.add(PublicProject(normalized_name="acme-tools", name="Acme_Tools"))
    known = KnownNames(db, PublicNames())

    await known.refresh()  # the first run builds the base

    assert known.names.contains("requests") is True
    assert known.names.contains("acme-tools") is True  # seen by the feeds
    assert known.names.contains("flask") is False

    async with db.transaction() as session:
        await listing.upsert_rows(session, [row("flask", 3)])
        await session.execute(
            update(IndexProject)
            .where(IndexProject.normalized_name.in_(["numpy", "acme-tools"]))
            .values(removed_at=utcnow())
        )
        await listing.upsert_rows(session, [row("acme-tools", 4)])
        await session.execute(
            update(IndexProject)
            .where(IndexProject.normalized_name == "acme-tools")
            .values(removed_at=utcnow())
        )
    await known.refresh()

    assert known.names.contains("flask") is True
    assert known.names.contains("numpy") is False
    assert known.names.contains("acme-tools") is False  # the listing saw it removed
    assert known.names.pending == 1

    async with db.transaction() as session:  # numpy is back (its first sighting is old)
        await session.execute(
            update(IndexProject)
            .where(IndexProject.normalized_name == "numpy")
            .values(removed_at=None, first_seen_at=utcnow() - timedelta(days=30))
        )
    await known.refresh()
    assert known.names.contains("numpy") is True
    assert known.names.removed == frozenset({"acme-tools"})


async def test_stored_projects_come_with_their_first_upload_owners_and_open_findings(
    db: Database,
) -> None:
    early = utcnow() - timedelta(days=3)
    async with db.transaction() as session:
        project = PublicProject(
            normalized_name="acme-tools", name="Acme_Tools", latest_version="2.0", owners=["eve"]
        )
        session.add(project)
        await session.flush()
        session.add(
            Release(project_id=project.id, version="1.0", upload_time=early, source="index")
        )
        session.add(
            Release(project_id=project.id, version="2.0", upload_time=utcnow(), source="index")
        )
        session.add(
            Finding(
                public_name="acme-tools",
                internal_name="acme",
                kind="prefix",
                detail="d",
                risk="high",
            )
        )
        session.add(
            Finding(
                public_name="acme-tools",
                internal_name="acme-tool",
                kind="typo",
                detail="d",
                status="resolved",
            )
        )
    known = KnownNames(db, PublicNames())
    await known.refresh()

    stored = known.project("acme-tools")
    assert stored is not None
    assert (stored.name, stored.latest_version, stored.owners, stored.ours) == (
        "Acme_Tools",
        "2.0",
        ("eve",),
        False,
    )
    assert stored.first_release is not None
    assert abs((stored.first_release - early).total_seconds()) < 1
    assert [(f.internal_name, f.kind, f.status, f.risk) for f in stored.findings] == [
        ("acme", "prefix", "open", "high")  # the resolved one is not listed
    ]
    assert known.project("requests") is None


async def test_a_reconcile_applied_means_a_new_build_not_an_addition(db: Database) -> None:
    known = KnownNames(db, PublicNames())
    await known.refresh()  # an empty store: an empty view
    async with db.transaction() as session:
        await listing.upsert_rows(session, [row("requests", 1), row("flask", 2)])
        await listing.save_state(session, serial=2, etag=None, projects=2, now=utcnow())
    await known.refresh()

    assert known.names.contains("flask") is True
    assert known.names.pending == 0  # in the base, built anew after the reconcile
    await known.refresh()  # nothing new since: no build, nothing pending
    assert known.names.pending == 0
