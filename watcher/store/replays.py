"""Slack requests seen: a signed request is acted on once, by whichever replica gets it."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Table, delete
from sqlalchemy.ext.asyncio import AsyncSession

from watcher.store.base import upsert_insert
from watcher.store.models import SlackRequest


async def first_sight(
    session: AsyncSession, signature: str, now: datetime, *, keep: timedelta
) -> bool:
    """Record ``signature``; False if it was recorded before (a replay). Signatures older
    than ``keep`` are forgotten: by then the timestamp check refuses their requests."""
    await session.execute(delete(SlackRequest).where(SlackRequest.seen_at < now - keep))
    table: Table = SlackRequest.__table__  # type: ignore[assignment]
    result = await session.execute(
        upsert_insert(session, table)
        .values(signature=signature, seen_at=now)
        .on_conflict_do_nothing(index_elements=["signature"])
        .returning(table.c.signature)
    )
    return result.first() is not None
