"""Feed cursors, on SQLite and PostgreSQL (schema from the migrations)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from watcher.store import Database, feeds, status
from watcher.store.feeds import FeedCursor
from watcher.store.status import FeedStatus

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)


async def feed_status(db: Database, feed: str) -> FeedStatus | None:
    """When the feed was last polled and advanced, and its gaps (not in the cursor)."""
    async with db.transaction() as session:
        cov = await status.coverage(session)
    return next((f for f in cov.feeds if f.feed == feed), None)


async def test_feed_state_save_touch_and_advance(db: Database) -> None:
    async with db.transaction() as session:
        assert await feeds.get_cursor(session, "updates") is None
        await feeds.touch_cursor(session, "updates", T0)  # nothing to touch yet
    async with db.transaction() as session:
        assert await feeds.get_cursor(session, "updates") is None
        assert (
            await feeds.save_cursor(
                session, "updates", etag='"abc"', seen_keys=["b 2.0", "a 1.0"], now=T0
            )
            == 0
        )

    later = T0 + timedelta(minutes=1)
    async with db.transaction() as session:
        await feeds.touch_cursor(session, "updates", later)
    async with db.transaction() as session:
        state = await feeds.get_cursor(session, "updates")
        assert await feeds.get_cursor(session, "packages") is None
    assert state == FeedCursor(
        etag='"abc"', seen_keys=frozenset({"b 2.0", "a 1.0"}), newest_key="b 2.0"
    )
    assert await feed_status(db, "updates") == FeedStatus("updates", later, T0, 0)
    assert await feed_status(db, "packages") is None

    latest = T0 + timedelta(minutes=2)
    async with db.transaction() as session:
        await feeds.save_cursor(session, "updates", etag=None, seen_keys=[], now=latest)
    async with db.transaction() as session:
        state = await feeds.get_cursor(session, "updates")
    assert state == FeedCursor(etag=None, seen_keys=frozenset(), newest_key=None)
    assert await feed_status(db, "updates") == FeedStatus("updates", latest, latest, 0)


async def test_gaps_are_counted_per_feed(db: Database) -> None:
    async with db.transaction() as session:
        assert (
            await feeds.save_cursor(
                session, "updates", etag=None, seen_keys=["a 1"], now=T0, gap=True
            )
            == 1
        )
        assert await feeds.save_cursor(session, "packages", etag=None, seen_keys=[], now=T0) == 0
    async with db.transaction() as session:
        assert (
            await feeds.save_cursor(
                session, "updates", etag="e", seen_keys=["b 1"], now=T0, gap=False
            )
            == 1
        )
        assert (
            await feeds.save_cursor(
                session, "updates", etag="e", seen_keys=["c 1"], now=T0, gap=True
            )
            == 2
        )
    update = await feed_status(db, "updates")
    assert update is not None
    assert update.gaps == 2
    packages = await feed_status(db, "packages")
    assert packages is not None
    assert packages.gaps == 0
    async with db.transaction() as session:
        cursor = await feeds.get_cursor(session, "updates")
    assert cursor is not None
    assert cursor.newest_key == "c 1"
