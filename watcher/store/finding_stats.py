"""Findings counted for the findings page's overview (``/ui/``): open ones by risk and
kind, what appeared recently, and first sightings per day by risk (its timeline).

The risk is the one lists sort and filter by (:func:`~watcher.store.finding_views.
effective_risk`, computed here by the same SQL expression).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from watcher.store.finding_views import RISK_ORDER, _rank
from watcher.store.models import Finding, FindingStatus

TIMELINE_LIMIT = 10_000  # first sightings read for the timeline at most


@dataclass(frozen=True)
class FindingStats:
    """``open``: open findings per (risk, kind); ``appeared``: findings first seen in the
    last day and week per risk; ``per_day``: first sightings per (UTC day, risk) since
    ``since`` (a bounded read: ``truncated`` when there were more)."""

    open: dict[tuple[str, str], int]
    appeared_day: dict[str, int]
    appeared_week: dict[str, int]
    per_day: dict[tuple[date, str], int]
    since: date
    truncated: bool


def _risk(rank: object) -> str:
    index = int(rank) if isinstance(rank, int) else 0
    return RISK_ORDER[index] if 0 <= index < len(RISK_ORDER) else RISK_ORDER[0]


async def finding_stats(session: AsyncSession, now: datetime, days: int = 30) -> FindingStats:
    """Count findings for the overview (a few aggregate queries and one bounded read)."""
    rows = await session.execute(
        select(_rank, Finding.kind, func.count())
        .where(Finding.status == FindingStatus.OPEN)
        .group_by(_rank, Finding.kind)
    )
    opened: dict[tuple[str, str], int] = {}
    for rank, kind, count in rows:
        key = (_risk(rank), str(kind))
        opened[key] = opened.get(key, 0) + int(count)

    async def appeared(after: datetime) -> dict[str, int]:
        found = await session.execute(
            select(_rank, func.count()).where(Finding.first_seen_at >= after).group_by(_rank)
        )
        counts: dict[str, int] = {}
        for rank, count in found:
            counts[_risk(rank)] = counts.get(_risk(rank), 0) + int(count)
        return counts

    start = (now - timedelta(days=days - 1)).date()
    since = datetime(start.year, start.month, start.day, tzinfo=now.tzinfo)
    seen = await session.execute(
        select(Finding.first_seen_at, _rank)
        .where(Finding.first_seen_at >= since)
        .order_by(Finding.first_seen_at.desc())
        .limit(TIMELINE_LIMIT + 1)
    )
    sightings = list(seen)
    per_day: dict[tuple[date, str], int] = {}
    for at, rank in sightings[:TIMELINE_LIMIT]:
        day = (at.date(), _risk(rank))
        per_day[day] = per_day.get(day, 0) + 1
    return FindingStats(
        open=opened,
        appeared_day=await appeared(now - timedelta(days=1)),
        appeared_week=await appeared(now - timedelta(days=7)),
        per_day=per_day,
        since=start,
        truncated=len(sightings) > TIMELINE_LIMIT,
    )
