"""The public names the store knows: the stored listing (reconciles, the change log) and the
projects seen matching the catalog (the feeds), for the check API's in-memory view."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from watcher.store.models import IndexProject, PublicProject

_BATCH = 50_000


def _public_not_removed() -> ColumnElement[bool]:
    """Projects seen by the feeds, unless the listing saw them removed since."""
    removed = select(IndexProject.normalized_name).where(IndexProject.removed_at.is_not(None))
    return PublicProject.normalized_name.not_in(removed)


async def known_names(session: AsyncSession) -> AsyncIterator[list[str]]:
    """Batches of every canonical name known to be on the index now (duplicates possible)."""
    listed = await session.stream(
        select(IndexProject.normalized_name).where(IndexProject.removed_at.is_(None))
    )
    async for batch in listed.partitions(_BATCH):
        yield [str(r[0]) for r in batch]
    seen = await session.stream(select(PublicProject.normalized_name).where(_public_not_removed()))
    async for batch in seen.partitions(_BATCH):
        yield [str(r[0]) for r in batch]


async def changed_since(session: AsyncSession, since: datetime) -> tuple[set[str], set[str]]:
    """Names that appeared (or were seen) at or after ``since``, and names removed since."""
    added = set(
        (
            await session.scalars(
                select(IndexProject.normalized_name).where(
                    IndexProject.first_seen_at >= since, IndexProject.removed_at.is_(None)
                )
            )
        ).all()
    )
    added.update(
        (
            await session.scalars(
                select(PublicProject.normalized_name).where(
                    and_(PublicProject.first_seen_at >= since, _public_not_removed())
                )
            )
        ).all()
    )
    removed = set(
        (
            await session.scalars(
                select(IndexProject.normalized_name).where(IndexProject.removed_at >= since)
            )
        ).all()
    )
    return added - removed, removed


async def present(session: AsyncSession, names: list[str]) -> set[str]:
    """Which of ``names`` are on the index now again (a removed name may come back)."""
    found: set[str] = set()
    for start in range(0, len(names), 500):
        chunk = names[start : start + 500]
        rows = await session.scalars(
            select(IndexProject.normalized_name).where(
                IndexProject.normalized_name.in_(chunk), IndexProject.removed_at.is_(None)
            )
        )
        found.update(rows)
        rows = await session.scalars(
            select(PublicProject.normalized_name).where(
                PublicProject.normalized_name.in_(chunk), _public_not_removed()
            )
        )
        found.update(rows)
    return found
