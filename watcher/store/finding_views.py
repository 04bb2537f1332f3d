"""Findings as people read them: filtered lists sorted by risk then time, paged with a
cursor, and one finding in detail (its history, the public project's releases and owners).

The risk a finding is sorted and filtered by is the one it was last alerted with: its
stored risk, or its kind's severity for a finding recorded before risks were assessed from
versions, and critical for a value nobody can read (never lower than it really is).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from watcher.errors import FindingNotFound
from watcher.matching.model import KIND_SEVERITY, MatchKind, Risk
from watcher.store.base import record
from watcher.store.findings import MAX_ID, FindingRow, row_of
from watcher.store.history import ReleaseRecord, project_history
from watcher.store.models import Finding, FindingEvent, PublicProject

# Highest risk first: the rank of each risk's name in the sort (0 sorts first).
RISK_ORDER = tuple(str(r) for r in sorted(Risk, reverse=True))
_RANK = {name: rank for rank, name in enumerate(RISK_ORDER)}
_KIND_RANK = {str(kind): _RANK[str(risk)] for kind, risk in KIND_SEVERITY.items()}
MAX_PAGE = 500
_CURSOR_LIMIT = 200

_rank = case(
    _RANK,
    value=Finding.risk,
    else_=case(
        (Finding.risk.is_(None), case(_KIND_RANK, value=Finding.kind, else_=0)),
        else_=0,
    ),
)


class InvalidCursor(ValueError):
    """A page cursor that this service did not hand out (or one cut or altered)."""


def effective_risk(finding: FindingRow) -> str:
    """The risk a finding is shown, sorted and filtered with (see the module's doc)."""
    if finding.risk is not None:
        return finding.risk if finding.risk in _RANK else str(Risk.CRITICAL)
    try:
        return str(KIND_SEVERITY[MatchKind(finding.kind)])
    except ValueError:
        return str(Risk.CRITICAL)


@dataclass(frozen=True)
class FindingFilter:
    """Which findings a list shows; an empty collection (or ``None``) filters nothing."""

    statuses: Collection[str] = ()
    risks: Collection[str] = ()
    kinds: Collection[str] = ()
    internal_names: Collection[str] = ()
    public_names: Collection[str] = ()
    since: datetime | None = None  # changed (or first seen) at or after this time
    # Case-insensitive text in the public name, internal name or match detail.
    search: str | None = None


@dataclass(frozen=True)
class FindingPage:
    """One page of a list, and the cursor of the next one (``None``: this is the last)."""

    findings: list[FindingRow]
    next_cursor: str | None


@dataclass(frozen=True)
class HistoryEntry:
    """One change of a finding's status."""

    at: datetime
    actor: str
    via: str
    action: str
    reason: str | None
    from_status: str | None
    to_status: str


@dataclass(frozen=True)
class FindingDetail:
    """A finding with its history and what we stored of its public project."""

    finding: FindingRow
    history: list[HistoryEntry]
    releases: list[ReleaseRecord]
    owners: list[str] = field(default_factory=list)
    project_name: str | None = None
    latest_version: str | None = None
    organization: str | None = None


def _encode(rank: int, first_seen_at: datetime, finding_id: int) -> str:
    text = json.dumps([rank, first_seen_at.isoformat(), finding_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[int, datetime, int]:
    if len(cursor) > _CURSOR_LIMIT:
        raise InvalidCursor("cursor too long")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        rank, seen, finding_id = json.loads(raw)
        when = datetime.fromisoformat(seen)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise InvalidCursor("not a cursor this service handed out") from None
    if (
        not isinstance(rank, int)
        or not isinstance(finding_id, int)
        or isinstance(rank, bool)
        or when.tzinfo is None
    ):
        raise InvalidCursor("not a cursor this service handed out")
    return rank, when, finding_id


async def list_findings(
    session: AsyncSession,
    filters: FindingFilter,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> FindingPage:
    """A page of findings, highest risk first, then newest first (by first seen, then id).

    The sort is on columns that never change but the risk: a finding whose risk changes
    while a client pages may be shown twice or not at all in that walk (its next one is
    right). Raises :class:`InvalidCursor` for a cursor we did not hand out.
    """
    limit = max(1, min(limit, MAX_PAGE))
    query = select(Finding, _rank.label("rank"))
    if filters.statuses:
        query = query.where(Finding.status.in_(list(filters.statuses)))
    if filters.risks:
        query = query.where(_rank.in_([_RANK.get(r, -1) for r in filters.risks]))
    if filters.kinds:
        query = query.where(Finding.kind.in_(list(filters.kinds)))
    if filters.internal_names:
        query = query.where(Finding.internal_name.in_(list(filters.internal_names)))
    if filters.public_names:
        query = query.where(Finding.public_name.in_(list(filters.public_names)))
    if filters.since is not None:
        query = query.where(Finding.updated_at >= filters.since)
    if filters.search:
        text = filters.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{text}%"
        query = query.where(
            or_(
                *(
                    column.ilike(pattern, escape="\\")
                    for column in (Finding.public_name, Finding.internal_name, Finding.detail)
                )
            )
        )
    if cursor:
        rank, seen, last = _decode(cursor)
        query = query.where(
            or_(
                _rank > rank,
                and_(_rank == rank, Finding.first_seen_at < seen),
                and_(_rank == rank, Finding.first_seen_at == seen, Finding.id < last),
            )
        )
    query = query.order_by(_rank, Finding.first_seen_at.desc(), Finding.id.desc())
    rows = list(await session.execute(query.limit(limit + 1)))
    page = [(row_of(r[0]), int(r[1])) for r in rows[:limit]]
    following = None
    if len(rows) > limit:
        finding, rank = page[-1]
        following = _encode(rank, finding.first_seen_at, finding.id)
    return FindingPage([f for f, _ in page], following)


async def finding_detail(session: AsyncSession, finding_id: int) -> FindingDetail:
    """One finding with its history (oldest first) and its public project's stored
    releases and owners; :class:`~watcher.errors.FindingNotFound` if there is none."""
    finding = await session.get(Finding, finding_id) if 0 < finding_id <= MAX_ID else None
    if finding is None:
        raise FindingNotFound(finding_id)
    events = await session.execute(
        select(FindingEvent)
        .where(FindingEvent.finding_id == finding_id)
        .order_by(FindingEvent.at, FindingEvent.id)
    )
    project = (
        await session.execute(
            select(PublicProject).where(PublicProject.normalized_name == finding.public_name)
        )
    ).scalar_one_or_none()
    extra: dict[str, Any] = {}
    if project is not None:
        extra = {
            "owners": list(project.owners or []),
            "project_name": project.name,
            "latest_version": project.latest_version,
            "organization": project.organization,
        }
    return FindingDetail(
        finding=row_of(finding),
        history=[record(HistoryEntry, e) for e in events.scalars()],
        releases=await project_history(session, finding.public_name),
        **extra,
    )
