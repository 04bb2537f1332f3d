"""The daemon as a real process, killed with SIGKILL at bad moments: nothing lost, nothing twice."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import SettingsFactory
from tests.fakes.pypi import FakeIndex
from tests.fakes.slack import FakeSlack
from tests.support import daemon, until
from watcher.store import Database
from watcher.store.models import FeedState, OutboxAlert

pytestmark = pytest.mark.slow


async def _count(db: Database, *where: object) -> int:
    async with db.transaction() as session:
        stmt = select(func.count()).select_from(OutboxAlert)
        for clause in where:
            stmt = stmt.where(clause)  # type: ignore[arg-type]
        return int(await session.scalar(stmt) or 0)


async def _polled(db: Database) -> bool:
    async with db.transaction() as session:
        return bool(await session.scalar(select(func.count()).select_from(FeedState)))


async def test_sigkill_while_slack_is_down_loses_nothing(
    make_settings: SettingsFactory,
    fake_index: FakeIndex,
    fake_slack: FakeSlack,
    db: Database,
    tmp_path: Path,
) -> None:
    settings = make_settings()
    log = tmp_path / "daemon.log"
    fake_slack.fail(500, times=None)
    async with daemon(settings, log) as first:
        await until(lambda: _polled(db), 15, "the first poll")
        for name in ("acme-alpha", "acme-beta", "Payments.Core"):
            fake_index.add_release(name, "1.0")
        await until(lambda: _count_is(db, 3), 15, "three queued alerts")
        await until(lambda: _attempted(fake_slack, 3), 15, "failed delivery attempts")
        await first.kill()
    assert fake_slack.messages == []

    fake_slack.clear_failures()
    async with daemon(settings, log):
        await fake_slack.wait_for_messages(3, timeout=20)
        await asyncio.sleep(1.5)
    texts = sorted(m["text"] for m in fake_slack.messages)
    assert len(texts) == 3, texts
    assert "acme-alpha 1.0" in texts[1]
    assert "acme-beta 1.0" in texts[2]
    assert "Payments.Core 1.0" in texts[0]
    assert await _count(db, OutboxAlert.status == "sent") == 3


async def test_sigkill_after_slack_accepted_does_not_post_twice(
    make_settings: SettingsFactory,
    fake_index: FakeIndex,
    fake_slack: FakeSlack,
    db: Database,
    tmp_path: Path,
) -> None:
    settings = make_settings()
    log = tmp_path / "daemon.log"
    fake_slack.accept_then_hang = 60.0
    async with daemon(settings, log) as first:
        await until(lambda: _polled(db), 15, "the first poll")
        fake_index.add_release("acme-inflight", "1.0")
        await fake_slack.wait_for_messages(1, timeout=15)  # Slack has it; the answer hangs
        await first.kill()
    assert await _count(db, OutboxAlert.status == "sending") == 1

    fake_slack.accept_then_hang = 0.0
    fake_index.add_release("acme-later", "1.0")
    async with daemon(settings, log):
        await fake_slack.wait_for_messages(2, timeout=20)
        await until(lambda: _count_is(db, 2, OutboxAlert.status == "sent"), 15, "both sent")
        await asyncio.sleep(1.5)
    texts = [m["text"] for m in fake_slack.messages]
    assert len(texts) == 2, texts
    assert "acme-inflight" in texts[0]
    assert "acme-later" in texts[1]


async def test_sigkill_mid_poll_then_restart_alerts_once(
    make_settings: SettingsFactory,
    fake_index: FakeIndex,
    fake_slack: FakeSlack,
    db: Database,
    tmp_path: Path,
) -> None:
    settings = make_settings()
    log = tmp_path / "daemon.log"
    async with daemon(settings, log) as first:
        await until(lambda: _polled(db), 15, "the first poll")
        fake_index.add_release("acme-midpoll", "1.0")
        seen = len(fake_index.requests)
        fake_index.delay = 5.0  # the next poll hangs on the index

        async def in_flight() -> bool:
            return len(fake_index.requests) > seen

        await until(in_flight, 10, "a poll in flight")
        await first.kill()
    fake_index.delay = 0.0
    async with daemon(settings, log):
        await fake_slack.wait_for_messages(1, timeout=20)
        await asyncio.sleep(2.0)
    assert len(fake_slack.messages) == 1
    assert "acme-midpoll 1.0" in fake_slack.messages[0]["text"]


async def _count_is(db: Database, n: int, *where: object) -> bool:
    return await _count(db, *where) == n


async def _attempted(fake_slack: FakeSlack, n: int) -> bool:
    return sum(1 for method, _ in fake_slack.calls if method == "chat.postMessage") >= n


async def test_sigkill_mid_change_log_read_then_restart_posts_the_change_once(
    make_settings: SettingsFactory,
    fake_index: FakeIndex,
    fake_slack: FakeSlack,
    db: Database,
    tmp_path: Path,
) -> None:
    settings = make_settings(journal=True, journal_interval=0.5, reconcile_interval=3600)
    log = tmp_path / "daemon.log"
    async with daemon(settings, log) as first:
        await until(lambda: _polled(db), 15, "the first poll")
        fake_index.add_release("acme-crash", "1.0")
        await fake_slack.wait_for_messages(1, timeout=15)
        # A role change only the change log shows; the daemon dies while reading it (before
        # the page commits, or after it, while fetching the project's details).
        seen = len(fake_index.requests)
        fake_index.set_owners("acme-crash", ["someone", "mallory"])
        fake_index.delay = 5.0

        async def log_read() -> bool:
            return any(r.method == "POST" for r in fake_index.requests[seen:])

        await until(log_read, 10, "a change-log call in flight")
        await first.kill()
    fake_index.delay = 0.0
    async with daemon(settings, log):
        await fake_slack.wait_for_messages(2, timeout=20)
        await asyncio.sleep(2.0)
    assert len(fake_slack.messages) == 2
    assert "(add Owner mallory)" in fake_slack.messages[1]["text"]
