"""The only module that talks to Slack (slack-sdk's ``AsyncWebClient``)."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from watcher.alerts.delivery import MAX_RETRY_AFTER, DeliveryError, RateLimited
from watcher.alerts.digests import Digest, render_digest
from watcher.alerts.messages import AlertMessage
from watcher.alerts.render import render
from watcher.config import SlackSettings
from watcher.headers import retry_after
from watcher.redaction import redact, register_secret

log = logging.getLogger(__name__)

# Metadata event type that marks our messages, so a restarted dispatcher can tell whether a
# post that was in flight when the process died actually reached the channel.
EVENT_TYPE = "watcher_alert"
_CONNECT_TIMEOUT = 10.0

__all__ = [
    "EVENT_TYPE",
    "MAX_RETRY_AFTER",
    "AlertSender",
    "DeliveryError",
    "RateLimited",
    "RequestVerifier",
    "SlackFacts",
    "SlackSender",
    "open_slack_sender",
]


class AlertSender(Protocol):
    """What the dispatcher needs from a destination."""

    async def send(
        self,
        alert_id: int,
        message: AlertMessage | Digest,
        *,
        thread_ts: str | None = None,
        mention: str | None = None,
    ) -> str:
        """Deliver one alert (or digest), as a reply in ``thread_ts``'s thread if given,
        ``mention`` first if given; return the message id. Raise :class:`DeliveryError` on
        failure; never post twice (a failed attempt is looked up with :meth:`find_sent`)."""
        ...

    async def find_sent(
        self, alert_ids: Iterable[int], since: datetime, *, thread_ts: str | None = None
    ) -> dict[int, str]:
        """Which of ``alert_ids`` are already in the channel (posted at or after ``since``),
        or in the thread of ``thread_ts`` when given."""
        ...


@dataclass(frozen=True)
class SlackFacts:
    """What :meth:`SlackSender.diagnose` learnt: Slack's own text, to be shown escaped."""

    team: str
    team_id: str
    bot: str
    bot_id: str
    channel: str


@asynccontextmanager
async def open_slack_sender(settings: SlackSettings) -> AsyncIterator[SlackSender]:
    """A :class:`SlackSender` on Slack's own HTTP session, closed when the block exits.

    The session is created here, inside the running event loop; every request is bounded by
    ``settings.timeout`` seconds (10 s to connect) and sends ``settings.user_agent``.
    """
    session = aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=settings.timeout, connect=_CONNECT_TIMEOUT),
        headers={"User-Agent": settings.user_agent},
        raise_for_status=False,
    )
    async with session:
        yield SlackSender(
            session,
            settings.token,
            settings.channel,
            base_url=settings.api_url,
            user_agent=settings.user_agent,
        )


class SlackSender:
    """Posts alerts with ``chat.postMessage`` and finds them again in the channel history.

    Requests time out by ``session``'s ``ClientTimeout`` (slack-sdk ignores its own
    ``timeout`` when given a session). ``user_agent`` replaces slack-sdk's own ``User-Agent``,
    which it sends on every request and which would hide the session's. A 429 raises
    :class:`RateLimited` with its Retry-After capped at ``max_retry_after`` seconds. No error
    message repeats ``token``.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        token: str,
        channel: str,
        *,
        base_url: str | None = None,
        user_agent: str | None = None,
        max_retry_after: float = MAX_RETRY_AFTER,
    ) -> None:
        kwargs: dict[str, Any] = {"base_url": base_url} if base_url else {}
        self._channel = channel
        register_secret(token)  # masked in every error text and log line from now on
        self._max_retry_after = max_retry_after
        # Posting is never retried here: a dropped connection or a 5xx may come after Slack
        # took the post, and only the dispatcher looks in the channel's history before it
        # posts again. A 429 is not slept on either (slack-sdk would sleep for as long as
        # it is told, holding the whole outbox): it goes back to the dispatcher, capped.
        self._poster = AsyncWebClient(token=token, session=session, retry_handlers=[], **kwargs)
        # Reading the history is safe to repeat.
        self._reader = AsyncWebClient(
            token=token,
            session=session,
            retry_handlers=[
                AsyncConnectionErrorRetryHandler(max_retry_count=2),
                AsyncServerErrorRetryHandler(max_retry_count=2),
            ],
            **kwargs,
        )
        if user_agent:
            self._poster.headers["User-Agent"] = user_agent
            self._reader.headers["User-Agent"] = user_agent

    @property
    def channel(self) -> str:
        """The channel the alerts are posted to (and their messages updated in)."""
        return self._channel

    async def send(
        self,
        alert_id: int,
        message: AlertMessage | Digest,
        *,
        thread_ts: str | None = None,
        mention: str | None = None,
    ) -> str:
        """See :class:`AlertSender`."""
        text, blocks = render_digest(message) if isinstance(message, Digest) else render(message)
        if mention:
            # Our own configured mention (validated as Slack's mention syntax), the only
            # markup that may ping: not verbatim, unlike every block with the index's text.
            text = f"{mention} {text}"
            blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": mention}}, *blocks]
        extra: dict[str, Any] = {"thread_ts": thread_ts} if thread_ts else {}
        public_name = message.public_name if isinstance(message, AlertMessage) else ""
        try:
            response = await self._poster.chat_postMessage(
                channel=self._channel,
                text=text,
                blocks=blocks,
                **extra,
                unfurl_links=False,
                unfurl_media=False,
                # Names like "@channel" in the text stay text: only our own markup acts.
                link_names=False,
                parse="none",
                metadata={
                    "event_type": EVENT_TYPE,
                    "event_payload": {"alert_id": alert_id, "public_name": public_name},
                },
            )
        except SlackApiError as exc:
            raise self._refused("Slack refused the message", exc) from None
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(
                self._redact(f"Slack unreachable: {type(exc).__name__}: {exc}")
            ) from None
        return str(response.get("ts") or "")

    def _redact(self, text: str) -> str:
        # Error texts end up in the log and in the outbox's last_error; a library or a proxy
        # repeating the request (headers, form) must not put the bot token there.
        return redact(text)

    def _refused(self, what: str, exc: SlackApiError) -> DeliveryError:
        # A 5xx from Slack or a proxy in front of it often has a text body, not JSON.
        response = exc.response
        data = response.data if response is not None else None
        error = data.get("error") if isinstance(data, dict) else None
        status = response.status_code if response is not None else "?"
        text = self._redact(f"{what}: HTTP {status} {error or ''}".strip())
        if status != 429:
            return DeliveryError(text)
        headers = response.headers if response is not None else {}
        asked = retry_after(headers.get("Retry-After") if headers else None)
        wait = asked
        if asked is not None and asked > self._max_retry_after:
            wait = self._max_retry_after
            log.warning(
                "Slack sent Retry-After %.0f s; waiting %.0f s instead (the cap)",
                asked,
                wait,
            )
        return RateLimited(text, wait)

    async def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None:
        """Replace one of our messages (``chat.update``): an alert someone acted on.

        Safe to repeat, so sent with the reader's retries. Raises :class:`DeliveryError`.
        """
        try:
            await self._reader.chat_update(
                channel=channel, ts=ts, text=text, blocks=blocks, link_names=False, parse="none"
            )
        except SlackApiError as exc:
            raise self._refused("Slack refused the update", exc) from None
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(
                self._redact(f"Slack unreachable: {type(exc).__name__}: {exc}")
            ) from None

    async def diagnose(self) -> SlackFacts:
        """Check the token (``auth.test``) and that the channel's history can be read
        (``conversations.history``, one message: what :meth:`find_sent` needs before a
        retried post). Posts nothing. Raises :class:`DeliveryError` saying which failed."""
        try:
            auth = await self._reader.auth_test()
        except SlackApiError as exc:
            raise self._refused("Slack refused the token (auth.test)", exc) from None
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(
                self._redact(f"Slack unreachable: {type(exc).__name__}: {exc}")
            ) from None
        try:
            await self._reader.conversations_history(channel=self._channel, limit=1)
        except SlackApiError as exc:
            raise self._refused(f"cannot read channel {self._channel}", exc) from None
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(
                self._redact(f"cannot read channel {self._channel}: {type(exc).__name__}: {exc}")
            ) from None
        return SlackFacts(
            team=str(auth.get("team") or ""),
            team_id=str(auth.get("team_id") or ""),
            bot=str(auth.get("user") or ""),
            bot_id=str(auth.get("bot_id") or auth.get("user_id") or ""),
            channel=self._channel,
        )

    async def find_sent(
        self, alert_ids: Iterable[int], since: datetime, *, thread_ts: str | None = None
    ) -> dict[int, str]:
        """See :class:`AlertSender`."""
        wanted = set(alert_ids)
        found: dict[int, str] = {}
        cursor: str | None = None
        try:
            while wanted - found.keys():
                # A reply is in its thread only (conversations.history lists top-level
                # messages): a reply is looked up there.
                if thread_ts:
                    response = await self._reader.conversations_replies(
                        channel=self._channel,
                        ts=thread_ts,
                        oldest=f"{since.timestamp():.6f}",
                        include_all_metadata=True,
                        limit=200,
                        cursor=cursor,
                    )
                else:
                    response = await self._reader.conversations_history(
                        channel=self._channel,
                        oldest=f"{since.timestamp():.6f}",
                        include_all_metadata=True,
                        limit=200,
                        cursor=cursor,
                    )
                for message in response.get("messages") or []:
                    metadata = message.get("metadata") or {}
                    if metadata.get("event_type") != EVENT_TYPE:
                        continue
                    alert_id = (metadata.get("event_payload") or {}).get("alert_id")
                    if alert_id in wanted:
                        found[int(alert_id)] = str(message.get("ts") or "")
                cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
                if not response.get("has_more") or not cursor:
                    break
        except SlackApiError as exc:
            raise self._refused("cannot read the channel history", exc) from None
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(
                self._redact(f"cannot read the channel history: {type(exc).__name__}: {exc}")
            ) from None
        return found


# slack-sdk's SignatureVerifier refuses a timestamp further than this from now, in seconds.
SIGNATURE_WINDOW = 300
_SEEN_LIMIT = 10_000


class RequestVerifier:
    """Tells requests Slack signed (interactive actions) from anything else.

    slack-sdk's :class:`SignatureVerifier` checks the signature (an HMAC-SHA256 of the
    timestamp and the body with the app's signing secret) and that the timestamp is within
    :data:`SIGNATURE_WINDOW` of now, so a captured request cannot be replayed later. Here a
    signature is also accepted once only, so it cannot be replayed within the window either
    (in this process; ``POST /slack/actions`` also records each one in the database, for
    every replica). Malformed headers are refused, never
    raised on.
    """

    def __init__(self, signing_secret: str) -> None:
        register_secret(signing_secret)
        self._verifier = SignatureVerifier(signing_secret)
        self._seen: dict[str, float] = {}

    def verify(self, body: bytes, timestamp: str | None, signature: str | None) -> bool:
        """True if Slack signed ``body`` at ``timestamp`` (its ``X-Slack-Request-Timestamp``
        and ``X-Slack-Signature`` headers), recently, and this is the first time we see it."""
        if not timestamp or not signature or len(timestamp) > 20 or len(signature) > 100:
            return False
        if not (timestamp.isascii() and timestamp.isdigit() and signature.isascii()):
            return False
        try:
            if not self._verifier.is_valid(body, timestamp, signature):
                return False
        except (ValueError, TypeError, UnicodeDecodeError):
            return False  # a body that is not UTF-8 was not signed by Slack
        now = time.time()
        if signature in self._seen:
            log.warning("refused a replayed Slack request (signature seen before)")
            return False
        if len(self._seen) >= _SEEN_LIMIT:
            self._seen = {s: t for s, t in self._seen.items() if now - t <= 2 * SIGNATURE_WINDOW}
            while len(self._seen) >= _SEEN_LIMIT:
                self._seen.pop(next(iter(self._seen)))
        self._seen[signature] = now
        return True
