"""Retention: delivered alerts pruned once older than ``WATCHER_RETENTION_DAYS``.

Findings and their history (every release, every change of status) are kept: they are the
record. The outbox is a queue; once an alert has reached every destination its row is only
needed for what still points at it, so a row is kept, whatever its age, while:

- it is not delivered everywhere (Slack, and the webhook's delivery row);
- another row points at it: a reply at its thread's first message, a digest's member at
  the digest (that one goes in a later pass, once its members have);
- it is the first message about a public project (a thread starter): a new release of that
  squat, years on, is still told in its thread;
- it is the first start's baseline marker.

Index events need no pruning here: a processed event is deleted when it is processed, and a
dead-lettered one is kept until someone has looked (``watcher status`` lists them).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from watcher.store.models import AlertDelivery, OutboxAlert, OutboxStatus
from watcher.store.outbox import BASELINE_KEY

BATCH = 2000  # rows deleted in one transaction (a pass); the caller repeats


async def prune_delivered(
    session: AsyncSession, before: datetime, starters: Sequence[str], *, limit: int = BATCH
) -> int:
    """Delete up to ``limit`` alerts delivered before ``before`` that nothing needs (see the
    module's docstring; ``starters``: the alert kinds that start a thread); return how many.
    """
    other = aliased(OutboxAlert)
    pointed_at = (
        select(other.id)
        .where(or_(other.parent_id == OutboxAlert.id, other.digest_id == OutboxAlert.id))
        .exists()
    )
    undelivered = (
        select(AlertDelivery.id)
        .where(AlertDelivery.alert_id == OutboxAlert.id, AlertDelivery.status != OutboxStatus.SENT)
        .exists()
    )
    first_starter = (
        select(func.min(other.id))
        .where(other.public_name == OutboxAlert.public_name, other.kind.in_(list(starters)))
        .scalar_subquery()
    )
    ids = list(
        await session.scalars(
            select(OutboxAlert.id)
            .where(
                OutboxAlert.status == OutboxStatus.SENT,
                OutboxAlert.sent_at < before,
                OutboxAlert.event_key != BASELINE_KEY,
                ~pointed_at,
                ~undelivered,
                or_(
                    OutboxAlert.kind.is_(None),
                    OutboxAlert.kind.not_in(list(starters)),
                    OutboxAlert.id != first_starter,
                ),
            )
            .order_by(OutboxAlert.id)
            .limit(limit)
        )
    )
    if ids:
        await session.execute(delete(AlertDelivery).where(AlertDelivery.alert_id.in_(ids)))
        await session.execute(delete(OutboxAlert).where(OutboxAlert.id.in_(ids)))
    return len(ids)
