"""The daemon as a real process: SIGHUP reloads the catalog at once, SIGTERM stops it cleanly."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import SettingsFactory, running
from tests.fakes.pypi import FakeIndex
from tests.fakes.slack import FakeSlack
from tests.support import CATALOG_NAMES, daemon, until, write_catalog
from watcher.store import Database
from watcher.store.models import IndexState

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_sighup_reloads_the_catalog_and_sigterm_exits_cleanly(
    make_settings: SettingsFactory,
    fake_index: FakeIndex,
    fake_slack: FakeSlack,
    db: Database,
    catalog_file: Path,
    tmp_path: Path,
) -> None:
    settings = make_settings(
        catalog_reload_interval=3600, poll_interval=0.5, reconcile_interval=3600
    )
    log = tmp_path / "daemon.log"
    fake_index.add_release("zebra-widgets", "1.0")  # public, matching nothing yet

    async def reconciled() -> bool:
        async with db.transaction() as session:
            state = await session.scalar(select(IndexState))
        return state is not None and state.projects > 0

    async with daemon(settings, log) as process:  # exits 0 on SIGTERM, or the test fails
        await until(reconciled, 15, "the first reconcile", log)
        write_catalog(catalog_file, [*CATALOG_NAMES, "zebra-widgets"])
        await asyncio.sleep(1.5)  # the next scheduled reload is an hour away
        assert fake_slack.messages == []

        process.signal(signal.SIGHUP)
        messages = await fake_slack.wait_for_messages(1, timeout=5)
        assert "zebra-widgets" in messages[0]["text"]
    assert len(fake_slack.messages) == 1
    text = log.read_text()
    assert "catalog reload requested" in text
    assert "catalog reloaded from" in text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_sigterm_lets_a_running_poll_finish_and_says_nothing_alarming(
    make_settings: SettingsFactory,
    fake_index: FakeIndex,
    db: Database,
    tmp_path: Path,
) -> None:
    settings = make_settings(poll_interval=3600, reconcile_interval=3600, shutdown_grace=10)
    log = tmp_path / "daemon.log"
    fake_index.slow_route("/rss/packages.xml", 2.0)  # the first poll runs for two seconds

    async with daemon(settings, log) as process:  # exits 0 on SIGTERM, or the test fails
        await until(lambda: _said(log, "/rss/packages.xml", fake_index), 15, "the first poll", log)
        await asyncio.sleep(0.3)
        process.signal(signal.SIGTERM)
        assert await process.terminate() == 0
    text = log.read_text()
    assert "shutting down" in text
    # The poll was let finish (well within the grace period), not cancelled.
    assert "feeds: first poll" in text
    assert "cancelled" not in text.lower()
    assert "Traceback" not in text
    assert "CancelledError" not in text


async def _said(log: Path | None, path: str, fake_index: FakeIndex) -> bool:
    return any(r.path == path for r in fake_index.requests)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_job_overstaying_the_grace_period_is_cancelled_with_one_line(
    make_settings: SettingsFactory, fake_index: FakeIndex, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = make_settings(poll_interval=3600, reconcile_interval=3600, shutdown_grace=0.5)
    fake_index.slow_route("/rss/packages.xml", 30.0)  # the first poll would run for long
    async with running(settings):
        await until(
            lambda: _said(None, "/rss/packages.xml", fake_index), 10, "the first poll to start"
        )
        before = time.monotonic()
    took = time.monotonic() - before  # the block's exit is the shutdown

    assert 0.5 <= took < 5
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "1 job still running after the 0.5 s shutdown grace period (WATCHER_SHUTDOWN_GRACE):"
        " cancelled"
    ]
    assert not any(r.exc_info for r in caplog.records if r.levelno >= logging.INFO)
