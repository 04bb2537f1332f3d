"""The webhook destination through the outbox: every alert once, through outages, restarts
and a SIGKILL between the receiver taking a request and the outbox recording it.

The index is the simulator, the receiver a real local server checking signatures the way
the documentation tells receivers to; the pipeline and dispatchers are the production ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from tests.conftest import SettingsFactory
from tests.fakes.pypi import FakeIndex
from tests.fakes.slack import FakeSlack
from tests.fakes.webhook import SECRET, FakeWebhook
from tests.support import daemon, until
from watcher.alerts import Dispatcher, SlackSender
from watcher.alerts.planner import Routing
from watcher.alerts.webhook import WebhookSender
from watcher.alerts.webhook_dispatcher import WebhookDispatcher
from watcher.matching.live import LiveCatalog, load_view
from watcher.pipeline import Pipeline
from watcher.pypi import IndexClient
from watcher.sources import ListingSource
from watcher.store import Database, deliveries
from watcher.store.base import utcnow
from watcher.store.models import AlertDelivery, FeedState, OutboxAlert
from watcher.store.status import coverage


class Clock:
    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> Any:
        return utcnow() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@pytest.fixture
async def receiver() -> AsyncIterator[FakeWebhook]:
    async with FakeWebhook() as hook:
        yield hook


async def count(db: Database, model: Any, *where: Any) -> int:
    async with db.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


class Rig:
    """Reconcile and pipeline over the simulator; the webhook's and Slack's dispatchers."""

    def __init__(
        self,
        db: Database,
        index: FakeIndex,
        client: IndexClient,
        http: aiohttp.ClientSession,
        catalog_file: Path,
        receiver: FakeWebhook,
        slack: FakeSlack,
    ) -> None:
        live = LiveCatalog(load_view(catalog_file, utcnow()))
        self.db, self.index, self.receiver, self.slack = db, index, receiver, slack
        self.pipeline = Pipeline(db, client, live)
        self.listing = ListingSource(db, client, live, self.pipeline.recorder)
        self.clock = Clock()
        self.http = http
        self.webhook = self.new_webhook()
        self.slack_dispatcher = Dispatcher(
            db,
            SlackSender(http, slack.token, "C0SEC", base_url=slack.base_url),
            clock=self.clock,
            retry_base=0.05,
            routing=Routing(pace=0.0),
        )

    def new_webhook(self) -> WebhookDispatcher:
        """A dispatcher as a new process would have (recovery not done yet)."""
        sender = WebhookSender(self.http, self.receiver.url, SECRET)
        return WebhookDispatcher(self.db, sender, clock=self.clock, retry_base=1.0)

    async def look(self) -> None:
        await self.listing.reconcile()
        await self.pipeline.process_pending(limit=1000)

    async def deliver(self, rounds: int = 1, step: float = 400) -> None:
        for _ in range(rounds):
            await self.webhook.dispatch()
            self.clock.advance(step)

    async def alerts(self) -> int:
        return await count(self.db, OutboxAlert, OutboxAlert.event_key != "baseline")


@pytest.fixture
async def rig(
    db: Database,
    fake_index: FakeIndex,
    index_client: IndexClient,
    http: aiohttp.ClientSession,
    catalog_file: Path,
    receiver: FakeWebhook,
    fake_slack: FakeSlack,
) -> Rig:
    rig = Rig(db, fake_index, index_client, http, catalog_file, receiver, fake_slack)
    await rig.webhook.enable()
    return rig


def squats(index: FakeIndex, count: int, start: int = 0) -> list[str]:
    names = [f"acme-squat-{n:03d}" for n in range(start, start + count)]
    for name in names:
        index.add_release(name, "1.0")
    return names


async def test_every_alert_reaches_the_webhook_once_through_an_outage(rig: Rig) -> None:
    rig.index.add_release("unrelated", "1.0")
    await rig.look()  # the first start: nothing collides
    names = squats(rig.index, 30)
    await rig.look()
    assert await rig.alerts() == 30
    # Down: 500s, then rate limited with a Retry-After, then a 503 with an HTTP date.
    rig.receiver.fail(500, times=3)
    rig.receiver.fail(429, times=2, retry_after="20")
    rig.receiver.fail(503, times=1, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")
    rig.receiver.accept_then_fail = 2  # took two, and the answers said otherwise
    await rig.deliver(rounds=12)

    assert len(rig.receiver.accepted) == 30  # every alert, each under its own id
    assert sorted(b["public_name"] for b in rig.receiver.bodies()) == names
    assert all(r["valid"] for r in rig.receiver.requests)
    assert rig.receiver.repeats == 2  # the two it took and answered 500 came again, same ids
    assert await count(rig.db, AlertDelivery, AlertDelivery.status != "sent") == 0
    async with rig.db.transaction() as session:
        assert (await coverage(session)).deliveries == {"webhook": {"sent": 30}}
    # A new release of a squat is one more alert, delivered once.
    rig.index.add_release(names[3], "2.0")
    await rig.look()
    await rig.deliver()
    assert len(rig.receiver.accepted) == 31
    last = rig.receiver.bodies()[-1]
    assert (last["event"], last["public_name"], last["alert"]["version"]) == (
        "release",
        names[3],
        "2.0",
    )


async def test_the_baseline_and_digests_are_slacks_the_webhook_gets_every_alert(
    rig: Rig,
) -> None:
    names = squats(rig.index, 40)
    await rig.look()  # the first start: a baseline of 40 collisions
    rig.clock.advance(60)
    await rig.slack_dispatcher.dispatch()
    await rig.slack_dispatcher.dispatch()
    assert len(rig.slack.top_level()) == 1  # one summary on Slack
    await rig.deliver(rounds=2)
    assert sorted(b["public_name"] for b in rig.receiver.bodies()) == names
    assert {b["event"] for b in rig.receiver.bodies()} == {"new"}  # no summary, no digest


async def test_a_restart_sends_what_was_in_flight_again_under_the_same_id(rig: Rig) -> None:
    squats(rig.index, 1, start=900)
    rig.index.add_release("unrelated", "1.0")
    await rig.look()
    squats(rig.index, 3)
    await rig.look()
    # A process claimed them and died: the rows are left in 'sending'.
    async with rig.db.write() as session:
        claimed = await deliveries.claim_due(session, "webhook", rig.clock(), 10)
    assert len(claimed) == 4
    rig.webhook = rig.new_webhook()
    await rig.deliver()
    assert len(rig.receiver.accepted) == 4
    assert await count(rig.db, AlertDelivery, AlertDelivery.status == "sent") == 4


async def test_only_alerts_queued_while_the_webhook_is_configured_go_to_it(rig: Rig) -> None:
    async with rig.db.transaction() as session:
        await deliveries.set_destinations(session, set(), utcnow())
    rig.index.add_release("unrelated", "1.0")
    await rig.look()
    squats(rig.index, 2)
    await rig.look()
    assert await count(rig.db, AlertDelivery) == 0  # not configured: nothing queued for it
    await rig.webhook.enable()
    squats(rig.index, 1, start=500)
    await rig.look()
    await rig.deliver()
    assert [b["public_name"] for b in rig.receiver.bodies()] == ["acme-squat-500"]


# -- the daemon as a process -------------------------------------------------------------


async def _delivered(db: Database, n: int) -> bool:
    return await count(db, AlertDelivery, AlertDelivery.status == "sent") == n


@pytest.mark.slow
async def test_sigkill_after_the_receiver_took_it_is_sent_again_with_the_same_id(
    make_settings: SettingsFactory,
    fake_index: FakeIndex,
    receiver: FakeWebhook,
    db: Database,
    tmp_path: Path,
) -> None:
    settings = make_settings(webhook_url=receiver.url, webhook_secret=SECRET)
    log = tmp_path / "daemon.log"
    receiver.hang = 60.0  # takes the request; the answer never comes
    async with daemon(settings, log) as first:
        await until(lambda: _polled(db), 15, "the first poll", log)
        fake_index.add_release("acme-inflight", "1.0")
        await until(lambda: _has(receiver, 1), 20, "the receiver took it", log)
        await first.kill()
    assert await count(db, AlertDelivery, AlertDelivery.status == "sending") == 1

    receiver.hang = 0.0
    fake_index.add_release("acme-later", "1.0")
    async with daemon(settings, log):
        await until(lambda: _delivered(db, 2), 20, "both delivered", log)
        await asyncio.sleep(1.0)
    assert sorted(b["public_name"] for b in receiver.bodies()) == ["acme-inflight", "acme-later"]
    assert receiver.repeats == 1  # sent again after the restart, under the id it had
    assert all(r["valid"] for r in receiver.requests)


async def _polled(db: Database) -> bool:
    return await count(db, FeedState) > 0


async def _has(receiver: FakeWebhook, n: int) -> bool:
    return len(receiver.accepted) >= n
