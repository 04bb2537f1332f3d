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

from sqlalchemy import bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from watcher.errors import ListingRefused
from watcher.names import canonicalize_many
from watcher.store.base import UTCDateTime, record, upsert_insert
from watcher.store.models import Finding, FindingStatus, IndexProject, IndexState

_BATCH = 50_000
# A listing that would remove more than this share of the stored names (and at least
# _MASS_REMOVAL_MIN of them) is refused: a truncated or broken listing must not "remove"
# the index.
_MASS_REMOVAL_SHARE = 0.05
_MASS_REMOVAL_MIN = 1_000


@dataclass
class ListingDiff:
    """Counts of what a listing changed."""

    new: int = 0
    changed: int = 0
    removed: int = 0
    stored: int = 0


_TEMP = "TEMP TABLE"
_TEMP_SUFFIX = {"sqlite": "", "postgresql": " ON COMMIT DROP"}
_TEMP_TABLES = ("index_snapshot", "index_diff", "index_delta", "index_gone")

# A snapshot row that is new or changed against the stored listing. Serials only move
# forward: the change log may have stored a newer serial than this listing has (then the
# listing is behind for that name, not ahead). A name the change log saw removed carries
# the removal's serial, so a listing still showing its older self does not bring it back;
# one a listing dropped comes back when a listing shows it again.
_CHANGED = """(p.normalized_name IS NULL
   OR (p.removed_at IS NOT NULL
       AND (s.last_serial IS NULL OR p.last_serial IS NULL OR s.last_serial >= p.last_serial))
   OR (p.removed_at IS NULL AND s.last_serial IS NOT NULL
       AND (p.last_serial IS NULL OR s.last_serial > p.last_serial)))"""
_EVENT = """CASE WHEN p.normalized_name IS NULL OR p.removed_at IS NOT NULL
            THEN 'new' ELSE 'changed' END"""
# A stored name the listing no longer has; unless its stored serial is newer than the
# listing's (the change log saw it created after this listing): that one is not "gone".
_GONE_BEFORE = " AND (p.last_serial IS NULL OR p.last_serial <= {serial:d})"

# SQLite: a join and an anti-join through indexes, both walked in name order (the
# snapshot's index, the stored listing clustered by name), which keeps a million lookups
# cache-warm. Grouping follows that order for free; max() picks the bare columns' row.
# A listing should never hold one canonical name twice; if a broken one does, the
# spelling with the highest serial wins (two rows for one name would break the upsert).
_SQLITE_DELTA = f"""
SELECT s.normalized_name, s.name, max(s.last_serial) AS last_serial, {_EVENT} AS event
FROM index_snapshot s INDEXED BY ix_index_snapshot_name
LEFT JOIN index_projects p ON p.normalized_name = s.normalized_name
WHERE {_CHANGED}
GROUP BY s.normalized_name
"""  # noqa: S608 - built from constants
_SQLITE_GONE = """
SELECT p.normalized_name FROM index_projects p
WHERE p.removed_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM index_snapshot s WHERE s.normalized_name = p.normalized_name)
"""

# PostgreSQL: one hash full join finds both sides at once (half the work of a join plus
# an anti-join over a million rows each); the small result is then split.
_PG_DIFF = f"""
SELECT s.normalized_name AS s_name, s.name, s.last_serial, p.normalized_name AS p_name,
       {_EVENT} AS event
FROM index_snapshot s FULL JOIN index_projects p ON p.normalized_name = s.normalized_name
WHERE (s.normalized_name IS NULL AND p.removed_at IS NULL{{gone_before}})
   OR (s.normalized_name IS NOT NULL AND {_CHANGED})
"""  # noqa: S608 - built from constants
_PG_DELTA = """
SELECT DISTINCT ON (s_name) s_name AS normalized_name, name, last_serial, event
FROM index_diff WHERE s_name IS NOT NULL
ORDER BY s_name, last_serial DESC NULLS LAST
"""
_PG_GONE = "SELECT p_name AS normalized_name FROM index_diff WHERE s_name IS NULL"


async def load_snapshot(
    session: AsyncSession,
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
    as Python strings at once. Call inside :meth:`Database.write`, after
    :func:`lock_state`.
    """
    conn = await session.connection()
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
    gone_before = _GONE_BEFORE.format(serial=serial) if serial is not None else ""
    if dialect == "postgresql":
        diff = _PG_DIFF.format(gone_before=gone_before)
        await conn.exec_driver_sql(f"CREATE {_TEMP} index_diff{suffix} AS {diff}")
        delta, gone = _PG_DELTA, _PG_GONE
    else:
        delta, gone = _SQLITE_DELTA, _SQLITE_GONE + gone_before
    await conn.exec_driver_sql(f"CREATE {_TEMP} index_delta{suffix} AS {delta}")
    await conn.exec_driver_sql(f"CREATE {_TEMP} index_gone{suffix} AS {gone}")
    return len(names)


async def new_or_changed(
    session: AsyncSession,
) -> AsyncIterator[list[tuple[str, str, int | None, str]]]:
    """Batches of (normalized_name, name, last_serial, "new"|"changed") of the listing."""
    conn = await session.connection()
    result = await conn.stream(
        text("SELECT normalized_name, name, last_serial, event FROM index_delta")
    )
    async for batch in result.partitions(_BATCH):
        yield [(str(r[0]), str(r[1]), r[2], str(r[3])) for r in batch]


async def apply_snapshot(session: AsyncSession, now: datetime) -> ListingDiff:
    """Make the stored listing equal the snapshot; count new, changed and removed names."""
    conn = await session.connection()
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
    # Bound through the column type: naive UTC on SQLite, aware on PostgreSQL.
    stamp = {"now": now}
    now_param = bindparam("now", type_=UTCDateTime())
    await conn.execute(
        text(
            "INSERT INTO index_projects (normalized_name, name, last_serial, first_seen_at, "
            "removed_at) SELECT normalized_name, name, last_serial, :now, NULL "
            "FROM index_delta WHERE true "
            "ON CONFLICT (normalized_name) DO UPDATE SET name = excluded.name, "
            "last_serial = excluded.last_serial, removed_at = NULL"
        ).bindparams(now_param),
        stamp,
    )
    if diff.removed:
        await conn.execute(
            text(
                "UPDATE index_projects SET removed_at = :now "
                "WHERE normalized_name IN (SELECT normalized_name FROM index_gone)"
            ).bindparams(now_param),
            stamp,
        )
    if conn.dialect.name == "sqlite":
        # SQLite keeps temporary tables for the connection's life: free them now.
        for table in _TEMP_TABLES:
            await conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
    return diff


async def count_new(session: AsyncSession) -> int:
    """How many names of the loaded listing are new (or back) to the stored listing."""
    query = text("SELECT count(*) FROM index_delta WHERE event = 'new'")
    return int((await session.execute(query)).scalar_one())


async def gone_with_findings(session: AsyncSession) -> list[str]:
    """The names the loaded listing no longer has that have a finding not resolved (open,
    acknowledged or suppressed)."""
    findings = Finding.__tablename__
    rows = await session.execute(
        text(
            f"SELECT DISTINCT f.public_name FROM {findings} f "  # noqa: S608 - a constant
            "JOIN index_gone g ON g.normalized_name = f.public_name WHERE f.status <> :resolved"
        ),
        {"resolved": str(FindingStatus.RESOLVED)},
    )
    return [str(row[0]) for row in rows]


async def keep(session: AsyncSession, names: Sequence[str]) -> None:
    """Take names off the loaded listing's removals: they stay on the stored listing."""
    for start in range(0, len(names), 500):
        await session.execute(
            text("DELETE FROM index_gone WHERE normalized_name IN :names").bindparams(
                bindparam("names", expanding=True)
            ),
            {"names": list(names[start : start + 500])},
        )


async def gone_names(session: AsyncSession) -> list[str]:
    """The stored names the loaded listing no longer has (never more than the share
    :func:`apply_snapshot` accepts, or it refuses the listing)."""
    rows = await session.execute(text("SELECT normalized_name FROM index_gone"))
    return [str(row[0]) for row in rows]


@dataclass(frozen=True)
class ListingState:
    """The last listing applied."""

    serial: int | None
    etag: str | None
    projects: int
    reconciled_at: datetime | None


async def get_state(session: AsyncSession) -> ListingState | None:
    """The last listing applied, if any."""
    state = await session.get(IndexState, 1)
    if state is None:
        return None
    return record(ListingState, state)


async def lock_state(session: AsyncSession) -> None:
    """Serialize listing writers on PostgreSQL (SQLite's write transaction already does)."""
    await session.execute(select(IndexState.id).where(IndexState.id == 1).with_for_update())


async def save_state(
    session: AsyncSession, *, serial: int | None, etag: str | None, projects: int, now: datetime
) -> None:
    """Record the listing just applied."""
    state = await session.get(IndexState, 1)
    if state is None:
        state = IndexState(id=1)
        session.add(state)
    state.serial, state.etag, state.projects, state.reconciled_at = serial, etag, projects, now


async def upsert_rows(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Insert or update stored-listing rows (keys of :class:`IndexProject`) in bulk.

    A row only overwrites a stored one with an older serial: a journal page and a listing
    may arrive in either order, and the newer knowledge wins.
    """
    if not rows:
        return
    table = IndexProject.__table__
    stmt = upsert_insert(session, table)  # type: ignore[arg-type]
    stmt = stmt.on_conflict_do_update(
        index_elements=["normalized_name"],
        set_={
            "name": stmt.excluded.name,
            "last_serial": stmt.excluded.last_serial,
            "removed_at": stmt.excluded.removed_at,
        },
        where=(table.c.last_serial.is_(None)) | (stmt.excluded.last_serial > table.c.last_serial),
    )
    await session.execute(stmt, rows)


async def stored_serials(session: AsyncSession, names: list[str]) -> dict[str, tuple[int, bool]]:
    """The stored serial of each name that has one, and whether it is stored as removed."""
    found: dict[str, tuple[int, bool]] = {}
    for start in range(0, len(names), 500):
        rows = await session.execute(
            select(
                IndexProject.normalized_name, IndexProject.last_serial, IndexProject.removed_at
            ).where(IndexProject.normalized_name.in_(names[start : start + 500]))
        )
        found.update({str(n): (int(s), r is not None) for n, s, r in rows if s is not None})
    return found


async def stored_names(session: AsyncSession) -> AsyncIterator[list[tuple[str, str, int | None]]]:
    """Batches of (normalized_name, name, last_serial) of every project on the index now."""
    result = await session.stream(
        select(IndexProject.normalized_name, IndexProject.name, IndexProject.last_serial).where(
            IndexProject.removed_at.is_(None)
        )
    )
    async for batch in result.partitions(_BATCH):
        yield [(str(r[0]), str(r[1]), r[2]) for r in batch]


async def has_listing(session: AsyncSession) -> bool:
    """True once a whole listing of the index has been applied."""
    return await get_state(session) is not None


async def stored_among(session: AsyncSession, names: Sequence[str]) -> set[str]:
    """Which of ``names`` (canonical) the stored listing holds as on the index now."""
    found: set[str] = set()
    for start in range(0, len(names), 500):
        rows = await session.execute(
            select(IndexProject.normalized_name).where(
                IndexProject.normalized_name.in_(names[start : start + 500]),
                IndexProject.removed_at.is_(None),
            )
        )
        found.update(str(n) for (n,) in rows)
    return found
