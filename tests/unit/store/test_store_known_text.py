"""Every known public name in one buffer (watcher.store.known.known_names_text), for a
one-shot check: the same names as the batches the service indexes, on SQLite and
PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from watcher.store import Database, known, listing
from watcher.store.base import utcnow
from watcher.store.models import IndexProject, PublicProject


def row(name: str, serial: int) -> dict[str, Any]:
    return {"normalized_name": name, "name": name, "last_serial": serial, "removed_at": None}


async def batches(db: Database) -> list[str]:
    async with db.transaction() as session:
        return [name async for batch in known.known_names(session) for name in batch]


async def text(db: Database) -> bytes:
    async with db.transaction() as session:
        return await known.known_names_text(session)


async def test_an_empty_store_is_an_empty_buffer(db: Database) -> None:
    assert await text(db) == b""


async def test_the_buffer_holds_the_names_the_batches_give(db: Database) -> None:
    listed = [f"project-{i}" for i in range(300)] + ["requests", "acme-tools", "gone"]
    async with db.transaction() as session:
        await listing.upsert_rows(session, [row(n, i) for i, n in enumerate(listed, start=1)])
        # Seen by the feeds: one also listed, one only seen, one the listing saw removed.
        for name in ("requests", "seen-only", "gone"):
            session.add(PublicProject(normalized_name=name, name=name))
        await session.execute(
            update(IndexProject)
            .where(IndexProject.normalized_name == "gone")
            .values(removed_at=utcnow())
        )

    buffer = await text(db)
    lines = buffer.decode().split("\n")

    assert sorted(lines) == sorted(await batches(db))  # duplicates included, as batched
    assert "gone" not in lines
    assert {"requests", "seen-only", "project-0", "project-299"} <= set(lines)
    assert lines.count("requests") == 2  # listed and seen: a scan reports it once
    assert not buffer.startswith(b"\n")
    assert not buffer.endswith(b"\n")


async def test_only_names_seen_by_the_feeds(db: Database) -> None:
    async with db.transaction() as session:
        session.add(PublicProject(normalized_name="acme-tools", name="Acme_Tools"))

    assert await text(db) == b"acme-tools"
