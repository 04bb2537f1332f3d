"""Our own public projects, and which strangers' roles on them were already alerted.

A public project is recorded as ours (``public_projects.ours``) when the pipeline finds it
owned by one of the catalog's owners; it stays ours whoever holds its roles later.

A stranger's role on one of them is alerted once, whichever path saw it first (the change
log, or the ownership audit reading the JSON API), before or after a restart: the alert's
outbox key is per (public name, user, role). The JSON details do not say which role a
user holds (only that they hold one), so the audit's key has an unknown role (``*``),
which counts as the same alert as any known role of that user, both ways.
"""

from __future__ import annotations

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from watcher.store.base import clean_text
from watcher.store.models import OutboxAlert, PublicProject

ANY_ROLE = "*"  # the role of a user the JSON details list without saying which role
_PREFIX = "ours:"
# A user name as the index gives it may be anything: bounded so the key fits its column
# (cut with a digest of the whole, the same way on both paths).
_USER_LIMIT = 100
_ROLE_LIMIT = 32


def role_key(public: str, user: str, role: str | None) -> str:
    """The outbox key of the alert on ``user`` holding ``role`` (None: unknown) on our
    public project ``public`` (canonical)."""
    return f"{_PREFIX}{public}:{_part(user, _USER_LIMIT)}:{_part(role or ANY_ROLE, _ROLE_LIMIT)}"


async def role_alerted(session: AsyncSession, public: str, user: str, role: str | None) -> bool:
    """Whether ``user`` holding ``role`` (None: unknown) on ``public`` was alerted already:
    the same role, or an unknown role on either side.

    Takes a transaction-long lock on ``public``'s role alerts first (PostgreSQL; SQLite
    write transactions are serialized anyway), so that the change log and the audit,
    seeing the same stranger at once, cannot both find nothing and alert twice.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": _PREFIX + public}
        )
    wanted_user = _part(user, _USER_LIMIT)
    wanted_role = _part(role or ANY_ROLE, _ROLE_LIMIT)
    prefix = f"{_PREFIX}{public}:"
    # Canonical names have no LIKE wildcard ("%", "_"); escaped anyway, cheaply.
    pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    keys = await session.scalars(
        select(OutboxAlert.event_key).where(OutboxAlert.event_key.like(pattern, escape="\\"))
    )
    for key in keys:
        # Keys of before (ours:<public>:<serial>) have no user: they never match.
        alerted_user, sep, alerted_role = key[len(prefix) :].rpartition(":")
        if not sep or alerted_user != wanted_user:
            continue
        if ANY_ROLE in (alerted_role, wanted_role) or alerted_role == wanted_role:
            return True
    return False


async def mark_ours(session: AsyncSession, normalized_name: str) -> None:
    """Record the (stored) public project ``normalized_name`` as one of ours."""
    await session.execute(
        update(PublicProject)
        .where(PublicProject.normalized_name == normalized_name)
        .values(ours=True)
    )


async def is_ours(session: AsyncSession, normalized_name: str) -> bool:
    """Whether the public project ``normalized_name`` was recorded as one of ours."""
    found = await session.scalar(
        select(PublicProject.ours).where(PublicProject.normalized_name == normalized_name)
    )
    return bool(found)


async def our_projects(session: AsyncSession) -> dict[str, str]:
    """Every public project recorded as ours: canonical name -> display name."""
    rows = await session.execute(
        select(PublicProject.normalized_name, PublicProject.name).where(PublicProject.ours)
    )
    return {normalized: name for normalized, name in rows}


def _part(value: str, limit: int) -> str:
    # Lower case (user names and roles are case-insensitive on the index); ":" would
    # shift the key's fields.
    return clean_text(value.lower().replace(":", "%3a"), limit) or ""
