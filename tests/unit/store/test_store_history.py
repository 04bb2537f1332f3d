"""Public projects that matched the catalog and their release history, on SQLite and
PostgreSQL (schema from the migrations)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from watcher.store import Database, history
from watcher.store.history import ProjectDetails, ReleaseRecord
from watcher.store.models import PublicProject, Release

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)


def assert_utc(value: datetime | None) -> datetime:
    assert value is not None
    assert value.tzinfo is not None
    assert value.utcoffset() == timedelta(0)
    return value


async def new_project(db: Database, name: str = "acme-tools", now: datetime = T0) -> int:
    async with db.transaction() as session:
        project_id, _ = await history.upsert_project(session, name, name, now, ProjectDetails())
        return project_id


def release(version: str, **fields: object) -> ReleaseRecord:
    values: dict[str, object] = {"source": "feed:updates", "first_seen_at": T0}
    values.update(fields)
    return ReleaseRecord(version=version, **values)  # type: ignore[arg-type]


async def test_upsert_project_inserts_then_refreshes_keeping_first_seen(db: Database) -> None:
    later = T0 + timedelta(days=3)
    async with db.transaction() as session:
        first_id, first_name = await history.upsert_project(
            session,
            "acme-tools",
            "Acme_Tools",
            T0,
            ProjectDetails(summary="first summary", latest_version="1.0", owners=["mallory"]),
        )
    assert first_name == "Acme_Tools"
    async with db.transaction() as session:
        again_id, again_name = await history.upsert_project(
            session,
            "acme-tools",
            "acme.tools",
            later,
            ProjectDetails(summary=None, latest_version="2.0"),
        )
    assert again_id == first_id
    assert again_name == "acme.tools"  # the display name the index gives now
    async with db.transaction() as session:
        rows = list((await session.execute(select(PublicProject))).scalars())
    assert len(rows) == 1
    project = rows[0]
    assert project.first_seen_at == T0
    assert project.last_seen_at == later
    assert project.name == "acme.tools"
    assert project.latest_version == "2.0"
    assert project.summary == "first summary"  # None does not overwrite
    assert project.owners == ["mallory"]


async def test_upsert_project_stores_every_detail(db: Database) -> None:
    details = ProjectDetails(
        latest_version="3.1",
        summary="s",
        author="Mallory",
        author_email="m@example.com",
        owners=["mallory", "eve"],
        organization="evil-org",
        last_serial=12345678901,
    )
    async with db.transaction() as session:
        await history.upsert_project(session, "acme-x", "acme-x", T0, details)
    async with db.transaction() as session:
        project = (await session.execute(select(PublicProject))).scalar_one()
    assert {key: getattr(project, key) for key in vars(details)} == vars(details)
    # An empty list is a value (nobody owns it any more), unlike None.
    async with db.transaction() as session:
        await history.upsert_project(session, "acme-x", "acme-x", T0, ProjectDetails(owners=[]))
    async with db.transaction() as session:
        project = (await session.execute(select(PublicProject))).scalar_one()
    assert project.owners == []
    assert project.organization == "evil-org"


async def test_add_release_once_and_history_in_order_seen(db: Database) -> None:
    project_id = await new_project(db)
    other_id = await new_project(db, "acme-other")
    upload = datetime(2024, 4, 30, 8, 0, tzinfo=UTC)
    async with db.transaction() as session:
        for version in ("2.0", "1.0", "10.0"):
            assert await history.add_release(
                session,
                project_id,
                release(
                    version,
                    upload_time=upload,
                    files=[f"acme_tools-{version}.tar.gz"],
                    owners=["mallory"],
                    author="Mallory",
                ),
            )
        assert await history.add_release(session, other_id, release("2.0"))
    async with db.transaction() as session:
        assert not await history.add_release(
            session,
            project_id,
            release("1.0", files=["changed.tar.gz"], source="feed:packages", yanked=True),
        )
        found = await history.project_history(session, "acme-tools")
        assert await history.project_history(session, "nothing-here") == []
    assert [r.version for r in found] == ["2.0", "1.0", "10.0"]
    one = found[1]
    assert one.files == ["acme_tools-1.0.tar.gz"]  # the duplicate changed nothing
    assert one.source == "feed:updates"
    assert one.owners == ["mallory"]
    assert one.author == "Mallory"
    assert one.upload_time == upload
    assert assert_utc(one.first_seen_at) == T0
    assert one.yanked is False
    async with db.transaction() as session:
        count = len(list((await session.execute(select(Release))).scalars()))
        [other] = await history.project_history(session, "acme-other")
    assert count == 4
    # The defaults of a release the feed announced without details.
    assert (other.files, other.owners, other.yanked, other.upload_time, other.author) == (
        [],
        [],
        False,
        None,
        None,
    )
