"""The only module that talks to Slack (slack-sdk's ``AsyncWebClient``)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, Protocol

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from watcher.alerts.messages import AlertMessage
from watcher.alerts.render import render
from watcher.config import SlackSettings

log = logging.getLogger(__name__)

# Metadata event type that marks our messages, so a restarted dispatcher can tell whether a
# post that was in flight when the process died actually reached the channel.
EVENT_TYPE = "watcher_alert"
_CONNECT_TIMEOUT = 10.0


class DeliveryError(Exception):
    """Slack did not take the message; the alert stays queued."""


class AlertSender(Protocol):
    """What the dispatcher needs from a destination."""

    async def send(self, alert_id: int, message: AlertMessage) -> str:
        """Deliver one alert; return the message id. Raise :class:`DeliveryError` on failure."""
        ...

    async def find_sent(self, alert_ids: Iterable[int], since: datetime) -> dict[int, str]:
        """Which of ``alert_ids`` are already in the channel (posted at or after ``since``)."""
        ...


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
    which it sends on every request and which would hide the session's.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        token: str,
        channel: str,
        *,
        base_url: str | None = None,
        user_agent: str | None = None,
    ) -> None:
        kwargs: dict[str, Any] = {"base_url": base_url} if base_url else {}
        self._channel = channel
        self._client = AsyncWebClient(
            token=token,
            session=session,
            retry_handlers=[
                AsyncConnectionErrorRetryHandler(max_retry_count=2),
                AsyncRateLimitErrorRetryHandler(max_retry_count=2),
                AsyncServerErrorRetryHandler(max_retry_count=2),
            ],
            **kwargs,
        )
        if user_agent:
            self._client.headers["User-Agent"] = user_agent

    async def send(self, alert_id: int, message: AlertMessage) -> str:
        """See :class:`AlertSender`."""
        text, blocks = render(message)
        try:
            response = await self._client.chat_postMessage(
                channel=self._channel,
                text=text,
                blocks=blocks,
                unfurl_links=False,
                metadata={
                    "event_type": EVENT_TYPE,
                    "event_payload": {"alert_id": alert_id, "public_name": message.public_name},
                },
            )
        except SlackApiError as exc:
            # A 5xx from Slack or a proxy in front of it often has a text body, not JSON.
            data = exc.response.data if exc.response is not None else None
            error = data.get("error") if isinstance(data, dict) else None
            status = exc.response.status_code if exc.response is not None else "?"
            raise DeliveryError(
                f"Slack refused the message: HTTP {status} {error or ''}".strip()
            ) from None
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"Slack unreachable: {type(exc).__name__}: {exc}") from None
        return str(response.get("ts") or "")

    async def find_sent(self, alert_ids: Iterable[int], since: datetime) -> dict[int, str]:
        """See :class:`AlertSender`."""
        wanted = set(alert_ids)
        found: dict[int, str] = {}
        cursor: str | None = None
        try:
            while wanted - found.keys():
                response = await self._client.conversations_history(
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
        except (SlackApiError, SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"cannot read the channel history: {exc}") from None
        return found
