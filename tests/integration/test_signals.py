"""The daemon as a real process: SIGHUP reloads the catalog at once, SIGTERM stops it cleanly."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import SettingsFactory
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
