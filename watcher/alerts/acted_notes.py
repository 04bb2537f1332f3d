"""Telling Slack that a person changed findings elsewhere (the API, the findings page).

A click on an alert's button changes its findings and replaces that message
(``POST /slack/actions``). A change made through the API or the page replaces, the same
way, the messages that told of the changed findings: each one's blocks re-rendered from
its stored payload, without the buttons, with a note saying who did what and when.

Which messages: the thread-starting alerts about the finding's public project that were
posted on their own and sent, and that list the finding among theirs. An alert told by a
digest (route ``member``) has no message of its own: the digest's message, which tells
many findings, is left as it is.

It is cosmetic and bounded: the findings changed whatever happens here, so a failure (Slack
or the database) is logged as a warning, never raised, and the whole is cut after
:data:`TELL_TIMEOUT` seconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from watcher.alerts.messages import AlertMessage
from watcher.alerts.planner import THREAD_STARTERS
from watcher.alerts.render import acted, render
from watcher.store import Database, outbox
from watcher.store.findings import Action, FindingRow
from watcher.text import printable

log = logging.getLogger(__name__)

# Like a click's update (a person waits for the answer): each update, and the whole.
UPDATE_TIMEOUT = 2.0
TELL_TIMEOUT = 5.0
_ACTOR_LIMIT = 200

DONE = {
    Action.ACKNOWLEDGE: "Acknowledged",
    Action.SUPPRESS: "Suppressed",
    Action.RESOLVE: "Resolved",
    Action.REOPEN: "Reopened",
}


def acted_note(action: Action, actor: str, now: datetime, finding_ids: Iterable[int]) -> str:
    """What an alert says once someone acted on its findings (escaped by ``acted``), e.g.
    ``Acknowledged by alice at 2026-01-02 03:04:05 UTC (findings 7, 9)``."""
    ids = ", ".join(str(i) for i in finding_ids)
    return (
        f"{DONE[action]} by {printable(actor, _ACTOR_LIMIT)} at {now:%Y-%m-%d %H:%M:%S} UTC"
        f" (findings {ids})"
    )


class ChannelUpdater(Protocol):
    """What this needs of Slack (``SlackSender``): its channel, and replacing a message."""

    @property
    def channel(self) -> str:
        """The channel the alerts are posted to."""
        ...

    async def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None:
        """Replace message ``ts`` in ``channel``; raise on failure."""
        ...


class ActedNotes:
    """Replaces the alerts of findings changed by a person outside Slack (see the module)."""

    def __init__(self, db: Database, updater: ChannelUpdater) -> None:
        self._db = db
        self._updater = updater

    async def tell(
        self, changed: list[FindingRow], action: Action, actor: str, now: datetime
    ) -> int:
        """Update the messages that told of ``changed`` (call it after their transaction
        committed); return how many were updated. Never raises but on cancellation."""
        if not changed:
            return 0
        updated = 0
        try:
            async with asyncio.timeout(TELL_TIMEOUT):
                for ts, (text, blocks) in await self._messages(changed, action, actor, now):
                    if await self._update(ts, text, blocks):
                        updated += 1
        except TimeoutError:
            log.warning("gave up updating the Slack alerts of %s after %ss", action, TELL_TIMEOUT)
        except Exception as exc:  # the findings changed anyway; the messages are cosmetic
            log.warning("could not update the Slack alerts of changed findings: %s", exc)
        return updated

    async def _messages(
        self, changed: list[FindingRow], action: Action, actor: str, now: datetime
    ) -> list[tuple[str, tuple[str, list[dict[str, Any]]]]]:
        """Per message to update (its ts): its new text and blocks."""
        by_id = {f.id: f for f in changed}
        async with self._db.transaction() as session:
            alerts = await outbox.sent_posts_of(
                session, sorted({f.public_name for f in changed}), tuple(map(str, THREAD_STARTERS))
            )
        found: list[tuple[str, tuple[str, list[dict[str, Any]]]]] = []
        for alert in alerts:
            try:
                message = AlertMessage.from_payload(alert.payload)
            except (KeyError, TypeError, ValueError):
                continue  # not one we can render again (it was sent as it was)
            own = [i for i in message.finding_ids if i in by_id]
            if not own or not alert.slack_ts:
                continue
            note = acted_note(action, actor, now, own)
            text, blocks = render(message)
            found.append((alert.slack_ts, (text, acted(blocks, note))))
        return found

    async def _update(self, ts: str, text: str, blocks: list[dict[str, Any]]) -> bool:
        try:
            async with asyncio.timeout(UPDATE_TIMEOUT):
                await self._updater.update(self._updater.channel, ts, text, blocks)
        except TimeoutError:
            log.warning("could not update the Slack message %s in %ss", ts, UPDATE_TIMEOUT)
            return False
        except Exception as exc:  # a refusal or Slack unreachable: logged, not raised
            log.warning("could not update the Slack message %s: %s", ts, exc)
            return False
        return True
