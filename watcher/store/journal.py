"""The change-log cursor (one row): the last serial fully processed, and the backoff."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from watcher.store.base import error_text, record
from watcher.store.models import JournalState


@dataclass(frozen=True)
class JournalCursor:
    """Where the change-log follower stands."""

    serial: int
    failures: int
    retry_at: datetime | None
    last_error: str | None
    updated_at: datetime


async def get_cursor(session: AsyncSession, *, lock: bool = False) -> JournalCursor | None:
    """The stored cursor; ``lock`` serializes page writers on PostgreSQL."""
    query = select(JournalState).where(JournalState.id == 1)
    state = (await session.execute(query.with_for_update() if lock else query)).scalar()
    if state is None:
        return None
    return record(JournalCursor, state)


async def save_cursor(session: AsyncSession, serial: int, now: datetime) -> None:
    """Move the cursor to ``serial`` after a good call; any backoff ends."""
    state = await session.get(JournalState, 1)
    if state is None:
        state = JournalState(id=1)
        session.add(state)
    state.serial, state.failures, state.retry_at, state.last_error = serial, 0, None, None
    state.updated_at = now


async def save_backoff(
    session: AsyncSession, *, failures: int, retry_at: datetime, error: str, now: datetime
) -> bool:
    """Store a backoff with the cursor, which stays; False when there is no cursor yet."""
    state = await session.get(JournalState, 1)
    if state is None:
        return False
    state.failures, state.retry_at = failures, retry_at
    state.last_error, state.updated_at = error_text(error), now
    return True
