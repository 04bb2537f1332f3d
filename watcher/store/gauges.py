"""What ``/metrics`` reads from the store: findings and queued alerts, counted in a few
cheap aggregate queries (the caller bounds how often, see :mod:`watcher.metrics`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from watcher.store.models import Finding, OutboxAlert, OutboxStatus
from watcher.store.outbox import POST, REPLY

_WAITING = (OutboxStatus.PENDING, OutboxStatus.SENDING)


@dataclass(frozen=True)
class StoreGauges:
    """Findings per (risk, status), alerts not sent yet per status, and when the oldest
    alert waiting to be sent on its own was queued (``None``: none waits).

    ``risk`` is ``None`` for a finding never assessed. Values are as stored: the caller
    keeps only the ones it knows.
    """

    findings: dict[tuple[str | None, str], int]
    outbox: dict[str, int]
    oldest_pending: datetime | None


async def store_gauges(session: AsyncSession) -> StoreGauges:
    """Count findings and waiting alerts (three aggregate queries).

    The oldest pending alert is among the rows that wait to be posted (routed to a
    message or a reply, or not routed yet): a digest's members are sent with their digest
    (a row of its own), and alerts held for the daily digest wait on purpose.
    """
    rows = await session.execute(
        select(Finding.risk, Finding.status, func.count()).group_by(Finding.risk, Finding.status)
    )
    found = {(risk, str(status)): int(count) for risk, status, count in rows}
    waiting = await session.execute(
        select(OutboxAlert.status, func.count())
        .where(OutboxAlert.status.in_(_WAITING))
        .group_by(OutboxAlert.status)
    )
    queued = {str(status): int(count) for status, count in waiting}
    oldest = await session.scalar(
        select(func.min(OutboxAlert.created_at)).where(
            OutboxAlert.status.in_(_WAITING),
            or_(OutboxAlert.route.is_(None), OutboxAlert.route.in_((POST, REPLY))),
        )
    )
    return StoreGauges(findings=found, outbox=queued, oldest_pending=oldest)
