"""Findings: a public name colliding with an internal name or prefix, and their lifecycle."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from watcher.store.base import clean_text, record, upsert_insert
from watcher.store.models import Finding, FindingStatus

REMOVED_FROM_INDEX = "removed from the index"
LEFT_CATALOG = "no longer in the catalog"
# The reason is ours, but it quotes versions from the index: bounded like free text.
_REASON_LIMIT = 1000


@dataclass(frozen=True)
class RiskRecord:
    """An assessed risk as stored on a finding: a Risk's lower-case name, why, and whether
    the public project predates our first internal upload."""

    risk: str
    reason: str
    predates: bool | None

    @classmethod
    def of(cls, risk: str, reason: str, predates: bool | None) -> RiskRecord:
        """A record with its reason made storable (so it compares equal to the stored one)."""
        return cls(risk, clean_text(reason, _REASON_LIMIT) or "", predates)

    def stored_on(self, finding: FindingRow) -> bool:
        """True if ``finding`` already says exactly this."""
        return (finding.risk, finding.risk_reason, finding.predates) == (
            self.risk,
            self.reason,
            self.predates,
        )


def _risk_values(risk: RiskRecord) -> dict[str, object]:
    return {"risk": risk.risk, "risk_reason": risk.reason, "predates": risk.predates}


@dataclass(frozen=True)
class FindingRow:
    """One finding as the rest of the service sees it."""

    id: int
    public_name: str
    internal_name: str
    kind: str
    detail: str
    status: FindingStatus
    first_seen_at: datetime
    updated_at: datetime
    resolution: str | None
    # The risk last assessed from both sides' versions (None: recorded before risks were).
    risk: str | None = None
    risk_reason: str | None = None
    predates: bool | None = None

    @property
    def key(self) -> tuple[str, str]:
        """(internal name, match kind): what the finding is about, for one public name."""
        return (self.internal_name, self.kind)


def _row(finding: Finding) -> FindingRow:
    return record(FindingRow, finding, status=FindingStatus(finding.status))


async def add_finding(
    session: AsyncSession,
    *,
    public_name: str,
    internal_name: str,
    kind: str,
    detail: str,
    now: datetime,
    risk: RiskRecord | None = None,
) -> bool:
    """Open a finding unless one exists for the same names and kind; True if it was new.

    ``risk`` is its assessed risk, stored with it (a finding that exists keeps its own).
    """
    assessed = _risk_values(risk) if risk is not None else {}
    table: Table = Finding.__table__  # type: ignore[assignment]
    result = await session.execute(
        upsert_insert(session, table)
        .values(
            public_name=public_name,
            internal_name=internal_name,
            kind=kind,
            detail=clean_text(detail) or "",
            status=FindingStatus.OPEN,
            first_seen_at=now,
            updated_at=now,
            **assessed,
        )
        .on_conflict_do_nothing(index_elements=["public_name", "internal_name", "kind"])
        .returning(table.c.id)
    )
    return result.first() is not None


async def reopen_findings(
    session: AsyncSession,
    public_name: str,
    keys: Collection[tuple[str, str]],
    now: datetime,
    resolutions: Collection[str | None] = (REMOVED_FROM_INDEX, None),
) -> list[FindingRow]:
    """Reopen the resolved findings of a public name; return them as they now stand.

    Only those among ``keys`` ((internal name, kind) pairs the name matches today) and
    resolved for one of ``resolutions`` (by default: the project had left the index;
    ``None`` is a resolution recorded before reasons were kept).
    """
    resolved = [
        f
        for f in await findings_for(session, public_name)
        if f.status == FindingStatus.RESOLVED and f.key in keys and f.resolution in resolutions
    ]
    if resolved:
        await session.execute(
            update(Finding)
            .where(Finding.id.in_([f.id for f in resolved]))
            .values(status=FindingStatus.OPEN, updated_at=now, resolution=None)
        )
    return [
        replace(f, status=FindingStatus.OPEN, updated_at=now, resolution=None) for f in resolved
    ]


async def resolve_open_findings(
    session: AsyncSession,
    public_names: Iterable[str],
    now: datetime,
    reason: str = REMOVED_FROM_INDEX,
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
            Finding.status == FindingStatus.OPEN
        )
    )
    hit = sorted((r[1], r[2], r[3], r[0]) for r in rows if r[1] in names)
    await _resolve(session, [h[3] for h in hit], now, reason)
    return [(h[0], h[1], h[2]) for h in hit]


async def resolve_for_internal(
    session: AsyncSession,
    names: Collection[str],
    prefixes: Collection[str],
    now: datetime,
    reason: str = LEFT_CATALOG,
) -> list[FindingRow]:
    """Resolve the open findings against internal names and prefixes that left the catalog.

    A prefix's findings are those of the ``prefix*`` kinds; a name's, every other kind (a
    string can be both a name and a prefix, and only one of them may have left).
    """
    if not names and not prefixes:
        return []
    rows = await session.execute(
        select(Finding)
        .where(
            Finding.status == FindingStatus.OPEN,
            Finding.internal_name.in_(set(names) | set(prefixes)),
        )
        .order_by(Finding.id)
    )
    hit = [
        _row(f)
        for f in rows.scalars()
        if (
            f.internal_name in prefixes if f.kind.startswith("prefix") else f.internal_name in names
        )
    ]
    await _resolve(session, [f.id for f in hit], now, reason)
    return hit


async def _resolve(session: AsyncSession, ids: list[int], now: datetime, reason: str) -> None:
    for start in range(0, len(ids), 500):
        await session.execute(
            update(Finding)
            .where(Finding.id.in_(ids[start : start + 500]))
            .values(status=FindingStatus.RESOLVED, updated_at=now, resolution=reason)
        )


async def findings_for(session: AsyncSession, public_name: str) -> list[FindingRow]:
    """Findings recorded for one public name."""
    rows = await session.execute(
        select(Finding).where(Finding.public_name == public_name).order_by(Finding.id)
    )
    return [_row(f) for f in rows.scalars()]


async def touch_open(session: AsyncSession, public_name: str, now: datetime) -> None:
    """Mark the open findings of a public name as updated (a new release, an owner change)."""
    await session.execute(
        update(Finding)
        .where(Finding.public_name == public_name, Finding.status == FindingStatus.OPEN)
        .values(updated_at=now)
    )


async def set_risk(session: AsyncSession, finding_id: int, risk: RiskRecord, now: datetime) -> None:
    """Store a finding's re-assessed risk."""
    await session.execute(
        update(Finding).where(Finding.id == finding_id).values(updated_at=now, **_risk_values(risk))
    )


async def open_findings(session: AsyncSession, kinds: Collection[str]) -> list[FindingRow]:
    """Every open finding of the given kinds, by public name (for re-assessing them)."""
    rows = await session.execute(
        select(Finding)
        .where(Finding.status == FindingStatus.OPEN, Finding.kind.in_(list(kinds)))
        .order_by(Finding.public_name, Finding.id)
    )
    return [_row(f) for f in rows.scalars()]
