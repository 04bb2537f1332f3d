"""Findings: a public name colliding with an internal name or prefix, and their lifecycle.

A finding is open, acknowledged, suppressed or resolved; every change of status, by a
person (Slack, the API, the CLI) or by the service itself, is kept in its history
(``finding_events``): who, when, why and from where. Listing and detail views are in
:mod:`watcher.store.finding_views`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from watcher.errors import FindingNotFound, TransitionRefused
from watcher.store.base import clean_text, record, upsert_insert
from watcher.store.models import Finding, FindingEvent, FindingStatus

REMOVED_FROM_INDEX = "removed from the index"
LEFT_CATALOG = "no longer in the catalog"
# The resolution of a finding a person resolved (their reason is in its history): such a
# finding reopens when its project changes, the others when what resolved them is undone.
RESOLVED_BY_HAND = "resolved by hand"
SERVICE_ACTOR = "watcher"
ACTOR_LIMIT = 255
MAX_ID = 2**31 - 1  # PostgreSQL's integer: an id beyond it names no finding
_STATUS = FindingStatus
# Not resolved: still a collision someone may have to act on.
ACTIVE = (_STATUS.OPEN, _STATUS.ACKNOWLEDGED, _STATUS.SUPPRESSED)
# Whose updates (a new release, an owner change) are alerted: a suppressed finding's are not.
ALERTED = (_STATUS.OPEN, _STATUS.ACKNOWLEDGED)


class Action(StrEnum):
    """What happened to a finding, as its history says. ``open`` is its creation; the other
    four are the transitions people (and the service) make."""

    OPEN = "open"
    ACKNOWLEDGE = "acknowledge"
    SUPPRESS = "suppress"
    RESOLVE = "resolve"
    REOPEN = "reopen"


class Via(StrEnum):
    """Where a change came from."""

    SLACK = "slack"
    API = "api"
    CLI = "cli"
    SERVICE = "service"


# Per action: the statuses it applies to, and the status it leads to.
TRANSITIONS: dict[Action, tuple[tuple[FindingStatus, ...], FindingStatus]] = {
    Action.ACKNOWLEDGE: ((_STATUS.OPEN, _STATUS.SUPPRESSED), _STATUS.ACKNOWLEDGED),
    Action.SUPPRESS: ((_STATUS.OPEN, _STATUS.ACKNOWLEDGED), _STATUS.SUPPRESSED),
    Action.RESOLVE: (ACTIVE, _STATUS.RESOLVED),
    Action.REOPEN: ((_STATUS.ACKNOWLEDGED, _STATUS.SUPPRESSED, _STATUS.RESOLVED), _STATUS.OPEN),
}
# Why the service reopened a finding, by the resolution it had.
_REOPENED_BECAUSE = {
    REMOVED_FROM_INDEX: "the project is back on the index",
    LEFT_CATALOG: "the internal name is back in the catalog",
    RESOLVED_BY_HAND: "the project changed after it was resolved",
}
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
    # The risk it had when suppressed (while it is suppressed).
    suppressed_risk: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        """(internal name, match kind): what the finding is about, for one public name."""
        return (self.internal_name, self.kind)


def row_of(finding: Finding) -> FindingRow:
    """A finding row as the rest of the service sees it."""
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
    created = result.first()
    if created is None:
        return False
    await _record(session, [(created[0], None)], Action.OPEN, _STATUS.OPEN, now)
    return True


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
    for f in resolved:
        because = _REOPENED_BECAUSE.get(f.resolution or "", _REOPENED_BECAUSE[REMOVED_FROM_INDEX])
        await _record(session, [(f.id, f.status)], Action.REOPEN, _STATUS.OPEN, now, reason=because)
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
        select(
            Finding.id, Finding.public_name, Finding.internal_name, Finding.kind, Finding.status
        ).where(Finding.status.in_(ACTIVE))
    )
    hit = sorted((r[1], r[2], r[3], r[0], r[4]) for r in rows if r[1] in names)
    await _resolve(session, [(h[3], h[4]) for h in hit], now, reason)
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
            Finding.status.in_(ACTIVE),
            Finding.internal_name.in_(set(names) | set(prefixes)),
        )
        .order_by(Finding.id)
    )
    hit = [
        row_of(f)
        for f in rows.scalars()
        if (
            f.internal_name in prefixes if f.kind.startswith("prefix") else f.internal_name in names
        )
    ]
    await _resolve(session, [(f.id, f.status) for f in hit], now, reason)
    return hit


async def _resolve(
    session: AsyncSession, found: Sequence[tuple[int, str]], now: datetime, reason: str
) -> None:
    """Resolve findings (id, status before) for the service, with their history."""
    ids = [f[0] for f in found]
    for start in range(0, len(ids), 500):
        await session.execute(
            update(Finding)
            .where(Finding.id.in_(ids[start : start + 500]))
            .values(
                status=FindingStatus.RESOLVED,
                updated_at=now,
                resolution=reason,
                suppressed_risk=None,
            )
        )
    await _record(session, found, Action.RESOLVE, _STATUS.RESOLVED, now, reason=reason)


async def _record(
    session: AsyncSession,
    found: Sequence[tuple[int, str | None]],
    action: Action,
    to: FindingStatus,
    now: datetime,
    *,
    actor: str = SERVICE_ACTOR,
    via: Via = Via.SERVICE,
    reason: str | None = None,
) -> None:
    """Add one history entry per finding (id, status before) that took ``action``."""
    if not found:
        return
    await session.execute(
        insert(FindingEvent),
        [
            {
                "finding_id": finding_id,
                "at": now,
                "actor": actor,
                "via": str(via),
                "action": str(action),
                "reason": reason,
                "from_status": None if before is None else str(before),
                "to_status": str(to),
            }
            for finding_id, before in found
        ],
    )


async def transition(
    session: AsyncSession,
    finding_id: int,
    action: Action,
    *,
    actor: str,
    via: Via,
    reason: str | None,
    now: datetime,
) -> FindingRow:
    """Move one finding by ``action`` (acknowledge, suppress, resolve, reopen) and keep who
    did it, from where and why in its history; return it as it now stands.

    Raises :class:`~watcher.errors.FindingNotFound` for an unknown id and
    :class:`~watcher.errors.TransitionRefused` when its status does not allow ``action``
    (nothing is changed then). ``actor`` and ``reason`` are stored bounded.
    """
    if action not in TRANSITIONS:
        raise ValueError(f"{action} is not a transition")
    shown_actor = clean_text(actor.strip(), ACTOR_LIMIT) or ""
    if not shown_actor:
        raise ValueError("a finding's change needs an actor (who made it)")
    if not 0 < finding_id <= MAX_ID:  # beyond the id column's range: none (and no query)
        raise FindingNotFound(finding_id)
    # populate_existing: the session may hold this row from before a bulk update (set_risk).
    query = select(Finding).where(Finding.id == finding_id).with_for_update()
    found = await session.execute(query.execution_options(populate_existing=True))
    if (finding := found.scalar_one_or_none()) is None:
        raise FindingNotFound(finding_id)
    allowed, to = TRANSITIONS[action]
    before = FindingStatus(finding.status)
    if before not in allowed:
        raise TransitionRefused(finding_id, str(action), str(before), [str(a) for a in allowed])
    finding.status = to
    finding.updated_at = now
    # Suppressed until the risk rises above the one it has now (compared by the pipeline).
    finding.suppressed_risk = finding.risk if to == _STATUS.SUPPRESSED else None
    if to == _STATUS.RESOLVED:
        finding.resolution = RESOLVED_BY_HAND
    elif before == _STATUS.RESOLVED:
        finding.resolution = None
    why = clean_text(reason.strip()) if reason and reason.strip() else None
    await _record(
        session, [(finding_id, before)], action, to, now, actor=shown_actor, via=via, reason=why
    )
    await session.flush()
    return row_of(finding)


async def findings_for(session: AsyncSession, public_name: str) -> list[FindingRow]:
    """Findings recorded for one public name."""
    rows = await session.execute(
        select(Finding).where(Finding.public_name == public_name).order_by(Finding.id)
    )
    return [row_of(f) for f in rows.scalars()]


async def touch_open(session: AsyncSession, public_name: str, now: datetime) -> None:
    """Mark the findings of a public name that are not resolved as updated (a new release,
    an owner change)."""
    await session.execute(
        update(Finding)
        .where(Finding.public_name == public_name, Finding.status.in_(ACTIVE))
        .values(updated_at=now)
    )


async def set_risk(session: AsyncSession, finding_id: int, risk: RiskRecord, now: datetime) -> None:
    """Store a finding's re-assessed risk."""
    await session.execute(
        update(Finding).where(Finding.id == finding_id).values(updated_at=now, **_risk_values(risk))
    )


async def open_findings(session: AsyncSession, kinds: Collection[str]) -> list[FindingRow]:
    """Every finding of the given kinds that is not resolved, by public name (for
    re-assessing them: a suppressed one speaks again when its risk rises)."""
    rows = await session.execute(
        select(Finding)
        .where(Finding.status.in_(ACTIVE), Finding.kind.in_(list(kinds)))
        .order_by(Finding.public_name, Finding.id)
    )
    return [row_of(f) for f in rows.scalars()]
