"""Public projects that matched the catalog, and every release of theirs we saw.

Everything here comes from the index: each text is made storable on the way in
(:func:`~watcher.store.base.clean_text`): a version or organization too long for its
column is cut with a digest of the whole (so two long versions stay two releases), and a
display name that is no valid spelling of the project's name is replaced by that name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from watcher.names import spelling_of
from watcher.store.base import clean_list, clean_text, record, upsert_insert
from watcher.store.models import NAME_LENGTH, PublicProject, Release


@dataclass(frozen=True)
class ProjectDetails:
    """What the index told us about a project; ``None`` leaves the stored value alone."""

    latest_version: str | None = None
    summary: str | None = None
    author: str | None = None
    author_email: str | None = None
    owners: list[str] | None = None
    organization: str | None = None
    last_serial: int | None = None


@dataclass(frozen=True)
class ReleaseRecord:
    """One release in a project's history (to store once, or as stored)."""

    version: str
    source: str
    first_seen_at: datetime
    upload_time: datetime | None = None
    files: list[str] = field(default_factory=list)
    yanked: bool = False
    author: str | None = None
    owners: list[str] = field(default_factory=list)
    digests: list[str] = field(default_factory=list)  # the files' SHA-256 (hex)


async def upsert_project(
    session: AsyncSession,
    normalized_name: str,
    name: str,
    now: datetime,
    details: ProjectDetails,
) -> tuple[int, str]:
    """Insert or refresh a public project; return its id and display name."""
    name = spelling_of(name, normalized_name)
    details = _storable(details)
    table: Table = PublicProject.__table__  # type: ignore[assignment]
    await session.execute(
        upsert_insert(session, table)
        .values(
            normalized_name=normalized_name,
            name=name,
            first_seen_at=now,
            last_seen_at=now,
            owners=[],
        )
        .on_conflict_do_nothing(index_elements=["normalized_name"])
    )
    project = (
        await session.execute(
            select(PublicProject)
            .where(PublicProject.normalized_name == normalized_name)
            .with_for_update()
        )
    ).scalar_one()
    project.name = name
    project.last_seen_at = now
    for key, value in vars(details).items():
        if value is not None:
            setattr(project, key, value)
    return project.id, project.name


def storable_version(version: str) -> str:
    """A version as stored: fit for its column (cut with a digest when too long)."""
    return clean_text(version, NAME_LENGTH) or ""


def _storable(details: ProjectDetails) -> ProjectDetails:
    return ProjectDetails(
        latest_version=clean_text(details.latest_version, NAME_LENGTH),
        summary=clean_text(details.summary),
        author=clean_text(details.author),
        author_email=clean_text(details.author_email),
        owners=clean_list(details.owners),
        organization=clean_text(details.organization, NAME_LENGTH),
        last_serial=details.last_serial,
    )


async def add_release(session: AsyncSession, project_id: int, release: ReleaseRecord) -> bool:
    """Store a release once; True if it was new."""
    table: Table = Release.__table__  # type: ignore[assignment]
    values = {
        **vars(release),
        "version": storable_version(release.version),
        "author": clean_text(release.author),
        "owners": clean_list(release.owners),
        "files": clean_list(release.files),
        # Validated hex digests (pypi.details): kept as they are, at most one per file.
        "digests": list(release.digests)[: max(len(release.files), 1) * 4],
    }
    result = await session.execute(
        upsert_insert(session, table)
        .values(project_id=project_id, **values)
        .on_conflict_do_nothing(index_elements=["project_id", "version"])
        .returning(table.c.id)
    )
    return result.first() is not None


async def project_history(session: AsyncSession, normalized_name: str) -> list[ReleaseRecord]:
    """Every stored release of a public project, in the order first seen."""
    rows = await session.execute(
        select(Release)
        .join(PublicProject)
        .where(PublicProject.normalized_name == normalized_name)
        .order_by(Release.id)
    )
    return [
        record(
            ReleaseRecord,
            r,
            files=list(r.files),
            owners=list(r.owners),
            digests=list(r.digests or []),
        )
        for r in rows.scalars()
    ]
