"""Every query the daemon runs. Functions take an ``AsyncSession`` already in a transaction."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from watcher.store.base import utcnow
from watcher.store.models import (
    CatalogCheck,
    FeedState,
    Finding,
    IndexEvent,
    IndexProject,
    IndexState,
    JournalState,
    OutboxAlert,
    PublicProject,
    Release,
)


def _insert(session: AsyncSession, table: Table) -> Any:
    """``INSERT`` of the session's dialect, so ``on_conflict_do_nothing`` works on both."""
    dialect = session.get_bind().dialect.name
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


# --- feed cursor -------------------------------------------------------------------------


async def get_feed_state(session: AsyncSession, feed: str) -> FeedState | None:
    """The stored cursor of ``feed``, if any."""
    return await session.get(FeedState, feed)


async def save_feed_state(
    session: AsyncSession,
    feed: str,
    *,
    etag: str | None,
    seen_keys: list[str],
    now: datetime,
    gap: bool = False,
) -> int:
    """Advance the cursor of ``feed`` to the page just processed; return its gap count."""
    state = await session.get(FeedState, feed, with_for_update=True)
    if state is None:
        state = FeedState(feed=feed, gaps=0)
        session.add(state)
    if gap:
        state.gaps += 1
    state.etag = etag
    state.seen_keys = seen_keys
    state.newest_key = seen_keys[0] if seen_keys else None
    state.polled_at = now
    state.advanced_at = now
    return state.gaps


async def touch_feed_state(session: AsyncSession, feed: str, now: datetime) -> None:
    """Record a poll that found nothing new (304): the cursor stays where it is."""
    await session.execute(update(FeedState).where(FeedState.feed == feed).values(polled_at=now))


# --- public projects and their history ----------------------------------------------------


async def upsert_project(
    session: AsyncSession, normalized_name: str, name: str, now: datetime, **details: Any
) -> PublicProject:
    """Insert or refresh a public project; ``details`` overwrite only when not ``None``."""
    table: Table = PublicProject.__table__  # type: ignore[assignment]
    await session.execute(
        _insert(session, table)
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
    for key, value in details.items():
        if value is not None:
            setattr(project, key, value)
    return project


async def add_release(session: AsyncSession, project_id: int, version: str, **fields: Any) -> bool:
    """Store a release once; True if it was new."""
    table: Table = Release.__table__  # type: ignore[assignment]
    fields.setdefault("files", [])
    fields.setdefault("owners", [])
    fields.setdefault("yanked", False)
    fields.setdefault("first_seen_at", utcnow())
    result = await session.execute(
        _insert(session, table)
        .values(project_id=project_id, version=version, **fields)
        .on_conflict_do_nothing(index_elements=["project_id", "version"])
        .returning(table.c.id)
    )
    return result.first() is not None


async def project_history(session: AsyncSession, normalized_name: str) -> list[Release]:
    """Every stored release of a public project, in the order first seen."""
    rows = await session.execute(
        select(Release)
        .join(PublicProject)
        .where(PublicProject.normalized_name == normalized_name)
        .order_by(Release.id)
    )
    return list(rows.scalars())


# --- findings ------------------------------------------------------------------------------


async def add_finding(
    session: AsyncSession,
    *,
    public_name: str,
    internal_name: str,
    kind: str,
    detail: str,
    now: datetime,
) -> bool:
    """Open a finding unless one exists for the same names and kind; True if it was new."""
    table: Table = Finding.__table__  # type: ignore[assignment]
    result = await session.execute(
        _insert(session, table)
        .values(
            public_name=public_name,
            internal_name=internal_name,
            kind=kind,
            detail=detail,
            status="open",
            first_seen_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["public_name", "internal_name", "kind"])
        .returning(table.c.id)
    )
    return result.first() is not None


async def reopen_findings(session: AsyncSession, public_name: str, now: datetime) -> list[Finding]:
    """Reopen the resolved findings of a public name that exists again; return them."""
    rows = await session.execute(
        update(Finding)
        .where(Finding.public_name == public_name, Finding.status == "resolved")
        .values(status="open", updated_at=now)
        .returning(Finding)
    )
    return list(rows.scalars())


async def resolve_open_findings(
    session: AsyncSession, public_names: Iterable[str], now: datetime
) -> list[tuple[str, str, str]]:
    """Resolve the open findings of public names removed from the index.

    Returns (public_name, internal_name, kind) of each finding resolved, sorted. Findings
    are few next to a page of names, so the open ones are read and intersected here.
    """
    names = set(public_names)
    if not names:
        return []
    rows = await session.execute(
        select(Finding.id, Finding.public_name, Finding.internal_name, Finding.kind).where(
            Finding.status == "open"
        )
    )
    hit = sorted((r[1], r[2], r[3], r[0]) for r in rows if r[1] in names)
    if hit:
        await session.execute(
            update(Finding)
            .where(Finding.id.in_([h[3] for h in hit]))
            .values(status="resolved", updated_at=now)
        )
    return [(h[0], h[1], h[2]) for h in hit]


async def findings_for(session: AsyncSession, public_name: str) -> list[Finding]:
    """Findings recorded for one public name."""
    rows = await session.execute(
        select(Finding).where(Finding.public_name == public_name).order_by(Finding.id)
    )
    return list(rows.scalars())


# --- alert outbox --------------------------------------------------------------------------


async def enqueue_alert(
    session: AsyncSession,
    *,
    event_key: str,
    public_name: str,
    payload: dict[str, Any],
    now: datetime,
) -> bool:
    """Add an alert unless one exists for ``event_key``; True if it was new."""
    table: Table = OutboxAlert.__table__  # type: ignore[assignment]
    result = await session.execute(
        _insert(session, table)
        .values(
            event_key=event_key,
            public_name=public_name,
            payload=payload,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["event_key"])
        .returning(table.c.id)
    )
    return result.first() is not None


async def claim_due_alerts(session: AsyncSession, now: datetime, limit: int) -> list[OutboxAlert]:
    """Move due pending alerts to ``sending`` and return them (skipping rows others hold)."""
    rows = await session.execute(
        select(OutboxAlert)
        .where(OutboxAlert.status == "pending", OutboxAlert.next_attempt_at <= now)
        .order_by(OutboxAlert.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = list(rows.scalars())
    for alert in claimed:
        alert.status = "sending"
        alert.claimed_at = now
        alert.attempts += 1
    return claimed


async def in_flight_alerts(session: AsyncSession) -> list[OutboxAlert]:
    """Alerts left in ``sending``: a process died between posting and recording the post."""
    rows = await session.execute(
        select(OutboxAlert).where(OutboxAlert.status == "sending").order_by(OutboxAlert.id)
    )
    return list(rows.scalars())


async def mark_alert_sent(
    session: AsyncSession, alert_id: int, *, slack_ts: str | None, now: datetime
) -> None:
    """Record a delivered alert."""
    await session.execute(
        update(OutboxAlert)
        .where(OutboxAlert.id == alert_id)
        .values(status="sent", sent_at=now, slack_ts=slack_ts, last_error=None)
    )


async def mark_alert_failed(
    session: AsyncSession, alert_id: int, *, error: str, retry_in: timedelta, now: datetime
) -> None:
    """Put an alert back in the queue, due again after ``retry_in``."""
    await session.execute(
        update(OutboxAlert)
        .where(OutboxAlert.id == alert_id)
        .values(status="pending", next_attempt_at=now + retry_in, last_error=error[:2000])
    )


async def release_alerts(session: AsyncSession, alert_ids: list[int]) -> None:
    """Hand claimed but unattempted alerts back to the queue, as if never claimed."""
    await session.execute(
        update(OutboxAlert)
        .where(OutboxAlert.id.in_(alert_ids), OutboxAlert.status == "sending")
        .values(status="pending", attempts=OutboxAlert.attempts - 1)
    )


async def outbox_counts(session: AsyncSession) -> dict[str, int]:
    """Number of outbox rows per status."""
    rows = await session.execute(
        select(OutboxAlert.status, func.count()).group_by(OutboxAlert.status)
    )
    return {str(status): int(count) for status, count in rows}


async def coverage(session: AsyncSession) -> dict[str, Any]:
    """Where every source stands: what the service has looked at, and what waits.

    The answer to "did anything slip through?": feed cursors with their gap counts, the
    last whole-index listing applied, the change-log cursor, and the queues.
    """
    feeds = {
        state.feed: {
            "polled_at": _iso(state.polled_at),
            "advanced_at": _iso(state.advanced_at),
            "gaps": state.gaps,
        }
        for state in (await session.execute(select(FeedState).order_by(FeedState.feed))).scalars()
    }
    index = await session.get(IndexState, 1)
    journal = await session.get(JournalState, 1)
    findings = await session.execute(select(Finding.status, func.count()).group_by(Finding.status))
    return {
        "feeds": feeds,
        "index": None
        if index is None
        else {
            "serial": index.serial,
            "projects": index.projects,
            "reconciled_at": _iso(index.reconciled_at),
        },
        "journal": None
        if journal is None
        else {
            "serial": journal.serial,
            "failures": journal.failures,
            "retry_at": _iso(journal.retry_at),
            "last_error": journal.last_error,
            "updated_at": _iso(journal.updated_at),
        },
        "pending_index_events": int(
            await session.scalar(select(func.count()).select_from(IndexEvent)) or 0
        ),
        "alerts": await outbox_counts(session),
        "findings": {str(status): int(count) for status, count in findings},
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# --- first-start catalog checks ------------------------------------------------------------


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
        _insert(session, table)
        .values(normalized_name=normalized_name, entry=entry, found=found, checked_at=now)
        .on_conflict_do_nothing(index_elements=["normalized_name", "entry"])
    )


# --- stored listing ----------------------------------------------------------------------


async def upsert_listing_rows(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Insert or update stored-listing rows (keys of :class:`IndexProject`) in bulk.

    A row only overwrites a stored one with an older serial: a journal page and a listing
    may arrive in either order, and the newer knowledge wins.
    """
    table = IndexProject.__table__
    stmt = _insert(session, table)  # type: ignore[arg-type]
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


async def listing_serials(session: AsyncSession, names: list[str]) -> dict[str, tuple[int, bool]]:
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


# --- change-log cursor ---------------------------------------------------------------------


async def save_journal_cursor(session: AsyncSession, serial: int, now: datetime) -> None:
    """Move the change-log cursor to ``serial`` after a good call; any backoff ends."""
    state = await session.get(JournalState, 1)
    if state is None:
        state = JournalState(id=1)
        session.add(state)
    state.serial, state.failures, state.retry_at, state.last_error = serial, 0, None, None
    state.updated_at = now
