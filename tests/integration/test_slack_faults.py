"""Slack under faults and hostile input: the daemon against the fake index and the fake Slack.

Text from the index (versions, names, authors) must never act in our own security channel
(a mention, a disguised link); Slack dropping the connection after taking a post must not
make a second message; a rate limit must not stall the outbox for as long as it asks; and
the bot token never appears in the logs or in an alert's ``last_error``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from tests.conftest import SettingsFactory, running
from tests.fakes.pypi import FakeIndex
from tests.fakes.slack import FakeSlack
from tests.support import closed_port, prefix_alert
from watcher.alerts import Dispatcher, DispatchReport, SlackSender
from watcher.alerts.planner import Planner, Routing
from watcher.alerts.slack import MAX_RETRY_AFTER
from watcher.store import Database, outbox
from watcher.store.models import OutboxAlert

CHANNEL = "C0SECURITY"
# A Slack link whose label pretends to be the squatted project's page.
DISGUISED = "1><http://evil.example/|https://index.invalid/project/acme-billing/><x"
LINK = re.compile(r"<([^<>]*)>")


def texts(message: dict[str, Any]) -> Iterator[str]:
    """Every text of a posted message that Slack reads as mrkdwn (or as notification)."""
    yield message["text"]
    for block in message.get("blocks") or []:
        text = block.get("text") or {}
        if text.get("type") == "mrkdwn":
            yield text["text"]
        for item in [*(block.get("fields") or []), *(block.get("elements") or [])]:
            if item.get("type") == "mrkdwn":
                yield item["text"]


def links(message: dict[str, Any]) -> list[str]:
    """The control sequences (links, mentions) Slack would act on in ``message``."""
    return [m for text in texts(message) for m in LINK.findall(text)]


async def test_hostile_versions_neither_ping_nor_plant_links(
    make_settings: SettingsFactory, fake_index: FakeIndex, fake_slack: FakeSlack
) -> None:
    settings = make_settings(poll_interval=0.5)
    async with running(settings):
        await asyncio.sleep(1.0)  # the baseline poll
        fake_index.add_release("acme-billing", "<!channel>", author="<@U0BOSS> *boss*")
        fake_index.add_release("payments-core", DISGUISED)
        await fake_slack.wait_for_messages(2, timeout=10)
        await asyncio.sleep(1.0)
    assert len(fake_slack.messages) == 2
    base = settings.index.url
    for message in fake_slack.messages:
        for control in links(message):
            # The only control sequence left is the link we built, to our own index, with a
            # target free of anything that could end it or start another.
            target, _, label = control.partition("|")
            assert target.startswith(base + "/project/"), control
            assert re.fullmatch(r"[A-Za-z0-9:/._~%!+-]+", target), control
            assert "evil.example" not in control
            assert "<" not in label
        assert "<!channel>" not in message["text"]
    assert any("&lt;!channel&gt;" in m["text"] for m in fake_slack.messages)


# -- the dispatcher against a faulty Slack ---------------------------------------------


message = prefix_alert


async def enqueue(db: Database, public_name: str) -> int:
    async with db.transaction() as session:
        assert await outbox.enqueue_alert(
            session,
            event_key=f"new:{public_name}:1.0",
            public_name=public_name,
            payload=message(public_name).to_payload(),
            now=datetime.now(UTC) - timedelta(seconds=1),
        )
        row = (
            (
                await session.execute(
                    select(OutboxAlert).where(OutboxAlert.public_name == public_name)
                )
            )
            .scalars()
            .one()
        )
    return row.id


async def row(db: Database, alert_id: int) -> OutboxAlert:
    async with db.transaction() as session:
        found = await session.get(OutboxAlert, alert_id)
    assert found is not None
    return found


class Clock:
    """A clock moved by hand; starts at the real time so history lookups agree."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def sender(http: aiohttp.ClientSession, fake_slack: FakeSlack) -> SlackSender:
    return SlackSender(http, fake_slack.token, CHANNEL, base_url=fake_slack.base_url)


async def test_disconnect_after_the_post_was_taken_makes_one_message(
    db: Database, sender: SlackSender, fake_slack: FakeSlack
) -> None:
    alert_id = await enqueue(db, "acme-billing")
    fake_slack.disconnect_after_post = 1  # Slack takes the post, then the connection drops
    clock = Clock()
    dispatcher = Dispatcher(db, sender, clock=clock, retry_base=0.05)

    report = await dispatcher.dispatch()
    assert (report.sent, report.failed) == (0, 1)
    assert len(fake_slack.messages) == 1  # no blind retry of the post
    assert "ServerDisconnected" in ((await row(db, alert_id)).last_error or "")

    clock.now += timedelta(seconds=1)
    report = await dispatcher.dispatch()
    assert (report.sent, report.recovered) == (0, 1)  # found in the channel's history
    assert len(fake_slack.messages) == 1
    stored = await row(db, alert_id)
    assert (stored.status, stored.slack_ts) == ("sent", fake_slack.messages[0]["ts"])


async def test_a_long_retry_after_is_capped_and_logged(
    db: Database, sender: SlackSender, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    first = await enqueue(db, "acme-one")
    second = await enqueue(db, "acme-two")
    fake_slack.fail(429, times=1, retry_after=3600)
    clock = Clock()
    dispatcher = Dispatcher(db, sender, clock=clock)
    with caplog.at_level(logging.WARNING):
        report = await asyncio.wait_for(dispatcher.dispatch(), timeout=5)
    assert (report.sent, report.failed) == (0, 1)
    stored = await row(db, first)
    assert stored.status == "pending"
    assert stored.next_attempt_at == clock.now + timedelta(seconds=MAX_RETRY_AFTER)
    assert "Retry-After 3600" in caplog.text
    assert f"{MAX_RETRY_AFTER:.0f}" in caplog.text

    # The whole queue waits for the capped time, not for the hour Slack asked.
    clock.now += timedelta(seconds=MAX_RETRY_AFTER - 1)
    assert (await dispatcher.dispatch()).sent == 0
    clock.now += timedelta(seconds=1)
    assert (await dispatcher.dispatch()).sent == 2
    ids = [m["metadata"]["event_payload"]["alert_id"] for m in fake_slack.messages]
    assert sorted(ids) == [first, second]


def posts(fake_slack: FakeSlack) -> int:
    return sum(1 for method, _ in fake_slack.calls if method == "chat.postMessage")


async def test_a_rate_limited_history_check_waits_instead_of_posting_blind(
    db: Database, sender: SlackSender, fake_slack: FakeSlack
) -> None:
    alert_id = await enqueue(db, "acme-billing")
    fake_slack.fail(500)
    clock = Clock()
    dispatcher = Dispatcher(db, sender, clock=clock, retry_base=0.05)
    assert (await dispatcher.dispatch()).failed == 1
    # The retry must look in the history first; told to wait there, it waits.
    fake_slack.fail(429, retry_after=7, method="conversations.history")
    clock.now += timedelta(seconds=0.05)
    report = await dispatcher.dispatch()
    assert (report.sent, report.failed) == (0, 1)
    assert posts(fake_slack) == 1  # only the first, failed, attempt
    assert (await row(db, alert_id)).next_attempt_at == clock.now + timedelta(seconds=7)
    clock.now += timedelta(seconds=7)
    assert (await dispatcher.dispatch()).sent == 1
    assert posts(fake_slack) == 2


async def test_recovery_waits_out_a_rate_limited_history(
    db: Database, sender: SlackSender, fake_slack: FakeSlack
) -> None:
    alert_id = await enqueue(db, "acme-billing")
    async with db.transaction() as session:  # what a process that died mid-post leaves
        await Planner(Routing()).plan(session, datetime.now(UTC))
        await outbox.claim_due_alerts(session, datetime.now(UTC), 10)
    fake_slack.fail(429, retry_after=7, method="conversations.history")
    clock = Clock()
    dispatcher = Dispatcher(db, sender, clock=clock)
    assert await dispatcher.dispatch() == DispatchReport()
    assert posts(fake_slack) == 0  # not resent without knowing whether it landed
    assert (await row(db, alert_id)).status == "sending"
    clock.now += timedelta(seconds=6.9)
    assert await dispatcher.dispatch() == DispatchReport()
    clock.now += timedelta(seconds=0.1)
    assert (await dispatcher.dispatch()).sent == 1
    assert posts(fake_slack) == 1


async def test_the_token_is_never_logged_or_stored(
    db: Database,
    http: aiohttp.ClientSession,
    fake_slack: FakeSlack,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = fake_slack.token
    clock = Clock()
    faults: list[Callable[[], None]] = [
        lambda: fake_slack.fail(500),
        lambda: fake_slack.fail(429, retry_after=0),
        lambda: fake_slack.fail_app("invalid_auth"),
        lambda: setattr(fake_slack, "disconnect_after_post", 1),
        lambda: fake_slack.fail(500, method="conversations.history", times=None),
        fake_slack.clear_failures,  # and then Slack cannot be reached at all
    ]
    errors: set[str] = set()
    down = f"http://127.0.0.1:{closed_port()}/api/"
    with caplog.at_level(logging.DEBUG):
        for i, fault in enumerate(faults):
            base_url = down if i == len(faults) - 1 else fake_slack.base_url
            sender = SlackSender(http, token, CHANNEL, base_url=base_url)
            await enqueue(db, f"acme-{i}")
            fault()
            # A new dispatcher each time: no pause left by the previous fault.
            await Dispatcher(db, sender, clock=clock, retry_base=0.01).dispatch()
            clock.now += timedelta(seconds=1)
            fake_slack.clear_failures()
            async with db.transaction() as session:
                stored = await session.execute(select(OutboxAlert.last_error))
                errors.update(e for e in stored.scalars() if e)
    # Every fault left its error (the token test is worth nothing if nothing failed).
    for needle in ("HTTP 500", "HTTP 429", "invalid_auth", "ServerDisconnected", "unreachable"):
        assert any(needle in error for error in errors), (needle, errors)
    assert "DEBUG" in {r.levelname for r in caplog.records}  # the libraries' own lines too
    assert token not in caplog.text
    for error in errors:
        assert token not in error
