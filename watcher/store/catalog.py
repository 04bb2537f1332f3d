"""The catalog's footprint in the database: entries checked against the index, and the
state of each catalog source (what is loaded, the last failed reload)."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Table, delete, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from watcher.store.base import error_text, record, upsert_insert
from watcher.store.models import CatalogCheck, CatalogState


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


async def save_error(session: AsyncSession, source: str, error: str, now: datetime) -> None:
    """Record a failed reload of ``source`` (the catalog in use stays as it was)."""
    state = await session.get(CatalogState, source)
    if state is None:
        state = CatalogState(source=source, names=0, prefixes=0, allow=0, owners=0)
        session.add(state)
    state.last_error, state.error_at = error_text(error), now


async def catalog_statuses(session: AsyncSession) -> list[CatalogStatus]:
    """Every catalog source's state."""
    rows = await session.execute(select(CatalogState).order_by(CatalogState.source))
    return [record(CatalogStatus, s) for s in rows.scalars()]


async def keep_only(session: AsyncSession, sources: Collection[str]) -> None:
    """Forget the state of catalog sources no longer configured."""
    await session.execute(delete(CatalogState).where(CatalogState.source.not_in(list(sources))))
