"""SlackSender against the fake Slack: what it posts, how it fails, how it finds its posts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.fakes.slack import FakeSlack
from tests.support import prefix_alert
from watcher.alerts import SlackSender
from watcher.alerts.slack import DeliveryError, open_slack_sender
from watcher.config import SlackSettings, load_settings

CHANNEL = "C0SECURITY"
USER_AGENT = "watcher-tests/0 (security@example.com)"


payload = prefix_alert


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
    assert message["text"] == payload().text
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


# -- open_slack_sender: Slack's own session -------------------------------------------


def slack_settings(base_url: str, token: str, **overrides: Any) -> SlackSettings:
    """``settings.slack`` as loaded from settings, pointed at ``base_url``."""
    values: dict[str, Any] = {
        "slack_token": token,
        "slack_channel": CHANNEL,
        "slack_api_url": base_url,
        "user_agent": USER_AGENT,
        **overrides,
    }
    settings = load_settings(**values).slack
    assert settings is not None
    return settings


@pytest.fixture
async def header_echo() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """A minimal Slack API on 127.0.0.1 that records each request's headers.

    (The fake Slack does not record headers.) Yields its base URL and the headers seen.
    """
    seen: list[dict[str, str]] = []

    async def api(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.json_response({"ok": True, "channel": CHANNEL, "ts": "1700000000.000001"})

    app = web.Application()
    app.router.add_post("/api/{method}", api)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = int(runner.addresses[0][1])
    try:
        yield f"http://127.0.0.1:{port}/api/", seen
    finally:
        await runner.cleanup()


async def test_open_slack_sender_posts_and_closes_its_session(
    clean_env: None, fake_slack: FakeSlack, opened_sessions: list[aiohttp.ClientSession]
) -> None:
    settings = slack_settings(fake_slack.base_url, fake_slack.token, slack_timeout=4.0)

    async with open_slack_sender(settings) as sender:
        ts = await sender.send(7, payload())
        [session] = opened_sessions
        assert not session.closed
        assert session.timeout == aiohttp.ClientTimeout(total=4.0, connect=10)

    assert session.closed
    [message] = fake_slack.messages
    assert ts == message["ts"]
    assert message["channel"] == CHANNEL


async def test_open_slack_sender_closes_its_session_when_the_block_raises(
    clean_env: None, fake_slack: FakeSlack, opened_sessions: list[aiohttp.ClientSession]
) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with open_slack_sender(slack_settings(fake_slack.base_url, fake_slack.token)):
            raise RuntimeError("boom")

    [session] = opened_sessions
    assert session.closed


async def test_open_slack_sender_sends_the_user_agent(
    clean_env: None, header_echo: tuple[str, list[dict[str, str]]]
) -> None:
    base_url, seen = header_echo

    async with open_slack_sender(slack_settings(base_url, "xoxb-echo")) as sender:
        assert await sender.send(1, payload()) == "1700000000.000001"

    [headers] = seen
    assert headers["User-Agent"] == USER_AGENT
    assert headers["Authorization"] == "Bearer xoxb-echo"


async def test_sender_without_a_user_agent_keeps_slack_sdks(
    http: aiohttp.ClientSession, header_echo: tuple[str, list[dict[str, str]]]
) -> None:
    base_url, seen = header_echo

    await SlackSender(http, "xoxb-echo", CHANNEL, base_url=base_url).send(1, payload())

    [headers] = seen
    assert "slackclient/" in headers["User-Agent"]


async def test_a_slow_slack_times_out_into_a_delivery_error(
    clean_env: None, fake_slack: FakeSlack
) -> None:
    fake_slack.accept_then_hang = 5.0  # takes the post, then does not answer in time
    settings = slack_settings(fake_slack.base_url, fake_slack.token, slack_timeout=0.2)
    loop = asyncio.get_running_loop()
    started = loop.time()

    async with open_slack_sender(settings) as sender:
        with pytest.raises(DeliveryError, match="Slack unreachable: TimeoutError"):
            await sender.send(1, payload())

    assert loop.time() - started < 3.0
    assert len(fake_slack.messages) == 1  # not retried: a timed-out post may have landed
