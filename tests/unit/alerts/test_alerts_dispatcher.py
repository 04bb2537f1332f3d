"""The outbox dispatcher and the Slack sender against the fake Slack, on both databases."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from packaging.utils import canonicalize_name
from sqlalchemy import select

from tests.fakes.slack import FakeSlack
from tests.support import closed_port
from watcher.alerts import Dispatcher, DispatchReport, SlackSender
from watcher.alerts.digests import Digest
from watcher.alerts.messages import AlertKind, AlertMessage
from watcher.alerts.planner import Planner, Routing
from watcher.catalog import Catalog, load_catalog_file
from watcher.matching import build_matcher
from watcher.pipeline import Observation, Recorder
from watcher.pypi import IndexClient, ProjectInfo, ReleaseInfo
from watcher.store import Database, outbox
from watcher.store.models import OutboxAlert

CHANNEL = "C0SECURITY"
EVENT_TYPE = "watcher_alert"


class Clock:
    """A clock the test moves by hand; starts at the real time so history lookups agree."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def sender(http: aiohttp.ClientSession, fake_slack: FakeSlack) -> SlackSender:
    return SlackSender(http, fake_slack.token, CHANNEL, base_url=fake_slack.base_url)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def catalog(catalog_file: Path) -> Catalog:
    return load_catalog_file(catalog_file)


class Outbox:
    """Builds alerts exactly as the pipeline's recorder does and enqueues them."""

    def __init__(self, db: Database, http: aiohttp.ClientSession, catalog: Catalog) -> None:
        self.db = db
        self.catalog = catalog
        client = IndexClient(http, "http://127.0.0.1:9")  # only used for project URLs
        self.recorder = Recorder(client.project_url)

    def message(
        self, display: str, version: str | None, info: ProjectInfo | None = None
    ) -> AlertMessage:
        norm = canonicalize_name(display)
        matches = build_matcher(self.catalog).match(norm)
        assert matches, display
        obs = Observation(
            public_name=norm,
            display_name=display,
            version=version,
            source="feed:updates",
            matches=matches,
            info=info,
        )
        return self.recorder._message(self.catalog, obs, matches, display, AlertKind.NEW)

    async def add(
        self, display: str, version: str | None = "1.0", info: ProjectInfo | None = None
    ) -> int:
        message = self.message(display, version, info)
        return await self.add_payload(
            f"new:{message.public_name}:{version}", message.public_name, message.to_payload()
        )

    async def add_payload(self, key: str, public_name: str, payload: dict[str, Any]) -> int:
        async with self.db.transaction() as session:
            assert await outbox.enqueue_alert(
                session,
                event_key=key,
                public_name=public_name,
                payload=payload,
                now=datetime.now(UTC) - timedelta(seconds=1),
            )
            row = (
                (await session.execute(select(OutboxAlert).order_by(OutboxAlert.id.desc())))
                .scalars()
                .first()
            )
        assert row is not None
        return row.id

    async def row(self, alert_id: int) -> OutboxAlert:
        async with self.db.transaction() as session:
            row = await session.get(OutboxAlert, alert_id)
        assert row is not None
        return row

    async def stored_message(self, alert_id: int) -> AlertMessage:
        """The alert as the dispatcher hands it to a sender."""
        return AlertMessage.from_payload((await self.row(alert_id)).payload)

    async def claim_all(self) -> list[int]:
        """What a process that died mid-post leaves behind: rows routed, then in 'sending'."""
        async with self.db.transaction() as session:
            await Planner(Routing()).plan(session, datetime.now(UTC))
            claimed = await outbox.claim_due_alerts(session, datetime.now(UTC), 100)
        return [a.id for a in claimed]


class RecordingSender:
    """An :class:`AlertSender` that keeps what it was given (and finds nothing sent)."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, AlertMessage]] = []

    async def send(
        self,
        alert_id: int,
        message: AlertMessage | Digest,
        *,
        thread_ts: str | None = None,
        mention: str | None = None,
    ) -> str:
        assert isinstance(message, AlertMessage)
        self.sent.append((alert_id, message))
        return f"{len(self.sent)}.000000"

    async def find_sent(
        self, alert_ids: Iterable[int], since: datetime, *, thread_ts: str | None = None
    ) -> dict[int, str]:
        return {}


@pytest.fixture
def queue(db: Database, http: aiohttp.ClientSession, catalog: Catalog) -> Outbox:
    return Outbox(db, http, catalog)


def posts(fake_slack: FakeSlack) -> int:
    return sum(1 for method, _ in fake_slack.calls if method == "chat.postMessage")


def alert_ids(fake_slack: FakeSlack) -> list[int]:
    return [int(m["metadata"]["event_payload"]["alert_id"]) for m in fake_slack.messages]


# --- delivery ---------------------------------------------------------------------------


async def test_pending_alerts_are_sent_once_and_marked_sent(
    db: Database, sender: SlackSender, fake_slack: FakeSlack, queue: Outbox, clock: Clock
) -> None:
    info = ProjectInfo(
        name="payments.core",
        canonical=canonicalize_name("payments.core"),
        latest_version="99.0",
        summary="Totally legit payments",
        author="Mallory",
        author_email="mallory@example.com",
        owners=("mallory",),
        organization=None,
        releases=(ReleaseInfo("99.0", datetime(2024, 5, 1, tzinfo=UTC), ("p.tar.gz",), False),),
        last_serial=42,
    )
    first = await queue.add("payments.core", "99.0", info)
    second = await queue.add("acme-billing", "0.1")
    dispatcher = Dispatcher(db, sender, clock=clock)

    report = await dispatcher.dispatch()

    assert (report.sent, report.failed, report.recovered) == (2, 0, 0)
    assert len(fake_slack.messages) == 2
    by_id = {int(m["metadata"]["event_payload"]["alert_id"]): m for m in fake_slack.messages}
    assert set(by_id) == {first, second}

    message = by_id[first]
    assert message["channel"] == CHANNEL
    text = message["text"]
    for part in ("payments.core", "99.0", "Payments_Core", "exact"):
        assert part in text
    assert message["metadata"]["event_type"] == EVENT_TYPE
    assert message["metadata"]["event_payload"]["public_name"] == "payments-core"
    blocks = message["blocks"]
    assert blocks[0]["type"] == "header"
    assert "Payments_Core" in blocks[1]["text"]["text"]
    assert "exact" in blocks[1]["text"]["text"]
    assert any("Mallory" in f["text"] for f in blocks[2]["fields"])

    other = by_id[second]["text"]
    for part in ("acme-billing", "0.1", "exact", "prefix", "'acme'"):
        assert part in other

    for alert_id in (first, second):
        row = await queue.row(alert_id)
        assert row.status == "sent"
        assert row.attempts == 1
        assert row.slack_ts == by_id[alert_id]["ts"]
        assert row.sent_at == clock.now
        assert row.last_error is None

    # Nothing is sent twice.
    clock.advance(3600)
    again = await dispatcher.dispatch()
    assert (again.sent, again.failed) == (0, 0)
    assert posts(fake_slack) == 2
    assert await Dispatcher(db, sender, clock=clock).dispatch() == again


async def test_no_sender_sends_nothing_and_rows_stay_pending(
    db: Database, fake_slack: FakeSlack, queue: Outbox, clock: Clock
) -> None:
    pending = await queue.add("acme-billing")
    dispatcher = Dispatcher(db, None, clock=clock)
    assert await dispatcher.recover() == 0
    report = await dispatcher.dispatch()
    assert (report.sent, report.failed, report.recovered) == (0, 0, 0)
    row = await queue.row(pending)
    assert (row.status, row.attempts, row.last_error) == ("pending", 0, None)
    assert fake_slack.calls == []


# --- failures and backoff ---------------------------------------------------------------


async def test_server_errors_retried_with_backoff_then_delivered_once(
    db: Database, sender: SlackSender, fake_slack: FakeSlack, queue: Outbox, clock: Clock
) -> None:
    # A 500 may come after Slack took the post: the sender does not retry it blindly, the
    # dispatcher backs off (and looks in the channel's history before posting again).
    fake_slack.fail(500, times=1)
    alert_id = await queue.add("acme-billing")
    dispatcher = Dispatcher(db, sender, clock=clock, retry_base=0.05)

    report = await dispatcher.dispatch()
    assert (report.sent, report.failed) == (0, 1)
    assert fake_slack.messages == []
    row = await queue.row(alert_id)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error is not None
    assert "500" in row.last_error
    assert row.next_attempt_at == clock.now + timedelta(seconds=0.05)

    # Not due yet: nothing is tried.
    calls = len(fake_slack.calls)
    clock.advance(0.04)
    assert (await dispatcher.dispatch()).sent == 0
    assert len(fake_slack.calls) == calls

    clock.advance(0.01)
    report = await dispatcher.dispatch()
    assert (report.sent, report.failed) == (1, 0)
    assert alert_ids(fake_slack) == [alert_id]
    row = await queue.row(alert_id)
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)
    assert row.slack_ts == fake_slack.messages[0]["ts"]

    clock.advance(60)
    assert (await dispatcher.dispatch()).sent == 0
    assert len(fake_slack.messages) == 1


async def test_backoff_doubles_up_to_the_cap(
    db: Database, sender: SlackSender, fake_slack: FakeSlack, queue: Outbox, clock: Clock
) -> None:
    fake_slack.fail_app("service_unavailable", times=4)
    alert_id = await queue.add("acme-billing")
    dispatcher = Dispatcher(db, sender, clock=clock, retry_base=0.05, retry_max=0.15)
    delays = []
    for _ in range(4):
        report = await dispatcher.dispatch()
        assert (report.sent, report.failed) == (0, 1)
        row = await queue.row(alert_id)
        delays.append((row.next_attempt_at - clock.now).total_seconds())
        clock.advance(delays[-1])
    assert delays == pytest.approx([0.05, 0.1, 0.15, 0.15])
    report = await dispatcher.dispatch()
    assert report.sent == 1
    assert (await queue.row(alert_id)).attempts == 5
    assert alert_ids(fake_slack) == [alert_id]


async def test_rate_limit_waits_for_retry_after(
    db: Database, sender: SlackSender, fake_slack: FakeSlack, queue: Outbox, clock: Clock
) -> None:
    fake_slack.fail(429, times=1, retry_after=2)
    alert_id = await queue.add("acme-billing")
    other = await queue.add("payments-core")
    dispatcher = Dispatcher(db, sender, clock=clock, retry_base=0.05)
    started = time.monotonic()
    report = await dispatcher.dispatch()
    # Not slept on inside the run: the alert is rescheduled for when Slack said, and the
    # whole queue waits until then.
    assert time.monotonic() - started < 1.0
    assert (report.sent, report.failed) == (0, 1)
    row = await queue.row(alert_id)
    assert row.status == "pending"
    assert row.next_attempt_at == clock.now + timedelta(seconds=2)
    clock.advance(1.9)
    assert await dispatcher.dispatch() == DispatchReport()
    assert posts(fake_slack) == 1
    clock.advance(0.1)
    assert (await dispatcher.dispatch()).sent == 2
    assert posts(fake_slack) == 3
    assert sorted(alert_ids(fake_slack)) == sorted([alert_id, other])
    assert (await queue.row(alert_id)).status == "sent"


async def test_persistent_rate_limit_leaves_alert_pending(
    db: Database, sender: SlackSender, fake_slack: FakeSlack, queue: Outbox, clock: Clock
) -> None:
    fake_slack.fail(429, times=None, retry_after=0)
    alert_id = await queue.add("acme-billing")
    dispatcher = Dispatcher(db, sender, clock=clock, retry_base=0.05)
    report = await dispatcher.dispatch()
    assert (report.sent, report.failed) == (0, 1)
    row = await queue.row(alert_id)
    assert row.status == "pending"
    assert row.last_error is not None
    assert "429" in row.last_error
    assert "ratelimited" in row.last_error
    assert fake_slack.messages == []

    fake_slack.clear_failures()
    clock.advance(0.05)
    assert (await dispatcher.dispatch()).sent == 1
    assert alert_ids(fake_slack) == [alert_id]


async def test_app_error_keeps_alert_pending_with_the_error(
    db: Database, sender: SlackSender, fake_slack: FakeSlack, queue: Outbox, clock: Clock
) -> None:
    fake_slack.fail_app("channel_not_found", times=None)
    alert_id = await queue.add("acme-billing")
    dispatcher = Dispatcher(db, sender, clock=clock, retry_base=0.05)
    for attempt in (1, 2):
        report = await dispatcher.dispatch()
        assert (report.sent, report.failed) == (0, 1)
        row = await queue.row(alert_id)
        assert (row.status, row.attempts) == ("pending", attempt)
        assert row.last_error is not None
        assert "channel_not_found" in row.last_error
        clock.advance(1)
    assert fake_slack.messages == []

    fake_slack.clear_failures()
    assert (await dispatcher.dispatch()).sent == 1
    assert alert_ids(fake_slack) == [alert_id]


async def test_unreachable_slack_keeps_alerts_pending(
    db: Database, http: aiohttp.ClientSession, queue: Outbox, clock: Clock
) -> None:
    base_url = f"http://127.0.0.1:{closed_port()}/api/"
    down = SlackSender(http, "xoxb-test-token", CHANNEL, base_url=base_url)
    first = await queue.add("acme-billing")
    second = await queue.add("payments-core")
    report = await Dispatcher(db, down, clock=clock, retry_base=0.05).dispatch()
    assert (report.sent, report.failed) == (0, 1)
    row = await queue.row(first)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error is not None
    assert "unreachable" in row.last_error
    # The rest of the batch is handed back untried rather than hammering a dead Slack.
    untried = await queue.row(second)
    assert (untried.status, untried.attempts, untried.last_error) == ("pending", 0, None)


async def test_answer_lost_after_post_is_not_posted_twice(
    db: Database, fake_slack: FakeSlack, queue: Outbox, clock: Clock
) -> None:
    alert_id = await queue.add("acme-billing")
    fake_slack.accept_then_hang = 5.0  # Slack takes the post but the answer never comes
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.5)) as impatient:
        sender = SlackSender(impatient, fake_slack.token, CHANNEL, base_url=fake_slack.base_url)
        dispatcher = Dispatcher(db, sender, clock=clock, retry_base=0.05)
        report = await dispatcher.dispatch()
        assert (report.sent, report.failed) == (0, 1)
        assert len(fake_slack.messages) == 1
        assert (await queue.row(alert_id)).status != "sent"

        fake_slack.accept_then_hang = 0.0
        clock.advance(1)
        await dispatcher.dispatch()
    assert alert_ids(fake_slack) == [alert_id]
    row = await queue.row(alert_id)
    assert row.status == "sent"
    assert row.slack_ts == fake_slack.messages[0]["ts"]


# --- recovery of rows left in 'sending' -------------------------------------------------


async def test_recovery_marks_posted_alert_sent_without_reposting(
    db: Database, sender: SlackSender, fake_slack: FakeSlack, queue: Outbox, clock: Clock
) -> None:
    alert_id = await queue.add("acme-billing")
    assert await queue.claim_all() == [alert_id]
    # The dead process got as far as posting.
    ts = await sender.send(alert_id, await queue.stored_message(alert_id))

    report = await Dispatcher(db, sender, clock=clock).dispatch()

    assert (report.recovered, report.sent, report.failed) == (1, 0, 0)
    assert posts(fake_slack) == 1
    row = await queue.row(alert_id)
    assert (row.status, row.slack_ts, row.attempts) == ("sent", ts, 1)


async def test_recovery_resends_alert_missing_from_history(
    db: Database,
    http: aiohttp.ClientSession,
    sender: SlackSender,
    fake_slack: FakeSlack,
    queue: Outbox,
    clock: Clock,
) -> None:
    alert_id = await queue.add("acme-billing")
    other_id = await queue.add("payments-core")
    assert await queue.claim_all() == [alert_id, other_id]
    message = await queue.stored_message(alert_id)
    # In the channel: another alert. Elsewhere: this alert, in a different channel.
    await sender.send(other_id, await queue.stored_message(other_id))
    elsewhere = SlackSender(http, fake_slack.token, "C0OTHER", base_url=fake_slack.base_url)
    await elsewhere.send(alert_id, message)

    report = await Dispatcher(db, sender, clock=clock).dispatch()

    assert (report.recovered, report.sent, report.failed) == (1, 1, 0)
    in_channel = [m for m in fake_slack.messages if m["channel"] == CHANNEL]
    assert sorted(int(m["metadata"]["event_payload"]["alert_id"]) for m in in_channel) == sorted(
        [alert_id, other_id]
    )
    row = await queue.row(alert_id)
    assert row.status == "sent"
    assert row.slack_ts == in_channel[-1]["ts"]
    assert (await queue.row(other_id)).slack_ts == in_channel[0]["ts"]


async def test_recovery_resends_when_history_unreadable(
    db: Database, sender: SlackSender, fake_slack: FakeSlack, queue: Outbox, clock: Clock
) -> None:
    alert_id = await queue.add("acme-billing")
    assert await queue.claim_all() == [alert_id]
    await sender.send(alert_id, await queue.stored_message(alert_id))
    fake_slack.fail_app("missing_scope", times=None, method="conversations.history")

    report = await Dispatcher(db, sender, clock=clock).dispatch()

    # Without the history a duplicate is possible, a lost alert is not.
    assert (report.recovered, report.sent) == (0, 1)
    assert alert_ids(fake_slack) == [alert_id, alert_id]
    row = await queue.row(alert_id)
    assert row.status == "sent"
    assert row.slack_ts == fake_slack.messages[-1]["ts"]


async def test_no_sender_leaves_in_flight_rows_alone(
    db: Database, fake_slack: FakeSlack, queue: Outbox, clock: Clock
) -> None:
    alert_id = await queue.add("acme-billing")
    await queue.claim_all()
    report = await Dispatcher(db, None, clock=clock).dispatch()
    assert (report.recovered, report.sent) == (0, 0)
    assert (await queue.row(alert_id)).status == "sending"
    assert fake_slack.calls == []


async def test_unreadable_payload_does_not_block_the_queue(
    db: Database, sender: SlackSender, fake_slack: FakeSlack, queue: Outbox, clock: Clock
) -> None:
    broken: dict[str, dict[str, Any]] = {
        # No public name: not a message at all.
        "broken:no-name": {"text": "Possible squat", "matches": []},
        # What happened is not a kind this version knows.
        "broken:kind": {"event": "exploded", "public_name": "acme-broken"},
        # A match that names no internal name.
        "broken:match": {"public_name": "acme-broken", "matches": [{"kind": "prefix"}]},
    }
    for key, payload in broken.items():
        await queue.add_payload(key, "acme-broken", payload)
    good = await queue.add("acme-billing")
    dispatcher = Dispatcher(db, sender, clock=clock, retry_base=0.05)
    for _ in range(3):
        await dispatcher.dispatch()
        clock.advance(0.01)
    assert alert_ids(fake_slack) == [good]
    async with db.transaction() as session:
        rows = (
            await session.execute(select(OutboxAlert).where(OutboxAlert.event_key.in_(broken)))
        ).scalars()
        stuck = {row.event_key: row for row in rows}
    assert set(stuck) == set(broken)
    for row in stuck.values():
        assert row.status == "pending"
        assert row.last_error
        assert row.slack_ts is None


async def test_senders_receive_the_message_the_pipeline_built(
    db: Database, queue: Outbox, clock: Clock
) -> None:
    recorder = RecordingSender()
    first = await queue.add("acme-billing", "0.1")
    second = await queue.add("payments.core", None)
    report = await Dispatcher(db, recorder, clock=clock).dispatch()
    assert (report.sent, report.failed) == (2, 0)
    assert recorder.sent == [
        (first, queue.message("acme-billing", "0.1")),
        (second, queue.message("payments.core", None)),
    ]
    assert all(isinstance(m, AlertMessage) for _, m in recorder.sent)
    assert (await queue.row(first)).slack_ts == "1.000000"


async def test_a_payload_stored_by_the_previous_version_is_delivered_as_it_was_written(
    db: Database, sender: SlackSender, fake_slack: FakeSlack, queue: Outbox, clock: Clock
) -> None:
    # As the watch pipeline before typed messages queued a role change on our own
    # project: a "section" of its own, and the roles only in the matches' details.
    text = (
        "Role change on our own PyPI project: Acme-Public-SDK: add Owner mallory "
        "(mallory (Owner) not among our owners)"
    )
    old = {
        "event": "ours",
        "title": "Role change on our own public project",
        "section": "gained role holders who are not among the catalog's owners:",
        "text": text,
        "change": "add Owner mallory",
        "public_name": "acme-public-sdk",
        "display_name": "Acme-Public-SDK",
        "version": None,
        "source": "journal",
        "severity": "high",
        "matches": [
            {
                "internal_name": "acme-public-sdk",
                "internal_display": "Acme-Public-SDK",
                "kind": "ours",
                "detail": "mallory became Owner; not one of the catalog's owners",
                "severity": "high",
            }
        ],
        "project_url": "http://127.0.0.1:9/project/acme-public-sdk/",
    }
    alert_id = await queue.add_payload("ours:acme-public-sdk:42", "acme-public-sdk", old)
    report = await Dispatcher(db, sender, clock=clock).dispatch()
    assert (report.sent, report.failed) == (1, 0)
    [posted] = fake_slack.messages
    assert posted["text"] == text
    assert posted["metadata"]["event_payload"] == {
        "alert_id": alert_id,
        "public_name": "acme-public-sdk",
    }
    blocks = posted["blocks"]
    assert blocks[0]["text"]["text"] == (
        "HIGH · Role change on our own public project: Acme-Public-SDK"
    )
    assert blocks[1]["text"]["text"].startswith(
        "`Acme-Public-SDK` (no release) (<http://127.0.0.1:9/project/acme-public-sdk/|on the "
        "index>) gained role holders who are not among the catalog's owners:\n"
        "• `Acme-Public-SDK` — *ours*: mallory became Owner; not one of the catalog's owners"
    )
    assert (await queue.row(alert_id)).status == "sent"


async def test_a_failure_pauses_the_whole_queue_until_its_backoff(
    db: Database, sender: SlackSender, fake_slack: FakeSlack, queue: Outbox, clock: Clock
) -> None:
    first = await queue.add("acme-one")
    second = await queue.add("acme-two")
    fake_slack.fail(500, times=None)
    dispatcher = Dispatcher(db, sender, clock=clock, retry_base=10)
    report = await dispatcher.dispatch()
    assert report.failed == 1
    calls_after_failure = len(fake_slack.calls)

    # Within the pause: the second alert, though due, is not tried; Slack is not probed.
    fake_slack.clear_failures()
    for _ in range(3):
        clock.advance(3)
        assert await dispatcher.dispatch() == DispatchReport()
    assert len(fake_slack.calls) == calls_after_failure
    assert (await queue.row(second)).status == "pending"

    clock.advance(1.5)  # 10.5 s after the failure: the pause is over
    report = await dispatcher.dispatch()
    assert report.sent == 2
    assert sorted(alert_ids(fake_slack)) == [first, second]
