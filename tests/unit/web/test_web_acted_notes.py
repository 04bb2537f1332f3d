"""Findings changed on the page (one, or in bulk) and through the API update their Slack
alerts when Slack is configured: one update per alert, naming who acted and the alert's
own changed findings; a refused change updates nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.fakes.pypi import FakeIndex
from tests.unit.alerts.test_alerts_acted_notes import Updater, add, payload
from tests.unit.web.test_web_ui import AUTH, TOKEN, Client, login, seed
from watcher.alerts.acted_notes import ActedNotes
from watcher.catalog import load_catalog_file
from watcher.checks import NameChecker
from watcher.matching.live import LiveCatalog
from watcher.pypi import IndexClient
from watcher.store import Database
from watcher.web import create_app


@pytest.fixture
def updater() -> Updater:
    return Updater()


@pytest.fixture
async def ui(
    http: aiohttp.ClientSession,
    fake_index: FakeIndex,
    catalog_file: Path,
    db: Database,
    updater: Updater,
) -> AsyncIterator[Client]:
    checker = NameChecker(
        LiveCatalog.of(load_catalog_file(catalog_file)), IndexClient(http, fake_index.base_url)
    )
    app = create_app(checker, db, TOKEN, acted_notes=ActedNotes(db, updater))
    async with TestClient(TestServer(app)) as client:
        yield client


def notes(updater: Updater) -> list[tuple[str, str]]:
    return [(ts, blocks[-1]["elements"][0]["text"]) for _, ts, _, blocks in updater.updates]


async def test_page_and_api_changes_update_the_alerts(
    ui: Client, db: Database, updater: Updater
) -> None:
    one = await seed(db, "acme-bilin", "acme-billing", "typo", "low")
    two = await seed(db, "acme-billing", "acme-billing", "exact", "critical")
    three = await seed(db, "payments-core", "payments-core", "exact", "critical")
    await add(db, "a", "acme-bilin", payload("acme-bilin", [one]), slack_ts="1.1")
    await add(db, "b", "acme-billing", payload("acme-billing", [two]), slack_ts="2.2")
    csrf = await login(ui, "Ada")

    # In bulk: each alert once, with its own finding.
    data = [("csrf", csrf), ("action", "acknowledge"), ("reason", "reviewed")]
    data += [("id", str(one)), ("id", str(two)), ("id", str(three))]
    async with ui.post("/ui/findings/bulk", data=data) as resp:
        assert resp.status == 200
    told = notes(updater)
    assert [ts for ts, _ in told] == ["1.1", "2.2"]  # payments-core had no alert
    assert told[0][1].startswith("Acknowledged by Ada at ")
    assert told[0][1].endswith(f"(findings {one})")
    assert told[1][1].endswith(f"(findings {two})")

    # Refused (already acknowledged): nothing is told.
    data = [("csrf", csrf), ("reason", "again")]
    async with ui.post(f"/ui/findings/{one}/acknowledge", data=data) as resp:
        assert resp.status == 409
    assert len(updater.updates) == 2

    # One finding on its page, then through the API.
    data = [("csrf", csrf), ("reason", "fixed upstream")]
    async with ui.post(f"/ui/findings/{one}/resolve", data=data) as resp:
        assert resp.status == 200
    assert notes(updater)[2][1].startswith("Resolved by Ada at ")
    body = {"actor": "ops-bot", "reason": "back"}
    async with ui.post(f"/v1/findings/{one}/reopen", json=body, headers=AUTH) as resp:
        assert resp.status == 200
        assert (await resp.json())["message_updated"] is True
    async with ui.post(f"/v1/findings/{three}/resolve", json=body, headers=AUTH) as resp:
        assert (await resp.json())["message_updated"] is False  # no alert of its own
    assert [n.split(" at ")[0] for _, n in notes(updater)[2:]] == [
        "Resolved by Ada",
        "Reopened by ops-bot",
    ]
