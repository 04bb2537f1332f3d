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

from watcher.errors import WatcherError
from watcher.names import canonicalize_many

_BATCH = 50_000
# A listing that would remove more than this share of the stored names (and at least
# _MASS_REMOVAL_MIN of them) is refused: a truncated or broken listing must not "remove"
# the index.
_MASS_REMOVAL_SHARE = 0.05
_MASS_REMOVAL_MIN = 1_000


class ListingRefused(WatcherError):
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


_TEMP = "TEMP TABLE"
_TEMP_SUFFIX = {"sqlite": "", "postgresql": " ON COMMIT DROP"}
_TEMP_TABLES = ("index_snapshot", "index_delta", "index_gone")

# What the snapshot adds or changes, computed once per listing (one join over it). Serials
# only move forward: the change log may have stored a newer serial than this listing has
# (then the listing is behind for that name, not ahead). A name the change log saw removed
# carries the removal's serial, so a listing still showing its older self does not bring
# it back; one a listing dropped comes back when a listing shows it again.
#
# A listing should never hold one canonical name twice; if a broken one does, the spelling
# with the highest serial wins (two rows for one name would make the upsert fail).
_DELTA = """
SELECT {distinct} s.normalized_name, s.name, {serial} AS last_serial,
       CASE WHEN p.normalized_name IS NULL OR p.removed_at IS NOT NULL
            THEN 'new' ELSE 'changed' END AS event
FROM index_snapshot s{snapshot_index}
LEFT JOIN index_projects p ON p.normalized_name = s.normalized_name
WHERE p.normalized_name IS NULL
   OR (p.removed_at IS NOT NULL
       AND (s.last_serial IS NULL OR p.last_serial IS NULL OR s.last_serial >= p.last_serial))
   OR (p.removed_at IS NULL AND s.last_serial IS NOT NULL
       AND (p.last_serial IS NULL OR s.last_serial > p.last_serial))
{tail}"""
_DELTA_PARTS = {
    # SQLite: walk the snapshot in name order (its index), so that the lookups into the
    # stored listing (clustered by name) and the anti-join below go in order too. Grouping
    # follows that order for free; max() picks the bare columns' row.
    "sqlite": {
        "distinct": "",
        "serial": "max(s.last_serial)",
        "snapshot_index": " INDEXED BY ix_index_snapshot_name",
        "tail": "GROUP BY s.normalized_name\n",
    },
    "postgresql": {
        "distinct": "DISTINCT ON (s.normalized_name)",
        "serial": "s.last_serial",
        "snapshot_index": "",
        "tail": "ORDER BY s.normalized_name, s.last_serial DESC NULLS LAST\n",
    },
}

# What the snapshot no longer lists (one anti-join). A name stored with a serial newer
# than the listing's (the change log saw it created after this listing) is not "gone".
_GONE = """
SELECT p.normalized_name FROM index_projects p
WHERE p.removed_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM index_snapshot s WHERE s.normalized_name = p.normalized_name)
"""
_GONE_BEFORE = " AND (p.last_serial IS NULL OR p.last_serial <= {serial:d})"


async def load_snapshot(
    conn: AsyncConnection,
    names: Sequence[bytes],
    serials: Sequence[int | None],
    *,
    serial: int | None = None,
) -> int:
    """Bulk-load a listing (display names as the index gives them) into temporary tables of
    this transaction and diff it; return how many names it holds.

    After this, ``index_delta`` holds new and changed names and ``index_gone`` the names
    the listing no longer has; :func:`new_or_changed` and :func:`apply_snapshot` read them.
    ``serial`` is the listing's own (global) serial, when it has one.
    Names are canonicalized and decoded batch by batch, so a million of them never exist
    as Python strings at once.
    """
    dialect = conn.dialect.name
    suffix = _TEMP_SUFFIX[dialect]
    for table in _TEMP_TABLES:
        await conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
    serial_type = "BIGINT" if dialect == "postgresql" else "INTEGER"
    await conn.exec_driver_sql(
        f"CREATE {_TEMP} index_snapshot (normalized_name TEXT NOT NULL, name TEXT NOT NULL, "
        f"last_serial {serial_type}){suffix}"
    )
    driver: Any = (await conn.get_raw_connection()).driver_connection
    for start in range(0, len(names), _BATCH):
        batch = names[start : start + _BATCH]
        rows = list(
            zip(
                canonicalize_many(batch),
                [n.decode() for n in batch],
                serials[start : start + _BATCH],
                strict=True,
            )
        )
        if dialect == "postgresql":
            await driver.copy_records_to_table(
                "index_snapshot", records=rows, columns=["normalized_name", "name", "last_serial"]
            )
        else:
            await conn.exec_driver_sql(
                "INSERT INTO index_snapshot (normalized_name, name, last_serial) VALUES (?, ?, ?)",
                rows,
            )
    if dialect == "postgresql":
        # Hash joins in memory rather than spilled to disk, and the planner told the size.
        await conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
        await conn.exec_driver_sql("ANALYZE index_snapshot")
    else:
        # SQLite joins through indexes; built after the load: one sort, not 1M updates.
        # With the serial in it, the diff reads the snapshot's rows only for changed names.
        await conn.exec_driver_sql(
            "CREATE INDEX ix_index_snapshot_name ON index_snapshot (normalized_name, last_serial)"
        )
    delta = _DELTA.format(**_DELTA_PARTS[dialect])
    await conn.exec_driver_sql(f"CREATE {_TEMP} index_delta{suffix} AS {delta}")
    gone = _GONE + (_GONE_BEFORE.format(serial=serial) if serial is not None else "")
    await conn.exec_driver_sql(f"CREATE {_TEMP} index_gone{suffix} AS {gone}")
    return len(names)


async def new_or_changed(
    conn: AsyncConnection,
) -> AsyncIterator[list[tuple[str, str, int | None, str]]]:
    """Batches of (normalized_name, name, last_serial, "new"|"changed") of the listing."""
    result = await conn.stream(
        text("SELECT normalized_name, name, last_serial, event FROM index_delta")
    )
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
    diff.removed = int((await conn.execute(text("SELECT count(*) FROM index_gone"))).scalar_one())
    if diff.removed > _MASS_REMOVAL_MIN and diff.removed > diff.stored * _MASS_REMOVAL_SHARE:
        raise ListingRefused(diff.removed, diff.stored)
    counts = (
        await conn.execute(text("SELECT event, count(*) FROM index_delta GROUP BY event"))
    ).all()
    for event, count in counts:
        setattr(diff, str(event), int(count))
    stamp = {"now": _bind_time(conn, now)}
    await conn.execute(
        text(
            "INSERT INTO index_projects (normalized_name, name, last_serial, first_seen_at, "
            "removed_at) SELECT normalized_name, name, last_serial, :now, NULL "
            "FROM index_delta WHERE true "
            "ON CONFLICT (normalized_name) DO UPDATE SET name = excluded.name, "
            "last_serial = excluded.last_serial, removed_at = NULL"
        ),
        stamp,
    )
    if diff.removed:
        await conn.execute(
            text(
                "UPDATE index_projects SET removed_at = :now "
                "WHERE normalized_name IN (SELECT normalized_name FROM index_gone)"
            ),
            stamp,
        )
    if conn.dialect.name == "sqlite":
        # SQLite keeps temporary tables for the connection's life: free them now.
        for table in _TEMP_TABLES:
            await conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
    return diff


def _bind_time(conn: AsyncConnection, now: datetime) -> Any:
    # The UTC column type stores naive UTC on SQLite and aware values on PostgreSQL.
    return now.replace(tzinfo=None) if conn.dialect.name == "sqlite" else now


async def resolve_removed(conn: AsyncConnection, now: datetime) -> list[tuple[str, str, str]]:
    """Resolve the open findings of public names the listing no longer has.

    Returns the (public_name, internal_name, kind) of every finding it resolved.
    """
    where = "status = 'open' AND public_name IN (SELECT normalized_name FROM index_gone)"
    rows = (
        await conn.execute(
            text(
                f"SELECT public_name, internal_name, kind FROM findings WHERE {where} "  # noqa: S608 - constant
                "ORDER BY public_name, internal_name"
            )
        )
    ).all()
    if rows:
        await conn.execute(
            text(f"UPDATE findings SET status = 'resolved', updated_at = :now WHERE {where}"),  # noqa: S608 - constant
            {"now": _bind_time(conn, now)},
        )
    return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]
