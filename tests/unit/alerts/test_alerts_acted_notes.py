"""The alerts of findings changed through the API or the page: which messages are updated
(a finding's own top-level alerts that were sent, never a digest's nor a reply), what they
become, and that a failing Slack or database is logged, never raised."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support import prefix_alert
from watcher.alerts.acted_notes import ActedNotes, acted_note
from watcher.alerts.messages import AlertMessage
from watcher.alerts.render import acted, render
from watcher.store import Database
from watcher.store.findings import Action, FindingRow
from watcher.store.models import FindingStatus, OutboxAlert

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


class Updater:
    """Records updates; fails (or hangs) for the message timestamps it is told to."""

    channel = "C0SEC"

    def __init__(self) -> None:
        self.updates: list[tuple[str, str, str, list[dict[str, Any]]]] = []
        self.failing: set[str] = set()
        self.hanging: set[str] = set()

    async def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None:
        if ts in self.failing:
            raise RuntimeError("Slack refused the update: HTTP 503")
        if ts in self.hanging:
            await asyncio.sleep(60)
        self.updates.append((channel, ts, text, blocks))


def finding(finding_id: int, public_name: str) -> FindingRow:
    return FindingRow(
        id=finding_id,
        public_name=public_name,
        internal_name="acme",
        kind="prefix",
        detail="under 'acme'-*",
        status=FindingStatus.ACKNOWLEDGED,
        first_seen_at=NOW,
        updated_at=NOW,
        resolution=None,
    )


def payload(public_name: str, finding_ids: list[int]) -> dict[str, Any]:
    return {**prefix_alert(public_name).to_payload(), "finding_ids": finding_ids}


async def add(
    db: Database,
    key: str,
    public_name: str,
    body: dict[str, Any],
    *,
    kind: str = "new",
    route: str = "post",
    status: str = "sent",
    slack_ts: str | None = None,
    thread_ts: str | None = None,
) -> None:
    async with db.transaction() as session:
        session.add(
            OutboxAlert(
                event_key=key,
                public_name=public_name,
                payload=body,
                status=status,
                created_at=NOW,
                kind=kind,
                route=route,
                slack_ts=slack_ts,
                thread_ts=thread_ts,
            )
        )


async def test_only_the_findings_own_sent_top_level_alerts_are_updated(db: Database) -> None:
    await add(db, "a", "acme-tools", payload("acme-tools", [1]), slack_ts="1.1")
    # Told by a digest: it has the digest's message, which is not its own.
    await add(db, "b", "acme-tools", payload("acme-tools", [1]), route="member", slack_ts="9.9")
    # A reply in the thread, a pending alert, another finding of the same project's alert.
    await add(
        db,
        "c",
        "acme-tools",
        payload("acme-tools", [1]),
        kind="release",
        route="reply",
        slack_ts="1.2",
        thread_ts="1.1",
    )
    await add(db, "d", "acme-tools", payload("acme-tools", [1]), status="pending")
    await add(db, "e", "acme-tools", payload("acme-tools", [2]), slack_ts="2.2")
    # Another project, changed in the same bulk action; and an unreadable payload.
    await add(db, "f", "acme-web", payload("acme-web", [3, 4]), slack_ts="3.3")
    await add(db, "g", "acme-web", {"event": "new", "finding_ids": [3]}, slack_ts="4.4")
    updater = Updater()
    notes = ActedNotes(db, updater)

    changed = [finding(1, "acme-tools"), finding(3, "acme-web"), finding(4, "acme-web")]
    told = await notes.tell(changed, Action.SUPPRESS, "Ada <!here>", NOW)

    assert told == 2
    assert [(c, ts) for c, ts, _, _ in updater.updates] == [("C0SEC", "1.1"), ("C0SEC", "3.3")]
    _, _, text, blocks = updater.updates[0]
    message = AlertMessage.from_payload(payload("acme-tools", [1]))
    note = "Suppressed by Ada <!here> at 2026-03-04 05:06:07 UTC (findings 1)"
    assert note == acted_note(Action.SUPPRESS, "Ada <!here>", NOW, [1])
    assert (text, blocks) == (render(message)[0], acted(render(message)[1], note))
    assert blocks[-1]["elements"][0]["text"].startswith("Suppressed by Ada &lt;!here&gt; at")
    assert not [b for b in blocks if b["type"] == "actions"]
    assert updater.updates[1][3][-1]["elements"][0]["text"].endswith("(findings 3, 4)")

    assert await notes.tell([], Action.SUPPRESS, "Ada", NOW) == 0
    assert await notes.tell([finding(7, "acme-none")], Action.SUPPRESS, "Ada", NOW) == 0
    assert len(updater.updates) == 2


async def test_failures_and_hangs_are_logged_not_raised(
    db: Database, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("watcher.alerts.acted_notes.UPDATE_TIMEOUT", 0.2)
    await add(db, "a", "acme-tools", payload("acme-tools", [1]), slack_ts="1.1")
    await add(db, "b", "acme-web", payload("acme-web", [2]), slack_ts="2.2")
    await add(db, "c", "acme-x", payload("acme-x", [3]), slack_ts="3.3")
    updater = Updater()
    updater.failing.add("1.1")
    updater.hanging.add("2.2")
    changed = [finding(1, "acme-tools"), finding(2, "acme-web"), finding(3, "acme-x")]

    told = await ActedNotes(db, updater).tell(changed, Action.RESOLVE, "Ada", NOW)

    assert told == 1
    assert [ts for _, ts, _, _ in updater.updates] == ["3.3"]
    logged = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("1.1" in m and "HTTP 503" in m for m in logged)
    assert any("2.2" in m for m in logged)

    # The whole is bounded too: every message hanging gives up after TELL_TIMEOUT.
    monkeypatch.setattr("watcher.alerts.acted_notes.UPDATE_TIMEOUT", 10.0)
    monkeypatch.setattr("watcher.alerts.acted_notes.TELL_TIMEOUT", 0.3)
    updater.hanging = {"1.1", "2.2", "3.3"}
    updater.failing.clear()
    assert await ActedNotes(db, updater).tell(changed, Action.RESOLVE, "Ada", NOW) == 0

    # The database failing: logged as well.
    async def broken(*args: object) -> None:
        raise OSError("connection refused")

    monkeypatch.setattr("watcher.store.outbox.sent_posts_of", broken)
    assert await ActedNotes(db, updater).tell(changed, Action.RESOLVE, "Ada", NOW) == 0
    assert "could not update the Slack alerts of changed findings: connection refused" in (
        caplog.text
    )
