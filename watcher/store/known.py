"""The public names the store knows: the stored listing (reconciles, the change log) and the
projects seen matching the catalog (the feeds), for the check API's in-memory view."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from watcher.store.models import (
    Finding,
    FindingStatus,
    IndexProject,
    PublicProject,
    Release,
)

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


async def known_names_text(session: AsyncSession) -> bytes:
    """What :func:`known_names` yields, as one buffer of names one per line (duplicates
    possible), for a one-shot scan: the database joins them, so a million names cost one
    value instead of a million rows through the driver (0.3 s instead of 5 on SQLite)."""
    parts: list[str] = []
    for query in (
        select(func.aggregate_strings(IndexProject.normalized_name, "\n")).where(
            IndexProject.removed_at.is_(None)
        ),
        select(func.aggregate_strings(PublicProject.normalized_name, "\n")).where(
            _public_not_removed()
        ),
    ):
        joined = await session.scalar(query)
        if joined:
            parts.append(str(joined))
    return "\n".join(parts).encode()


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


@dataclass(frozen=True)
class StoredProject:
    """What the store keeps of a public project that matched the catalog, for verdicts."""

    name: str
    latest_version: str | None
    first_release: datetime | None  # the earliest upload time of its stored releases
    owners: tuple[str, ...]
    ours: bool
    findings: tuple[FindingBrief, ...] = ()


@dataclass(frozen=True)
class FindingBrief:
    """An open (or acknowledged) finding of a public project, as a verdict lists it."""

    id: int
    internal_name: str
    kind: str
    status: str
    risk: str | None


async def stored_projects(session: AsyncSession) -> dict[str, StoredProject]:
    """Every stored public project, by canonical name, with its findings still open or
    acknowledged (a few thousand rows: read whole)."""
    first = (
        select(Release.project_id, func.min(Release.upload_time).label("first"))
        .group_by(Release.project_id)
        .subquery()
    )
    rows = await session.execute(
        select(
            PublicProject.normalized_name,
            PublicProject.name,
            PublicProject.latest_version,
            PublicProject.owners,
            PublicProject.ours,
            first.c.first,
        ).outerjoin(first, first.c.project_id == PublicProject.id)
    )
    findings: dict[str, list[FindingBrief]] = {}
    active = (FindingStatus.OPEN, FindingStatus.ACKNOWLEDGED)
    for row in await session.execute(
        select(
            Finding.public_name,
            Finding.id,
            Finding.internal_name,
            Finding.kind,
            Finding.status,
            Finding.risk,
        )
        .where(Finding.status.in_(active))
        .order_by(Finding.id)
    ):
        findings.setdefault(str(row[0]), []).append(
            FindingBrief(int(row[1]), str(row[2]), str(row[3]), str(row[4]), row[5])
        )
    return {
        str(normalized): StoredProject(
            name=str(name),
            latest_version=latest,
            first_release=first_upload,
            owners=tuple(str(o) for o in owners or ()),
            ours=bool(ours),
            findings=tuple(findings.get(str(normalized), ())),
        )
        for normalized, name, latest, owners, ours, first_upload in rows
    }
