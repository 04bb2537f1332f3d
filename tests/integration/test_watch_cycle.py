"""Full poll -> match -> store -> Slack cycles against the fakes, with the daemon in-process."""

from __future__ import annotations

import asyncio
import time

import aiohttp
from sqlalchemy import func, select

from tests.conftest import SettingsFactory, running
from tests.fakes.pypi import FakeIndex
from tests.fakes.slack import FakeSlack
from watcher.store import Database
from watcher.store.models import Finding, OutboxAlert, Release


async def _settle(seconds: float) -> None:
    await asyncio.sleep(seconds)


async def test_new_squat_in_other_spelling_is_posted_once(
    make_settings: SettingsFactory, fake_index: FakeIndex, fake_slack: FakeSlack
) -> None:
    settings = make_settings(poll_interval=1.0)
    fake_index.add_release("unrelated-thing", "1.0")
    async with running(settings):
        await _settle(1.5)  # first poll done: the baseline
        assert fake_slack.messages == []
        fake_index.add_release("payments.core", "99.0")
        started = time.monotonic()
        messages = await fake_slack.wait_for_messages(1, timeout=settings.poll_interval + 2)
        elapsed = time.monotonic() - started
        await _settle(2 * settings.poll_interval)
    assert elapsed <= settings.poll_interval + 2
    assert len(fake_slack.messages) == 1
    text = messages[0]["text"]
    assert "payments.core" in text
    assert "99.0" in text
    assert "Payments_Core" in text
    assert "exact" in text

    # A restart re-posts nothing.
    async with running(settings):
        await _settle(3 * settings.poll_interval)
    assert len(fake_slack.messages) == 1


async def test_prefix_squat_is_posted_once(
    make_settings: SettingsFactory, fake_index: FakeIndex, fake_slack: FakeSlack
) -> None:
    settings = make_settings(poll_interval=0.5)
    async with running(settings):
        await _settle(1.0)
        fake_index.add_release("Acme.Shiny_Tool", "0.0.1")
        messages = await fake_slack.wait_for_messages(1, timeout=settings.poll_interval + 2)
        await _settle(1.5)
    assert len(fake_slack.messages) == 1
    text = messages[0]["text"]
    assert "Acme.Shiny_Tool" in text
    assert "0.0.1" in text
    assert "'acme'" in text
    assert "prefix" in text


async def test_one_message_lists_every_internal_name_hit(
    make_settings: SettingsFactory, fake_index: FakeIndex, fake_slack: FakeSlack, db: Database
) -> None:
    settings = make_settings(poll_interval=0.5)
    async with running(settings):
        await _settle(1.0)
        fake_index.add_release("acme_billing", "2.0")  # exact AND under the prefix
        messages = await fake_slack.wait_for_messages(1, timeout=settings.poll_interval + 2)
        fake_index.add_release("acme_billing", "2.1")  # history, and one update, no new finding
        await fake_slack.wait_for_messages(2, timeout=settings.poll_interval + 6)
        await _settle(2.0)
    assert len(fake_slack.messages) == 2, [m["text"] for m in fake_slack.messages]
    assert fake_slack.messages[1]["text"].startswith(
        "New release of a reported squat on PyPI: acme_billing 2.1"
    )
    text = messages[0]["text"]
    assert "(exact)" in text
    assert "(prefix)" in text
    async with db.transaction() as session:
        kinds = (await session.execute(select(Finding.kind).order_by(Finding.kind))).scalars()
        assert list(kinds) == ["exact", "prefix"]
        versions = (await session.execute(select(Release.version))).scalars()
        assert sorted(versions) == ["2.0", "2.1"]


async def test_allowlisted_and_own_projects_are_not_alerted(
    make_settings: SettingsFactory, fake_index: FakeIndex, fake_slack: FakeSlack
) -> None:
    settings = make_settings(poll_interval=0.5)
    async with running(settings):
        await _settle(1.0)
        fake_index.add_release("acme-public-sdk", "1.0")
        fake_index.add_release("acme-ours", "1.0", owners=["someone"], organization="acme-corp")
        fake_index.add_release("acme-squat", "1.0")  # the control: this one alerts
        await fake_slack.wait_for_messages(1, timeout=settings.poll_interval + 2)
        await _settle(1.5)
    assert len(fake_slack.messages) == 1
    assert "acme-squat" in fake_slack.messages[0]["text"]


async def test_collision_existing_at_first_start_is_alerted_once(
    make_settings: SettingsFactory, fake_index: FakeIndex, fake_slack: FakeSlack, db: Database
) -> None:
    # Squatted before we ever ran; one with a release, one registered with none (the JSON
    # API answers 404 for it, the simple API does not).
    fake_index.add_release("payments-core", "0.1")
    fake_index.add_project("internal_tool")
    for _ in range(120):  # push both out of the feed windows
        fake_index.add_release(f"filler-{_}", "1.0")
    settings = make_settings(poll_interval=0.5)
    async with running(settings):
        messages = await fake_slack.wait_for_messages(2, timeout=5)
        await _settle(1.5)
    assert len(fake_slack.messages) == 2
    texts = sorted(m["text"] for m in messages)
    assert "internal_tool" in texts[0] or "internal-tool" in texts[0]
    assert "payments-core" in texts[1]
    # Found by the start-up catalog check or the start-up reconcile, whichever ran first.
    sources = {
        field["text"].split("\n", 1)[1]
        for message in messages
        for block in message["blocks"]
        for field in block.get("fields", [])
        if field["text"].startswith("*Seen via*")
    }
    assert sources
    assert sources <= {"catalog-check", "index"}

    async with running(settings):
        await _settle(1.5)
    assert len(fake_slack.messages) == 2
    async with db.transaction() as session:
        count = await session.scalar(select(func.count()).select_from(OutboxAlert))
    assert count == 2


async def test_slack_outage_then_every_alert_arrives_once(
    make_settings: SettingsFactory, fake_index: FakeIndex, fake_slack: FakeSlack
) -> None:
    settings = make_settings(poll_interval=0.5)
    fake_slack.fail(500, times=None)
    async with running(settings):
        await _settle(1.0)
        fake_index.add_release("acme-one", "1.0")
        fake_index.add_release("acme-two", "1.0")
        await _settle(2.0)
        assert fake_slack.messages == []
        fake_slack.clear_failures()
        fake_slack.fail(429, times=2, retry_after=1)
        await fake_slack.wait_for_messages(2, timeout=10)
        await _settle(1.5)
    texts = sorted(m["text"] for m in fake_slack.messages)
    assert "acme-one 1.0" in texts[0]
    assert "acme-two 1.0" in texts[1]


async def test_api_answers_while_running(
    make_settings: SettingsFactory, fake_index: FakeIndex
) -> None:
    fake_index.add_release("Payments_Core", "5.0")
    settings = make_settings(poll_interval=30)
    async with running(settings) as service, aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{service.port}"
        async with http.get(f"{base}/healthz") as resp:
            assert resp.status == 200
        async with http.get(f"{base}/v1/names/payments.core") as resp:
            body = await resp.json()
        assert body["risk"] == "critical"
        assert body["internal"] is True
        assert body["matches"][0]["kind"] == "exact"
        async with http.get(f"{base}/v1/names/acme-billing") as resp:
            body = await resp.json()
        assert body["public_exists"] is False
        async with http.get(f"{base}/v1/names/..%2Fx") as resp:
            assert resp.status == 400
            assert "error" in await resp.json()
