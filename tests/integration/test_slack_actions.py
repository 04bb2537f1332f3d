"""The alert's buttons end to end, with the daemon in-process: a squat is alerted on the fake
Slack with Acknowledge and Suppress buttons; a click, signed as Slack signs it, acknowledges
the finding (seen in the API) and updates the message with who acted and when. A forged,
stale, replayed or unsigned request answers 401 and changes nothing."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp

from tests.conftest import SettingsFactory, running
from tests.fakes.pypi import FakeIndex
from tests.fakes.slack import FakeSlack

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
USER = {"id": "U0ALICE", "username": "alice", "name": "alice", "team_id": "T0FAKE"}


def sign(body: bytes, timestamp: int, secret: str = SECRET) -> dict[str, str]:
    """Slack's v0 request signature, computed here from Slack's documentation."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def click(message: dict[str, Any], action_id: str, value: str | None = None) -> bytes:
    """The body Slack posts when ``action_id``'s button of ``message`` is clicked."""
    [buttons] = [b for b in message["blocks"] if b["type"] == "actions"]
    [button] = [e for e in buttons["elements"] if e["action_id"] == action_id]
    payload = {
        "type": "block_actions",
        "user": USER,
        "api_app_id": "A0FAKEAPP",
        "container": {
            "type": "message",
            "message_ts": message["ts"],
            "channel_id": message["channel"],
            "is_ephemeral": False,
        },
        "channel": {"id": message["channel"], "name": "security"},
        "message": {
            "type": "message",
            "ts": message["ts"],
            "text": message["text"],
            "blocks": message["blocks"],
        },
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": buttons["block_id"],
                "value": button["value"] if value is None else value,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


async def alerted(fake_index: FakeIndex, fake_slack: FakeSlack) -> dict[str, Any]:
    await asyncio.sleep(1.0)  # the first poll: the baseline
    fake_index.add_release("payments.core", "99.0")
    [message] = await fake_slack.wait_for_messages(1, timeout=10)
    return copy.deepcopy(message)  # as posted (the fake changes its own on chat.update)


async def finding(http: aiohttp.ClientSession, port: int | None, finding_id: str) -> dict[str, Any]:
    async with http.get(f"http://127.0.0.1:{port}/v1/findings/{finding_id}") as resp:
        assert resp.status == 200
        shown: dict[str, Any] = await resp.json()
        return shown


async def test_a_signed_click_acknowledges_and_updates_the_message(
    make_settings: SettingsFactory,
    fake_index: FakeIndex,
    fake_slack: FakeSlack,
    http: aiohttp.ClientSession,
) -> None:
    settings = make_settings(poll_interval=0.5, slack_signing_secret=SECRET)
    async with running(settings) as service:
        message = await alerted(fake_index, fake_slack)
        [buttons] = [b for b in message["blocks"] if b["type"] == "actions"]
        labels = [e["text"]["text"] for e in buttons["elements"]]
        assert labels == ["Acknowledge", "Suppress"]
        finding_id = buttons["elements"][0]["value"]
        assert finding_id.isdigit()
        url = f"http://127.0.0.1:{service.port}/slack/actions"

        body = click(message, "watcher_acknowledge")
        headers = sign(body, int(time.time()))
        async with http.post(url, data=body, headers=headers) as resp:
            assert resp.status == 200, await resp.text()
            answer = await resp.json()
        assert answer["changed"] == [int(finding_id)]
        assert answer["message_updated"] is True

        shown = await finding(http, service.port, finding_id)
        assert shown["status"] == "acknowledged"
        last = shown["history"][-1]
        assert (last["action"], last["via"], last["actor"]) == (
            "acknowledge",
            "slack",
            "alice (U0ALICE)",
        )
        [update] = fake_slack.updates
        assert (update["channel"], update["ts"]) == (message["channel"], message["ts"])
        assert not [b for b in update["blocks"] if b["type"] == "actions"]  # buttons gone
        note = update["blocks"][-1]["elements"][0]["text"]
        assert note.startswith("Acknowledged by alice (U0ALICE) at ")
        assert last["at"][:16].replace("T", " ") in note  # when, to the minute
        assert update["blocks"][:-1] == [b for b in message["blocks"] if b["type"] != "actions"]

        # The same request again (a replay within the window) is refused.
        async with http.post(url, data=body, headers=headers) as resp:
            assert resp.status == 401
        assert len(fake_slack.updates) == 1


async def test_forged_stale_unsigned_and_unknown_clicks_change_nothing(
    make_settings: SettingsFactory,
    fake_index: FakeIndex,
    fake_slack: FakeSlack,
    http: aiohttp.ClientSession,
) -> None:
    settings = make_settings(poll_interval=0.5, slack_signing_secret=SECRET)
    async with running(settings) as service:
        message = await alerted(fake_index, fake_slack)
        finding_id = next(b for b in message["blocks"] if b["type"] == "actions")["elements"][0][
            "value"
        ]
        url = f"http://127.0.0.1:{service.port}/slack/actions"
        body = click(message, "watcher_suppress")
        now = int(time.time())
        refused = {
            "forged": sign(body, now, secret="not-the-signing-secret"),
            "stale": sign(body, now - 6 * 60),  # signed right, six minutes ago
            "from the future": sign(body, now + 6 * 60),
            "unsigned": {"Content-Type": "application/x-www-form-urlencoded"},
            "bad timestamp": {**sign(body, now), "X-Slack-Request-Timestamp": "soon"},
        }
        for what, headers in refused.items():
            async with http.post(url, data=body, headers=headers) as resp:
                assert resp.status == 401, what
                assert (await resp.json())["error"].startswith("bad, stale"), what
        # Signed right, but the body was altered after signing.
        headers = sign(body, now)
        async with http.post(url, data=body.replace(b"alice", b"mallo"), headers=headers) as resp:
            assert resp.status == 401

        # Signed right, naming a finding that does not exist (alone, or with a real one).
        for value in ("999999", f"{finding_id},999999"):
            unknown = click(message, "watcher_acknowledge", value=value)
            async with http.post(url, data=unknown, headers=sign(unknown, now)) as resp:
                assert resp.status == 404
                assert (await resp.json())["error"] == "no finding 999999: nothing was changed"

        shown = await finding(http, service.port, finding_id)
        assert shown["status"] == "open"
        assert [e["action"] for e in shown["history"]] == ["open"]
        assert fake_slack.updates == []


async def test_a_replay_to_another_process_is_refused_too(
    make_settings: SettingsFactory,
    fake_index: FakeIndex,
    fake_slack: FakeSlack,
    http: aiohttp.ClientSession,
) -> None:
    # Another replica (here: the service restarted, its memory gone) shares the database.
    settings = make_settings(poll_interval=0.5, slack_signing_secret=SECRET)
    async with running(settings) as service:
        message = await alerted(fake_index, fake_slack)
        body = click(message, "watcher_acknowledge")
        headers = sign(body, int(time.time()))
        url = f"http://127.0.0.1:{service.port}/slack/actions"
        async with http.post(url, data=body, headers=headers) as resp:
            assert resp.status == 200, await resp.text()
            [finding_id] = (await resp.json())["changed"]
    async with running(settings) as other:
        url = f"http://127.0.0.1:{other.port}/slack/actions"
        async with http.post(url, data=body, headers=headers) as resp:
            assert resp.status == 401  # not 409 "already acknowledged": refused as a replay
        shown = await finding(http, other.port, str(finding_id))
    assert [h["action"] for h in shown["history"]] == ["open", "acknowledge"]
    assert len(fake_slack.updates) == 1
