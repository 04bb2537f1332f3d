"""The catalog's footprint in the database: entries checked against the index, and the
state of each catalog source (what is loaded, the last failed reload)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from packaging.utils import NormalizedName
from sqlalchemy import Table, delete, insert, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from watcher.catalog.model import InternalPackage
from watcher.pypi.models import DistFile
from watcher.store.base import clean_text, error_text, record, upsert_insert
from watcher.store.models import NAME_LENGTH, CatalogCheck, CatalogPackage, CatalogState


async def unchecked_entries(
    session: AsyncSession, entries: Iterable[tuple[str, str]]
) -> list[tuple[str, str]]:
    """The ``(normalized_name, entry)`` pairs not yet checked against the index."""
    rows = await session.execute(select(CatalogCheck.normalized_name, CatalogCheck.entry))
    done = {(str(name), str(entry)) for name, entry in rows}
    return [pair for pair in entries if pair not in done]


async def mark_checked(
    session: AsyncSession, normalized_name: str, entry: str, *, found: bool, now: datetime
) -> None:
    """Remember that a catalog entry has been checked."""
    table: Table = CatalogCheck.__table__  # type: ignore[assignment]
    await session.execute(
        upsert_insert(session, table)
        .values(normalized_name=normalized_name, entry=entry, found=found, checked_at=now)
        .on_conflict_do_nothing(index_elements=["normalized_name", "entry"])
    )


async def forget_checked(session: AsyncSession, entries: Collection[tuple[str, str]]) -> None:
    """Forget entries that left the catalog: added back later, they are checked again."""
    if entries:
        await session.execute(
            delete(CatalogCheck).where(
                tuple_(CatalogCheck.normalized_name, CatalogCheck.entry).in_(list(entries))
            )
        )


@dataclass(frozen=True)
class CatalogStatus:
    """What one catalog source holds, and its last failed reload."""

    source: str
    digest: str | None
    loaded_at: datetime | None
    names: int
    prefixes: int
    allow: int
    owners: int
    last_error: str | None
    error_at: datetime | None
    mirrored: int = 0
    failing_since: datetime | None = None
    down_alerted_at: datetime | None = None


async def save_loaded(session: AsyncSession, status: CatalogStatus) -> None:
    """Record a catalog (re)loaded from ``status.source``; clears its last error."""
    state = await session.get(CatalogState, status.source)
    if state is None:
        state = CatalogState(source=status.source)
        session.add(state)
    state.digest, state.loaded_at = status.digest, status.loaded_at
    state.names, state.prefixes = status.names, status.prefixes
    state.allow, state.owners = status.allow, status.owners
    state.last_error, state.error_at = status.last_error, status.error_at
    state.mirrored = status.mirrored
    state.failing_since, state.down_alerted_at = None, None


async def get_status(session: AsyncSession, source: str) -> CatalogStatus | None:
    """The stored state of one catalog source, if any."""
    state = await session.get(CatalogState, source)
    return record(CatalogStatus, state) if state is not None else None


async def mark_down_alerted(session: AsyncSession, source: str, when: datetime | None) -> None:
    """Remember that a source's outage was alerted (``None``: its recovery was)."""
    state = await session.get(CatalogState, source)
    if state is not None:
        state.down_alerted_at = when


async def save_error(session: AsyncSession, source: str, error: str, now: datetime) -> None:
    """Record a failed reload of ``source`` (the catalog in use stays as it was)."""
    state = await session.get(CatalogState, source)
    if state is None:
        state = CatalogState(source=source, names=0, prefixes=0, allow=0, owners=0, mirrored=0)
        session.add(state)
    state.last_error, state.error_at = error_text(error), now
    if state.failing_since is None:
        state.failing_since = now


async def catalog_statuses(session: AsyncSession) -> list[CatalogStatus]:
    """Every catalog source's state."""
    rows = await session.execute(select(CatalogState).order_by(CatalogState.source))
    return [record(CatalogStatus, s) for s in rows.scalars()]


async def keep_only(session: AsyncSession, sources: Collection[str]) -> None:
    """Forget the state of catalog sources no longer configured."""
    await session.execute(delete(CatalogState).where(CatalogState.source.not_in(list(sources))))


@dataclass(frozen=True)
class StoredIndex:
    """The last good load of one private index, as stored."""

    packages: dict[NormalizedName, InternalPackage]
    mirrored: dict[NormalizedName, str]
    etags: dict[NormalizedName, str]
    loaded_at: datetime | None


async def save_index(
    session: AsyncSession,
    source: str,
    packages: Mapping[NormalizedName, InternalPackage],
    mirrored: Mapping[NormalizedName, InternalPackage | str],
    etags: Mapping[NormalizedName, str],
    now: datetime,
) -> None:
    """Replace the stored load of the index ``source`` with a new good one.

    ``mirrored`` maps a mirrored name to its reason (or its package, whose reason is
    given as a string by the caller); only the reason is kept for those.
    """
    await session.execute(delete(CatalogPackage).where(CatalogPackage.source == source))
    rows = [
        _row(source, name, package, None, etags.get(name), now)
        for name, package in packages.items()
    ]
    rows += [
        _row(source, name, None, reason if isinstance(reason, str) else "mirrored", None, now)
        for name, reason in mirrored.items()
    ]
    if rows:
        await session.execute(insert(CatalogPackage), rows)


def _row(
    source: str,
    name: NormalizedName,
    package: InternalPackage | None,
    mirrored: str | None,
    etag: str | None,
    now: datetime,
) -> dict[str, object]:
    return {
        "source": source,
        "normalized_name": name,
        "name": package.name[:NAME_LENGTH] if package else name,
        "versions": list(package.versions) if package else [],
        "files": [
            [f.filename, f.sha256, f.upload_time.isoformat() if f.upload_time else None]
            for f in (package.files if package else ())
        ],
        "mirrored": clean_text(mirrored) if mirrored else None,
        "etag": etag[:512] if etag else None,
        "loaded_at": now,
    }


async def load_index(session: AsyncSession, source: str) -> StoredIndex | None:
    """The last good load of the index ``source``, or None if it never loaded."""
    rows = (
        await session.execute(select(CatalogPackage).where(CatalogPackage.source == source))
    ).scalars()
    packages: dict[NormalizedName, InternalPackage] = {}
    mirrored: dict[NormalizedName, str] = {}
    etags: dict[NormalizedName, str] = {}
    loaded_at: datetime | None = None
    for row in rows:
        name = NormalizedName(row.normalized_name)
        loaded_at = row.loaded_at if loaded_at is None else max(loaded_at, row.loaded_at)
        if row.mirrored is not None:
            mirrored[name] = row.mirrored
            continue
        files = tuple(
            DistFile(
                filename=str(f[0]),
                sha256=f[1],
                upload_time=datetime.fromisoformat(f[2]) if f[2] else None,
            )
            for f in row.files
        )
        packages[name] = InternalPackage(
            name=row.name, source=source, versions=tuple(row.versions), files=files
        )
        if row.etag:
            etags[name] = row.etag
    if loaded_at is None:
        state = await session.get(CatalogState, source)
        if state is None or state.loaded_at is None:
            return None  # never loaded (an index that loaded empty has its state row)
        loaded_at = state.loaded_at
    return StoredIndex(packages, mirrored, etags, loaded_at)
