"""SlackSender against the fake Slack: what it posts, how it fails, how it finds its posts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from tests.fakes.slack import FakeSlack
from watcher.alerts import SlackSender
from watcher.alerts.slack import DeliveryError

CHANNEL = "C0SECURITY"


def payload(public_name: str = "acme-tools") -> dict[str, Any]:
    return {
        "text": f"Possible squat: {public_name} 1.0 collides with internal 'acme' (prefix)",
        "public_name": public_name,
        "display_name": public_name,
        "version": "1.0",
        "matches": [
            {"internal_display": "acme", "kind": "prefix", "detail": "under 'acme'-*"},
        ],
    }


@pytest.fixture
def sender(http: aiohttp.ClientSession, fake_slack: FakeSlack) -> SlackSender:
    return SlackSender(http, fake_slack.token, CHANNEL, base_url=fake_slack.base_url)


async def test_send_posts_text_blocks_and_metadata(
    sender: SlackSender, fake_slack: FakeSlack
) -> None:
    ts = await sender.send(7, payload())
    [message] = fake_slack.messages
    assert ts == message["ts"]
    assert message["channel"] == CHANNEL
    assert message["text"] == payload()["text"]
    assert message["blocks"][0]["type"] == "header"
    assert message["metadata"] == {
        "event_type": "watcher_alert",
        "event_payload": {"alert_id": 7, "public_name": "acme-tools"},
    }
    assert message["unfurl_links"] is False


async def test_wrong_token_is_a_delivery_error(
    http: aiohttp.ClientSession, fake_slack: FakeSlack
) -> None:
    wrong = SlackSender(http, "xoxb-wrong", CHANNEL, base_url=fake_slack.base_url)
    with pytest.raises(DeliveryError, match="invalid_auth"):
        await wrong.send(1, payload())
    assert fake_slack.messages == []


async def test_server_error_with_a_text_body_is_a_delivery_error(
    sender: SlackSender, fake_slack: FakeSlack
) -> None:
    fake_slack.fail(502)  # a proxy's plain-text page, not Slack's JSON
    with pytest.raises(DeliveryError, match="HTTP 502"):
        await sender.send(1, payload())
    assert fake_slack.messages == []


async def test_find_sent_matches_our_alert_ids_in_the_channel(
    http: aiohttp.ClientSession, sender: SlackSender, fake_slack: FakeSlack
) -> None:
    since = datetime.now(UTC) - timedelta(minutes=1)
    ts1 = await sender.send(1, payload())
    ts3 = await sender.send(3, payload("acme-other"))
    elsewhere = SlackSender(http, fake_slack.token, "C0OTHER", base_url=fake_slack.base_url)
    await elsewhere.send(2, payload())
    assert await sender.find_sent([1, 2, 3, 4], since) == {1: ts1, 3: ts3}
    assert await sender.find_sent([2, 4], since) == {}
    assert await sender.find_sent([], since) == {}
    # Messages older than `since` are not looked at.
    assert await sender.find_sent([1, 3], datetime.now(UTC) + timedelta(minutes=1)) == {}


async def test_find_sent_reads_every_page(sender: SlackSender, fake_slack: FakeSlack) -> None:
    since = datetime.now(UTC) - timedelta(minutes=1)
    oldest = await sender.send(1, payload())
    await asyncio.gather(*(sender.send(i, payload()) for i in range(100, 330)))
    assert len(fake_slack.messages) == 231
    assert await sender.find_sent([1], since) == {1: oldest}
    history_calls = [p for m, p in fake_slack.calls if m == "conversations.history"]
    assert len(history_calls) >= 2


async def test_unreadable_history_is_a_delivery_error(
    sender: SlackSender, fake_slack: FakeSlack
) -> None:
    await sender.send(1, payload())
    fake_slack.fail_app("missing_scope", method="conversations.history")
    with pytest.raises(DeliveryError, match="history"):
        await sender.find_sent([1], datetime.now(UTC) - timedelta(minutes=1))
