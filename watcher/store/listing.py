"""Applying a whole-index listing: bulk load, diff in SQL, bulk apply. Never row by row.

The listing (about a million names) goes into a temporary table in one bulk operation
(``executemany`` on SQLite, ``COPY`` on PostgreSQL); new, changed and removed names are
then three joins, streamed in batches, and the stored listing is updated with two
statements. Python never holds the stored listing in memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

_BATCH = 50_000
# A listing that would remove more than this share of the stored names (and at least
# _MASS_REMOVAL_MIN of them) is refused: a truncated or broken listing must not "remove"
# the index.
_MASS_REMOVAL_SHARE = 0.05
_MASS_REMOVAL_MIN = 1_000


class ListingRefused(Exception):
    """The listing would remove an implausible share of the index."""

    def __init__(self, removed: int, stored: int) -> None:
        self.removed = removed
        self.stored = stored
        super().__init__(
            f"listing would remove {removed} of {stored} stored projects; refused as broken"
        )


@dataclass
class ListingDiff:
    """Counts of what a listing changed."""

    new: int = 0
    changed: int = 0
    removed: int = 0
    stored: int = 0


_CREATE = {
    "sqlite": "CREATE TEMP TABLE IF NOT EXISTS index_snapshot ("
    "normalized_name TEXT NOT NULL, name TEXT NOT NULL, last_serial INTEGER)",
    "postgresql": "CREATE TEMP TABLE IF NOT EXISTS index_snapshot ("
    "normalized_name TEXT NOT NULL, name TEXT NOT NULL, last_serial BIGINT) "
    "ON COMMIT DROP",
}

_NEW_OR_CHANGED = """
SELECT s.normalized_name, s.name, s.last_serial,
       CASE WHEN p.normalized_name IS NULL OR p.removed_at IS NOT NULL
            THEN 'new' ELSE 'changed' END AS event
FROM index_snapshot s
LEFT JOIN index_projects p ON p.normalized_name = s.normalized_name
WHERE p.normalized_name IS NULL
   OR p.removed_at IS NOT NULL
   OR (s.last_serial IS NOT NULL AND (p.last_serial IS NULL OR s.last_serial > p.last_serial))
"""

_REMOVED = """
SELECT p.normalized_name FROM index_projects p
WHERE p.removed_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM index_snapshot s WHERE s.normalized_name = p.normalized_name)
"""


async def load_snapshot(
    conn: AsyncConnection,
    canonical: Sequence[str],
    names: Sequence[str],
    serials: Sequence[int | None],
) -> None:
    """Bulk-load a listing into this transaction's temporary ``index_snapshot`` table."""
    dialect = conn.dialect.name
    await conn.exec_driver_sql(_CREATE[dialect])
    await conn.exec_driver_sql("DELETE FROM index_snapshot")
    if dialect == "postgresql":
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        for start in range(0, len(canonical), _BATCH):
            end = start + _BATCH
            records = list(
                zip(canonical[start:end], names[start:end], serials[start:end], strict=True)
            )
            await driver.copy_records_to_table(
                "index_snapshot",
                records=records,
                columns=["normalized_name", "name", "last_serial"],
            )
    else:
        for start in range(0, len(canonical), _BATCH):
            end = start + _BATCH
            rows = list(
                zip(canonical[start:end], names[start:end], serials[start:end], strict=True)
            )
            await conn.exec_driver_sql(
                "INSERT INTO index_snapshot (normalized_name, name, last_serial) VALUES (?, ?, ?)",
                rows,
            )
    await conn.exec_driver_sql(
        "CREATE INDEX IF NOT EXISTS ix_index_snapshot_name ON index_snapshot (normalized_name)"
    )


async def new_or_changed(
    conn: AsyncConnection,
) -> AsyncIterator[list[tuple[str, str, int | None, str]]]:
    """Batches of (normalized_name, name, last_serial, "new"|"changed") of the snapshot."""
    result = await conn.stream(text(_NEW_OR_CHANGED))
    async for batch in result.partitions(_BATCH):
        yield [(str(r[0]), str(r[1]), r[2], str(r[3])) for r in batch]


async def apply_snapshot(conn: AsyncConnection, now: datetime) -> ListingDiff:
    """Make the stored listing equal the snapshot; count new, changed and removed names."""
    diff = ListingDiff()
    diff.stored = int(
        (
            await conn.execute(text("SELECT count(*) FROM index_projects WHERE removed_at IS NULL"))
        ).scalar_one()
    )
    removed = int((await conn.execute(text(f"SELECT count(*) FROM ({_REMOVED}) r"))).scalar_one())  # noqa: S608 - constant SQL fragments
    if removed > _MASS_REMOVAL_MIN and removed > diff.stored * _MASS_REMOVAL_SHARE:
        raise ListingRefused(removed, diff.stored)
    counts = (
        await conn.execute(
            text(f"SELECT event, count(*) FROM ({_NEW_OR_CHANGED}) c GROUP BY event")  # noqa: S608 - constant SQL fragments
        )
    ).all()
    for event, count in counts:
        setattr(diff, str(event), int(count))
    diff.removed = removed
    await conn.execute(
        text(
            "INSERT INTO index_projects (normalized_name, name, last_serial, first_seen_at, "  # noqa: S608 - constant SQL fragments
            "removed_at) "
            "SELECT c.normalized_name, c.name, c.last_serial, :now, NULL "
            f"FROM ({_NEW_OR_CHANGED}) c WHERE true "
            "ON CONFLICT (normalized_name) DO UPDATE SET name = excluded.name, "
            "last_serial = excluded.last_serial, removed_at = NULL"
        ),
        {"now": _bind_time(conn, now)},
    )
    if removed:
        await conn.execute(
            text(
                f"UPDATE index_projects SET removed_at = :now WHERE normalized_name IN ({_REMOVED})"  # noqa: S608 - constant SQL fragments
            ),
            {"now": _bind_time(conn, now)},
        )
    return diff


def _bind_time(conn: AsyncConnection, now: datetime) -> Any:
    # The UTC column type stores naive UTC on SQLite and aware values on PostgreSQL.
    return now.replace(tzinfo=None) if conn.dialect.name == "sqlite" else now
