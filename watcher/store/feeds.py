"""Feed cursors: the ETag to send and the item keys seen in the last good poll."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from watcher.store.models import FeedState


@dataclass(frozen=True)
class FeedCursor:
    """Where one feed stands."""

    etag: str | None
    seen_keys: frozenset[str]
    newest_key: str | None


async def get_cursor(session: AsyncSession, feed: str) -> FeedCursor | None:
    """The stored cursor of ``feed``, if any."""
    state = await session.get(FeedState, feed)
    if state is None:
        return None
    return FeedCursor(state.etag, frozenset(state.seen_keys), state.newest_key)


async def save_cursor(
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


async def touch_cursor(session: AsyncSession, feed: str, now: datetime) -> None:
    """Record a poll that found nothing new (304): the cursor stays where it is."""
    await session.execute(update(FeedState).where(FeedState.feed == feed).values(polled_at=now))
