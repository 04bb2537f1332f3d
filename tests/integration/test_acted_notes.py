"""A finding changed through the API, with the daemon in-process: its alert on the fake Slack
is replaced (``chat.update``) by the same alert without its buttons, saying who acted and
when; with Slack failing, the API answers all the same and the finding changed."""

from __future__ import annotations

import asyncio
import copy
import time
from typing import Any

import aiohttp
from sqlalchemy import select

from tests.conftest import SettingsFactory, running
from tests.fakes.pypi import FakeIndex
from tests.fakes.slack import FakeSlack
from tests.support import until
from watcher.alerts.acted_notes import TELL_TIMEOUT
from watcher.store import Database
from watcher.store.models import OutboxAlert


async def alerted(
    fake_index: FakeIndex, fake_slack: FakeSlack, db: Database
) -> tuple[dict[str, Any], str]:
    """The squat's alert as posted (and recorded as sent, with its message's ts: what the
    update looks for), and the finding id its buttons carry."""
    await asyncio.sleep(1.0)  # the first poll: the baseline
    fake_index.add_release("payments.core", "99.0")
    [message] = await fake_slack.wait_for_messages(1, timeout=10)
    message = copy.deepcopy(message)  # as posted (the fake changes its own on chat.update)

    async def recorded() -> bool:
        async with db.transaction() as session:
            found = await session.scalar(
                select(OutboxAlert.id).where(
                    OutboxAlert.slack_ts == message["ts"], OutboxAlert.status == "sent"
                )
            )
        return found is not None

    await until(recorded, 10, "the alert recorded as sent")
    [buttons] = [b for b in message["blocks"] if b["type"] == "actions"]
    return message, buttons["elements"][0]["value"]


async def act(
    http: aiohttp.ClientSession, port: int | None, finding_id: str, action: str, actor: str
) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}/v1/findings/{finding_id}/{action}"
    async with http.post(url, json={"actor": actor, "reason": "seen"}) as resp:
        assert resp.status == 200, await resp.text()
        answer: dict[str, Any] = await resp.json()
        return answer


async def test_acknowledging_through_the_api_updates_the_alert(
    db: Database,
    make_settings: SettingsFactory,
    fake_index: FakeIndex,
    fake_slack: FakeSlack,
    http: aiohttp.ClientSession,
) -> None:
    # No signing secret: the buttons' route is off, the alerts are still updated.
    async with running(make_settings(poll_interval=0.5)) as service:
        message, finding_id = await alerted(fake_index, fake_slack, db)
        answer = await act(http, service.port, finding_id, "acknowledge", "Bob <b@x>")
        assert answer["finding"]["status"] == "acknowledged"
        assert answer["message_updated"] is True

        [update] = fake_slack.updates
        assert (update["channel"], update["ts"]) == ("C0SECURITY", message["ts"])
        assert not [b for b in update["blocks"] if b["type"] == "actions"]  # buttons gone
        # The alert as it was sent (rendered again from the outbox), then the note.
        assert update["blocks"][:-1] == [b for b in message["blocks"] if b["type"] != "actions"]
        assert update["text"] == message["text"]
        note = update["blocks"][-1]["elements"][0]["text"]
        when = answer["finding"]["updated_at"][:16].replace("T", " ")
        assert note.startswith(f"Acknowledged by Bob &lt;b@x&gt; at {when}")  # escaped
        assert note.endswith(f"UTC (findings {finding_id})")

        # Each change says so: resolved, then reopened.
        assert (await act(http, service.port, finding_id, "resolve", "carol"))["message_updated"]
        assert (await act(http, service.port, finding_id, "reopen", "dave"))["message_updated"]
        notes = [u["blocks"][-1]["elements"][0]["text"] for u in fake_slack.updates]
        assert [n.split(" at ")[0] for n in notes] == [
            "Acknowledged by Bob &lt;b@x&gt;",
            "Resolved by carol",
            "Reopened by dave",
        ]
        assert {u["ts"] for u in fake_slack.updates} == {message["ts"]}
        assert len(fake_slack.messages) == 1  # updated, never posted again


async def test_with_slack_down_the_api_answers_and_the_finding_changes(
    db: Database,
    make_settings: SettingsFactory,
    fake_index: FakeIndex,
    fake_slack: FakeSlack,
    http: aiohttp.ClientSession,
) -> None:
    async with running(make_settings(poll_interval=0.5)) as service:
        _, finding_id = await alerted(fake_index, fake_slack, db)
        fake_slack.fail(503, times=None, method="chat.update")
        started = time.monotonic()
        answer = await act(http, service.port, finding_id, "acknowledge", "bob")
        assert time.monotonic() - started < TELL_TIMEOUT + 2  # bounded
        assert answer["message_updated"] is False
        assert answer["finding"]["status"] == "acknowledged"
        assert [m for m, _ in fake_slack.calls if m == "chat.update"]  # it was tried
        assert fake_slack.updates == []
        async with http.get(f"http://127.0.0.1:{service.port}/v1/findings/{finding_id}") as resp:
            shown = await resp.json()
        assert shown["status"] == "acknowledged"
        assert shown["history"][-1]["actor"] == "bob"


async def test_without_slack_nothing_is_told(
    make_settings: SettingsFactory,
    fake_index: FakeIndex,
    fake_slack: FakeSlack,
    http: aiohttp.ClientSession,
) -> None:
    settings = make_settings(poll_interval=0.5, slack_token=None, slack_channel=None)
    async with running(settings) as service:
        await asyncio.sleep(1.0)
        fake_index.add_release("payments.core", "99.0")
        deadline = time.monotonic() + 10
        url = f"http://127.0.0.1:{service.port}/v1/findings?public=payments-core"
        found: list[dict[str, Any]] = []
        while not found and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            async with http.get(url) as resp:
                found = (await resp.json())["findings"]
        [finding] = found
        answer = await act(http, service.port, str(finding["id"]), "acknowledge", "bob")
        assert answer["message_updated"] is False
    assert fake_slack.calls == []
