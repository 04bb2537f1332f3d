"""``POST /slack/actions``: the Acknowledge and Suppress buttons of Slack alerts.

Slack's Interactivity request URL points here. There is no bearer token on this route:
Slack signs each request with the app's signing secret instead, and a request whose
signature is missing, wrong or older than slack-sdk's window (five minutes), or seen
before (by this replica or, through the database, any other), answers 401 and changes
nothing. A signed click moves the alert's findings (their
ids are the button's value) with ``via: "slack"`` and the clicking user as the actor, then
replaces the message (``chat.update``) with one that says who acted and when, without the
buttons.

Slack waits three seconds for an answer, so the message update is bounded; the findings
changed whether or not it lands (the API and the CLI show them).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import parse_qs

from aiohttp import web

from watcher.alerts.acted_notes import DONE, acted_note
from watcher.alerts.render import ACKNOWLEDGE_ACTION, SUPPRESS_ACTION, acted
from watcher.alerts.slack import SIGNATURE_WINDOW, RequestVerifier
from watcher.errors import FindingNotFound, TransitionRefused
from watcher.store import findings, replays
from watcher.store.base import utcnow
from watcher.store.findings import Action, FindingRow, Via
from watcher.text import printable
from watcher.web.views import DATABASE, error

log = logging.getLogger(__name__)

# Slack's interactive payloads carry the whole message: tens of kilobytes at most.
BODY_LIMIT = 1024 * 1024
_MAX_IDS = 200
_UPDATE_TIMEOUT = 2.0
# Signatures acted on are remembered this long: past the timestamp window they are refused.
_REPLAY_MEMORY = timedelta(seconds=2 * SIGNATURE_WINDOW)
_ACTIONS = {ACKNOWLEDGE_ACTION: Action.ACKNOWLEDGE, SUPPRESS_ACTION: Action.SUPPRESS}


class MessageUpdater(Protocol):
    """What a click needs of Slack: replacing the message (``SlackSender.update``)."""

    async def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None:
        """Replace message ``ts`` in ``channel``; raise on failure."""
        ...


@dataclass(frozen=True)
class SlackActions:
    """The route's set-up: the signature check and, when Slack is on, the updater."""

    verifier: RequestVerifier
    updater: MessageUpdater | None
    clock: Callable[[], datetime] = utcnow


SLACK_ACTIONS = web.AppKey("slack_actions", SlackActions)


class BadPayload(ValueError):
    """A signed request that is not one of our buttons' clicks."""


@dataclass(frozen=True)
class Click:
    """One click on one of our buttons, as Slack told it."""

    action: Action
    finding_ids: list[int]
    actor: str
    channel: str | None
    ts: str | None
    text: str | None
    blocks: list[Any]


async def _body(request: web.Request) -> bytes:
    """The raw body (the signature covers its exact bytes), refused beyond BODY_LIMIT."""
    if request.content_length is not None and request.content_length > BODY_LIMIT:
        raise web.HTTPRequestEntityTooLarge(max_size=BODY_LIMIT, actual_size=request.content_length)
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(64 * 1024):
        size += len(chunk)
        if size > BODY_LIMIT:
            raise web.HTTPRequestEntityTooLarge(max_size=BODY_LIMIT, actual_size=size)
        chunks.append(chunk)
    return b"".join(chunks)


def _str(value: Any, limit: int) -> str | None:
    return printable(value, limit) if isinstance(value, str) and value else None


def _object(payload: dict[str, Any], key: str) -> dict[str, Any]:
    value = payload.get(key)
    return value if isinstance(value, dict) else {}


def parse_click(body: bytes) -> Click:
    """Our button's click from a signed body (the ``payload`` form field, JSON)."""
    try:
        form = parse_qs(body.decode("utf-8"), max_num_fields=10, strict_parsing=True)
        payload = json.loads(form["payload"][0])
    except (UnicodeDecodeError, ValueError, KeyError, RecursionError):
        raise BadPayload("not an interactive payload (no JSON 'payload' field)") from None
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        raise BadPayload("not a button click (block_actions)")
    clicked = [
        a
        for a in payload.get("actions") or []
        if isinstance(a, dict) and a.get("action_id") in _ACTIONS
    ]
    if not clicked:
        raise BadPayload("not one of our buttons")
    value = clicked[0].get("value")
    parts = value.split(",") if isinstance(value, str) else []
    if not parts or len(parts) > _MAX_IDS or not all(p.isascii() and p.isdigit() for p in parts):
        raise BadPayload("the button names no findings")
    user = _object(payload, "user")
    user_id = _str(user.get("id"), 40)
    name = _str(user.get("username"), 80) or _str(user.get("name"), 80)
    if user_id is None and name is None:
        raise BadPayload("the click names no user")
    actor = f"{name} ({user_id})" if name and user_id else (name or user_id or "")
    container, channel = _object(payload, "container"), _object(payload, "channel")
    message = _object(payload, "message")
    blocks = message.get("blocks")
    return Click(
        action=_ACTIONS[clicked[0]["action_id"]],
        finding_ids=list(dict.fromkeys(int(p) for p in parts)),
        actor=actor,
        channel=_str(container.get("channel_id"), 40) or _str(channel.get("id"), 40),
        ts=_str(container.get("message_ts"), 40) or _str(message.get("ts"), 40),
        text=_str(message.get("text"), 3000),
        blocks=blocks if isinstance(blocks, list) else [],
    )


async def slack_action(request: web.Request) -> web.Response:
    """``POST /slack/actions``: see the module's doc."""
    actions = request.app.get(SLACK_ACTIONS)
    if actions is None:
        return error(503, "Slack actions are not configured (WATCHER_SLACK_SIGNING_SECRET)")
    body = await _body(request)
    headers = request.headers
    if not actions.verifier.verify(
        body, headers.get("X-Slack-Request-Timestamp"), headers.get("X-Slack-Signature")
    ):
        log.warning(
            "refused a Slack action from %s: bad, stale or missing signature", request.remote
        )
        return error(401, "bad, stale, replayed or missing Slack signature")
    try:
        click = parse_click(body)
    except BadPayload as exc:
        return error(400, str(exc))
    now = actions.clock()
    changed: list[FindingRow] = []
    refused: list[TransitionRefused] = []
    try:
        # One transaction: an unknown id changes none of the others.
        async with request.app[DATABASE].write() as session:
            # The in-process memory sees replays to this replica; the table, to any.
            if not await replays.first_sight(
                session, str(headers.get("X-Slack-Signature")), now, keep=_REPLAY_MEMORY
            ):
                log.warning("refused a replayed Slack action (its signature was acted on)")
                return error(401, "bad, stale, replayed or missing Slack signature")
            for finding_id in click.finding_ids:
                try:
                    changed.append(
                        await findings.transition(
                            session,
                            finding_id,
                            click.action,
                            actor=click.actor,
                            via=Via.SLACK,
                            reason=f"{DONE[click.action].lower()} in Slack",
                            now=now,
                        )
                    )
                except TransitionRefused as exc:
                    refused.append(exc)
    except FindingNotFound as exc:
        log.warning("Slack action by %s names %s", click.actor, exc)
        return error(404, f"{exc}: nothing was changed")
    answer: dict[str, Any] = {
        "ok": bool(changed),
        "changed": [f.id for f in changed],
        "unchanged": [{"id": r.finding_id, "status": r.status} for r in refused],
    }
    if not changed:
        # Everything was already in that state, or cannot take it (resolved meanwhile).
        answer["error"] = "; ".join(str(r) for r in refused)
        return web.json_response(answer, status=409)
    log.info("findings %s: %s by %s via Slack", answer["changed"], click.action, click.actor)
    answer["message_updated"] = await _update(actions.updater, click, now, changed)
    return web.json_response(answer)


async def _update(
    updater: MessageUpdater | None, click: Click, now: datetime, changed: list[FindingRow]
) -> bool:
    """Show on the alert who acted and when; False if it could not be (logged)."""
    if updater is None or not click.channel or not click.ts:
        return False
    note = acted_note(click.action, click.actor, now, [f.id for f in changed])
    try:
        async with asyncio.timeout(_UPDATE_TIMEOUT):
            await updater.update(
                click.channel, click.ts, click.text or note, acted(click.blocks, note)
            )
    except Exception as exc:  # the findings changed anyway; the message is cosmetic
        log.warning("could not update the Slack message %s: %s", click.ts, exc)
        return False
    return True


def add_routes(app: web.Application, actions: SlackActions | None) -> None:
    """Register ``POST /slack/actions`` (answering 503 until ``actions`` is configured)."""
    if actions is not None:
        app[SLACK_ACTIONS] = actions
    app.router.add_post("/slack/actions", slack_action)
