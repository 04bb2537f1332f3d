"""No floods: the first start's baseline summary, digests, threads, routing by risk, pace.

The index is the simulator, Slack the fake Slack; the reconcile, the pipeline and the
dispatcher are the production ones, wired as the daemon wires them.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from tests.fakes.pypi import FakeIndex
from tests.fakes.slack import FakeSlack
from watcher.alerts import Dispatcher, SlackSender
from watcher.alerts.messages import AlertKind, AlertMatch, AlertMessage
from watcher.alerts.planner import Routing
from watcher.alerts.slack import DeliveryError
from watcher.catalog.model import Catalog
from watcher.checks import NameChecker
from watcher.matching.live import LiveCatalog, load_view
from watcher.pipeline import Pipeline
from watcher.pypi import IndexClient
from watcher.sources import ListingSource
from watcher.store import Database
from watcher.store.base import utcnow
from watcher.store.models import Finding, FindingStatus, OutboxAlert
from watcher.web import create_app

CHANNEL = "C0SECURITY"
MENTION = "<!subteam^S0SECURITY>"


class Clock:
    """The dispatcher's clock: the real time plus what the test adds."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return utcnow() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@dataclass
class Rig:
    """Reconcile, pipeline and dispatcher over the simulator and the fake Slack."""

    db: Database
    index: FakeIndex
    slack: FakeSlack
    listing: ListingSource
    pipeline: Pipeline
    dispatcher: Dispatcher
    clock: Clock

    async def look(self) -> None:
        """One reconcile, its events processed, one dispatch round."""
        await self.listing.reconcile()
        await self.pipeline.process_pending(limit=1000)
        await self.dispatch()

    async def dispatch(self) -> None:
        # Past the gathering of a burst (the alerts were all queued already).
        self.clock.advance(60)
        await self.dispatcher.dispatch()

    def top_level(self) -> list[dict[str, Any]]:
        return self.slack.top_level()

    async def count(self, model: Any, *where: Any) -> int:
        async with self.db.transaction() as session:
            found = await session.scalar(select(func.count()).select_from(model).where(*where))
        return int(found or 0)


def make_rig(
    db: Database,
    index: FakeIndex,
    slack: FakeSlack,
    client: IndexClient,
    http: aiohttp.ClientSession,
    catalog_file: Path,
    **routing: Any,
) -> Rig:
    live = LiveCatalog(load_view(catalog_file, utcnow()))
    pipeline = Pipeline(db, client, live)
    sender = SlackSender(http, slack.token, CHANNEL, base_url=slack.base_url)
    clock = Clock()
    dispatcher = Dispatcher(
        db, sender, clock=clock, retry_base=0.05, routing=Routing(**{"pace": 0.0, **routing})
    )
    listing = ListingSource(db, client, live, pipeline.recorder)
    return Rig(db, index, slack, listing, pipeline, dispatcher, clock)


@pytest.fixture
def rig_of(
    db: Database,
    fake_index: FakeIndex,
    fake_slack: FakeSlack,
    index_client: IndexClient,
    http: aiohttp.ClientSession,
    catalog_file: Path,
) -> Any:
    return lambda **routing: make_rig(
        db, fake_index, fake_slack, index_client, http, catalog_file, **routing
    )


async def listed_by_api(db: Database) -> list[str]:
    """Public names of the open findings, as ``GET /v1/findings`` pages them."""
    app = create_app(NameChecker(LiveCatalog.of(Catalog()), _NoIndex()), db, "t0ken")
    names: list[str] = []
    async with TestClient(TestServer(app)) as api:
        cursor = ""
        while True:
            query = f"/v1/findings?status=open&limit=75&cursor={cursor}"
            async with api.get(query, headers={"Authorization": "Bearer t0ken"}) as resp:
                assert resp.status == 200, await resp.text()
                page = await resp.json()
            names += [f["public_name"] for f in page["findings"]]
            cursor = page["next_cursor"]
            if not cursor:
                return names


async def listed_by_cli(db: Database) -> list[str]:
    """Public names of the open findings, as ``watcher findings list --json`` prints them."""
    env = {**os.environ, "WATCHER_DATABASE_URL": db.url}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "watcher",
        "findings",
        "list",
        "--status",
        "open",
        "--json",
        env={k: v for k, v in env.items() if k != "WATCHER_CATALOG"},
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    document = json.loads(out)
    rows = document["findings"] if isinstance(document, dict) else document
    return [f["public_name"] for f in rows]


class _NoIndex:
    """The findings routes never ask the index."""

    confirmed = True

    async def confirm_index(self) -> None:
        raise AssertionError("the findings API asked the index")

    async def exists(self, name: str) -> bool:
        raise AssertionError(name)

    async def project(self, name: str) -> Any:
        raise AssertionError(name)


def everything(message: dict[str, Any]) -> str:
    """A message's text and blocks, as one string to search."""
    return str(message.get("text")) + repr(message.get("blocks"))


def alert_id(message: dict[str, Any]) -> int:
    return int(message["metadata"]["event_payload"]["alert_id"])


def squats(index: FakeIndex, count: int, start: int = 0) -> list[str]:
    names = [f"acme-squat-{n:03d}" for n in range(start, start + count)]
    for name in names:
        index.add_release(name, "1.0")
    return names


async def test_first_start_tells_existing_collisions_in_one_summary(rig_of: Any) -> None:
    rig: Rig = rig_of()
    names = squats(rig.index, 200)
    for n in range(50):
        rig.index.add_release(f"unrelated-{n}", "1.0")

    await rig.look()
    await rig.dispatch()

    top = rig.top_level()
    assert len(top) <= 3
    assert len(top) == 1, [m["text"] for m in top]
    summary = top[0]
    assert "200 public projects collide" in summary["text"]
    assert "200 high" in summary["text"]
    assert "watcher findings" in everything(summary)  # how to list the rest
    assert len(re.findall(r"acme-squat-\d{3}", everything(summary))) == 10  # the top ten
    assert rig.slack.messages == top  # and nothing in threads
    # All 200 are open findings, and every alert is accounted for as sent.
    assert await rig.count(Finding, Finding.status == FindingStatus.OPEN) == 200
    assert await rig.count(OutboxAlert, OutboxAlert.status != "sent") == 0
    assert await rig.count(OutboxAlert, OutboxAlert.baseline.is_(True)) == 200
    # ... listed by the API (page by page) and by the CLI, every one of them.
    assert sorted(await listed_by_api(rig.db)) == names
    assert sorted(await listed_by_cli(rig.db)) == names

    # The baseline is over: a new squat later is an alert of its own ...
    squats(rig.index, 1, start=500)
    await rig.look()
    assert len(rig.top_level()) == 2
    assert "acme-squat-500" in rig.top_level()[-1]["text"]
    # ... and a new release of a squat told by the summary goes to the summary's thread.
    rig.index.add_release(names[7], "2.0")
    await rig.look()
    assert len(rig.top_level()) == 2
    reply = rig.slack.messages[-1]
    assert reply["thread_ts"] == summary["ts"]
    assert reply["text"].startswith(f"New release of a reported squat on PyPI: {names[7]} 2.0")


async def test_a_flood_is_one_digest_with_the_full_list_in_its_thread_at_the_pace(
    rig_of: Any,
) -> None:
    rig: Rig = rig_of(pace=1.0)
    rig.index.add_release("unrelated", "1.0")
    await rig.look()  # the first start: nothing collides, nothing is said
    assert rig.slack.messages == []
    names = squats(rig.index, 300)

    await rig.look()

    top = rig.top_level()
    assert len(top) == 1
    digest = top[0]
    assert digest["text"].startswith("300 alerts at once (300 high)")
    thread = rig.slack.replies(digest["ts"])
    assert len(thread) == 10  # 30 a message
    listed = Counter(re.findall(r"acme-squat-\d{3}", "".join(everything(m) for m in thread)))
    assert sorted(listed) == names
    assert set(listed.values()) == {1}
    assert rig.slack.messages == [digest, *thread]
    stamps = [Decimal(m["ts"]) for m in rig.slack.messages]
    gaps = [later - earlier for earlier, later in itertools.pairwise(stamps)]
    # Paced on the monotonic clock, measured on the wall clock: a millisecond of leeway.
    assert min(gaps) >= Decimal("0.999"), gaps
    assert await rig.count(OutboxAlert, OutboxAlert.status != "sent") == 0

    # A release of one of them: in the digest's thread (where it was told), not top-level.
    rig.index.add_release(names[0], "1.1")
    await rig.look()
    assert len(rig.top_level()) == 1
    assert rig.slack.messages[-1]["thread_ts"] == digest["ts"]


async def test_updates_of_an_alerted_squat_go_to_its_thread(rig_of: Any) -> None:
    rig: Rig = rig_of()
    rig.index.add_release("unrelated", "1.0")
    await rig.look()
    rig.index.add_release("acme-thing", "1.0")
    await rig.look()
    [first] = rig.top_level()
    assert first["text"].startswith("Possible squat on PyPI: acme-thing 1.0")

    rig.index.add_release("acme-thing", "1.1")
    await rig.look()
    rig.index.add_release("acme-thing", "1.2")
    await rig.look()

    assert rig.top_level() == [first]
    replies = rig.slack.replies(first["ts"])
    assert [r["text"].split(" collides")[0] for r in replies] == [
        "New release of a reported squat on PyPI: acme-thing 1.1",
        "New release of a reported squat on PyPI: acme-thing 1.2",
    ]
    # A thread's replies carry no mention and stay below the parent.
    assert all(r["thread_ts"] == first["ts"] for r in replies)


async def test_low_risk_waits_for_the_daily_digest_and_critical_gets_the_mention(
    rig_of: Any,
) -> None:
    rig: Rig = rig_of(min_risk="critical", critical_mention=MENTION)
    rig.index.add_release("unrelated", "1.0")
    await rig.look()
    rig.index.add_release("acme-billing", "9.0")  # our exact name: critical
    rig.index.add_release("acme-one", "1.0")  # under our prefix: high
    rig.index.add_release("acme-two", "1.0")

    await rig.look()
    await rig.dispatch()

    [critical] = rig.top_level()
    assert critical["text"].startswith(f"{MENTION} Possible squat on PyPI: acme-billing")
    assert critical["blocks"][0]["text"]["text"] == MENTION
    assert await rig.count(OutboxAlert, OutboxAlert.route == "daily") == 2

    # The next day's first dispatch: one digest, listing both, without the mention.
    rig.clock.advance(24 * 3600)
    await rig.dispatcher.dispatch()
    await rig.dispatcher.dispatch()
    top = rig.top_level()
    assert len(top) == 2
    daily = top[1]
    assert daily["text"].startswith("Daily digest: 2 alerts below the minimum risk (2 high)")
    assert MENTION not in everything(daily)
    [part] = rig.slack.replies(daily["ts"])
    assert "acme-one" in everything(part)
    assert "acme-two" in everything(part)
    assert await rig.count(OutboxAlert, OutboxAlert.status != "sent") == 0


async def test_hostile_names_in_a_digest_are_escaped(rig_of: Any) -> None:
    rig: Rig = rig_of(digest_threshold=1)
    rig.index.add_release("unrelated", "1.0")
    await rig.look()
    rig.index.add_release("acme-a", "1.0", summary="<!channel>")
    rig.index.add_release("acme-b", "1.0")
    await rig.listing.reconcile()
    await rig.pipeline.process_pending()
    # A squatter's display name cannot be chosen freely (it is the project's name), but a
    # version is: the digest shows it escaped, in a code span, never as markup.
    async with rig.db.transaction() as session:
        row = await session.scalar(select(OutboxAlert).where(OutboxAlert.public_name == "acme-a"))
        assert row is not None
        row.payload = {**row.payload, "version": "<!here>`*bold*`"}
    await rig.dispatch()
    text = "".join(everything(m) for m in rig.slack.messages)
    assert "<!here>" not in text
    assert "&lt;!here&gt;" in text


async def test_slack_down_then_rate_limited_delivers_every_alert_once(rig_of: Any) -> None:
    rig: Rig = rig_of(digest_threshold=100)
    rig.index.add_release("unrelated", "1.0")
    await rig.look()
    names = squats(rig.index, 8)
    await rig.listing.reconcile()
    await rig.pipeline.process_pending()
    # Down (500s), then rate limited: Retry-After in seconds, then as an HTTP date; then up,
    # but the first post's answer is lost (accepted, connection dropped).
    rig.slack.fail(500, times=4)
    rig.slack.fail(429, times=1, retry_after=1)
    until = (datetime.now(UTC) + timedelta(seconds=5)).replace(microsecond=0)
    rig.slack.fail(429, times=1, retry_after=format_datetime(until, usegmt=True))
    rig.slack.disconnect_after_post = 1
    rig.clock.offset = timedelta(0)  # the real clock: every pause is waited out for real
    deadline = datetime.now(UTC) + timedelta(seconds=60)
    while await rig.count(OutboxAlert, OutboxAlert.status != "sent"):
        assert datetime.now(UTC) < deadline, "not delivered in time"
        await rig.dispatcher.dispatch()
        await asyncio.sleep(0.05)

    ids = Counter(alert_id(m) for m in rig.slack.messages)
    assert set(ids.values()) == {1}
    told = re.findall(r"acme-squat-\d{3}", " ".join(m["text"] for m in rig.slack.messages))
    assert sorted(told) == names
    # The HTTP date was honoured: nothing was posted before it (the doubling backoff alone
    # would have retried about two seconds earlier).
    assert min(Decimal(m["ts"]) for m in rig.slack.messages) >= Decimal(until.timestamp())
    statuses = Counter(method for method, _ in rig.slack.calls)
    assert statuses["chat.postMessage"] == 4 + 2 + len(names)  # no post repeated blindly


async def test_a_post_whose_answer_is_lost_is_not_posted_again_by_slack_sdk(
    fake_slack: FakeSlack, http: aiohttp.ClientSession
) -> None:
    sender = SlackSender(http, fake_slack.token, CHANNEL, base_url=fake_slack.base_url)
    rig_message = _message()
    fake_slack.disconnect_after_post = 1
    with pytest.raises(DeliveryError):
        await sender.send(7, rig_message)
    # slack-sdk's connection-error retry handler would have posted it again here.
    assert [m for m, _ in fake_slack.calls] == ["chat.postMessage"]
    assert len(fake_slack.messages) == 1
    since = datetime.now(UTC) - timedelta(minutes=1)
    assert await sender.find_sent([7], since) == {7: fake_slack.messages[0]["ts"]}
    # A reply is found in its thread (the channel's history has top-level messages only).
    parent = fake_slack.messages[0]["ts"]
    fake_slack.disconnect_after_post = 1
    with pytest.raises(DeliveryError):
        await sender.send(8, rig_message, thread_ts=parent)
    assert await sender.find_sent([8], since) == {}
    found = await sender.find_sent([8], since, thread_ts=parent)
    assert found == {8: fake_slack.messages[1]["ts"]}
    assert len(fake_slack.messages) == 2


def _message() -> AlertMessage:
    return AlertMessage(
        kind=AlertKind.NEW,
        public_name="acme-x",
        display_name="acme-x",
        matches=[AlertMatch("acme", "acme", "prefix", "under our prefix", "high")],
        severity="high",
        project_url=None,
        source="index",
        version="1.0",
    )
