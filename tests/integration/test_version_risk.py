"""Risk from versions (issue 11) through the real daemon: the simulator as the public
index, our versions in memory (as a private index would give them), the fake Slack."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from packaging.utils import NormalizedName
from sqlalchemy import select

from tests.conftest import SettingsFactory
from tests.fakes.pypi import FakeIndex
from tests.fakes.slack import FakeSlack
from watcher.app import Service
from watcher.catalog import load_catalog_file
from watcher.catalog.model import InternalPackage
from watcher.config import Settings
from watcher.matching.live import view_of
from watcher.pypi.models import DistFile
from watcher.store import Database
from watcher.store.models import Finding

BILLING = NormalizedName("acme-billing")
OUR_UPLOAD = datetime(2024, 1, 1, tzinfo=UTC)


@asynccontextmanager
async def running_with_versions(settings: Settings, catalog_file: Path) -> AsyncIterator[Service]:
    """The daemon with the test catalog plus our ``acme-billing`` 1.0 and 4.2.0."""
    ours = InternalPackage(
        name="acme-billing",
        source="http://127.0.0.1:9/simple/",
        versions=("1.0", "4.2.0"),
        files=tuple(
            DistFile(f"acme_billing-{v}.tar.gz", f"{i:064x}", OUR_UPLOAD)
            for i, v in enumerate(("1.0", "4.2.0"), start=1)
        ),
    )
    catalog = dataclasses.replace(load_catalog_file(catalog_file), packages={BILLING: ours})
    service = Service(settings)
    task = asyncio.create_task(service.run())
    started = asyncio.create_task(service.started.wait())
    done, _ = await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        started.cancel()
        task.result()
    # Once started (start-up restores the catalog from its sources): our versions as a
    # private index would give them. The catalog file is not looked at again in the test.
    service.catalog.swap(view_of(catalog, "test", datetime.now(UTC)))
    try:
        yield service
    finally:
        service.stop.set()
        await asyncio.wait_for(task, timeout=30)


def shown(message: dict[str, object]) -> str:
    """Everything Slack shows of a message: its text and blocks."""
    return json.dumps(message)


async def exact_finding(db: Database) -> Finding:
    async with db.transaction() as session:
        return (
            await session.execute(
                select(Finding).where(Finding.public_name == BILLING, Finding.kind == "exact")
            )
        ).scalar_one()


async def test_public_version_above_ours_is_critical_and_shows_both_versions(
    make_settings: SettingsFactory,
    fake_index: FakeIndex,
    fake_slack: FakeSlack,
    db: Database,
    catalog_file: Path,
) -> None:
    settings = make_settings(poll_interval=0.5, catalog_reload_interval=3600)
    async with running_with_versions(settings, catalog_file):
        await asyncio.sleep(1.0)  # the baseline poll
        fake_index.add_release("acme-billing", "99.0")
        messages = await fake_slack.wait_for_messages(1, timeout=5)
        await asyncio.sleep(1.0)
    assert len(fake_slack.messages) == 1
    text = messages[0]["text"]
    assert "risk critical" in text
    assert "99.0" in text
    assert "4.2.0" in text
    everything = shown(messages[0])
    assert "*Public highest* `99.0`" in everything
    assert "*Our highest* `4.2.0`" in everything
    finding = await exact_finding(db)
    assert finding.risk == "critical"
    assert finding.risk_reason is not None
    assert "above our highest 4.2.0" in finding.risk_reason
    assert finding.predates is False  # uploaded now, after our first upload


async def test_public_version_below_ours_is_high_then_a_release_above_raises_it_once(
    make_settings: SettingsFactory,
    fake_index: FakeIndex,
    fake_slack: FakeSlack,
    db: Database,
    catalog_file: Path,
) -> None:
    settings = make_settings(poll_interval=0.5, catalog_reload_interval=3600)
    async with running_with_versions(settings, catalog_file):
        await asyncio.sleep(1.0)
        fake_index.add_release("acme-billing", "0.0.1")
        first = (await fake_slack.wait_for_messages(1, timeout=5))[0]
        await asyncio.sleep(1.0)
        assert "risk high" in first["text"]
        assert "critical" not in shown(first)
        assert (await exact_finding(db)).risk == "high"

        fake_index.add_release("acme-billing", "100.0")
        second = (await fake_slack.wait_for_messages(2, timeout=5))[1]
        await asyncio.sleep(2.0)  # more polls: nothing more to say
    assert len(fake_slack.messages) == 2, [m["text"] for m in fake_slack.messages]
    assert second["text"].startswith(
        "Risk rose on a reported squat on PyPI: acme-billing 100.0 (high to critical)"
    )
    assert "100.0" in second["text"]
    assert "4.2.0" in second["text"]
    finding = await exact_finding(db)
    assert finding.risk == "critical"
