"""The only module that talks to the webhook: every alert POSTed as signed JSON.

For SIEMs and pagers: one request per alert (no digests, no threads: a machine wants
records), whatever its risk. The body is JSON (:func:`webhook_body`); three headers go with
it:

- ``X-Watcher-Delivery``: the alert's delivery id, the same on every attempt. A request
  can reach the receiver and its answer get lost (a timeout, a crash before we record it);
  the alert is then sent again with the same id, and the receiver drops the repeat. With
  that, each alert is taken exactly once; without it, at least once.
- ``X-Watcher-Timestamp``: when this attempt was signed, in Unix seconds.
- ``X-Watcher-Signature``: ``sha256=`` and the hex HMAC-SHA256, keyed with
  ``WATCHER_WEBHOOK_SECRET``, of the timestamp, a dot and the body's bytes
  (:func:`signature`). A receiver recomputes it, compares in constant time and refuses a
  timestamp far from its clock, so a captured request cannot be replayed later.

Any 2xx is delivered. Redirects are not followed (the signed alert goes where it was
configured to, or nowhere); anything else is retried with backoff, a 429 or 503 after its
Retry-After (capped). The answer's body is never read beyond what aiohttp buffers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC
from typing import Any

import aiohttp

from watcher.alerts.delivery import MAX_RETRY_AFTER, DeliveryError, RateLimited
from watcher.config import WebhookSettings
from watcher.headers import retry_after
from watcher.redaction import redact, register_secret
from watcher.store.deliveries import Delivery

DESTINATION = "webhook"
SCHEMA = "watcher.alert/1"
DELIVERY_HEADER = "X-Watcher-Delivery"
TIMESTAMP_HEADER = "X-Watcher-Timestamp"
SIGNATURE_HEADER = "X-Watcher-Signature"
_CONNECT_TIMEOUT = 10.0
# What ``watcher doctor --webhook-post`` sends: marked as a test, no alert in it.
DOCTOR_BODY = json.dumps(
    {
        "schema": "watcher.doctor/1",
        "event": "doctor",
        "test": True,
        "text": "watcher doctor: a connectivity test, not an alert",
    },
    sort_keys=True,
).encode("ascii")


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Watcher-Signature`` value of ``body`` signed at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def delivery_id(delivery: Delivery) -> str:
    """The id a receiver deduplicates on: the alert's, and when it was queued (ids start
    again on a new database; the time tells those apart)."""
    return f"{delivery.alert_id}-{delivery.queued_at.astimezone(UTC):%Y%m%dT%H%M%S%fZ}"


def webhook_body(delivery: Delivery) -> bytes:
    """The JSON body: the delivery's id and attempt, the alert's event, risk and public
    name, its one-line text, and the whole alert as stored (``alert``).

    Index text (names, versions, summaries) is in it as JSON strings, escaped by JSON and
    never markup: what a receiver shows, it must escape as it would any other data.
    """
    alert = delivery.payload
    document: dict[str, Any] = {
        "schema": SCHEMA,
        "delivery_id": delivery_id(delivery),
        "attempt": delivery.attempts,
        "alert_id": delivery.alert_id,
        "queued_at": delivery.queued_at.astimezone(UTC).isoformat(),
        "event": delivery.kind or alert.get("event"),
        "risk": delivery.risk,
        "public_name": delivery.public_name,
        "title": alert.get("title"),
        "text": alert.get("text"),
        "project_url": alert.get("project_url"),
        "finding_ids": alert.get("finding_ids") or [],
        "alert": alert,
    }
    # ASCII only: no receiver can misread an encoding; sorted keys: a stable body to sign.
    return json.dumps(document, ensure_ascii=True, sort_keys=True).encode("ascii")


@asynccontextmanager
async def open_webhook_sender(settings: WebhookSettings) -> AsyncIterator[WebhookSender]:
    """A :class:`WebhookSender` on its own HTTP session, closed when the block exits."""
    session = aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=settings.timeout, connect=_CONNECT_TIMEOUT),
        headers={"User-Agent": settings.user_agent},
        raise_for_status=False,
    )
    async with session:
        yield WebhookSender(session, settings.url, settings.secret)


class WebhookSender:
    """POSTs one delivery at a time to ``url``, signed with ``secret``."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        secret: str,
        *,
        max_retry_after: float = MAX_RETRY_AFTER,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._session = session
        self._url = url
        self._secret = secret
        # The URL may carry the receiver's token (in its path or query): masked like one.
        register_secret(url)
        register_secret(secret)
        self._max_retry_after = max_retry_after
        self._clock = clock

    async def send(self, delivery: Delivery) -> None:
        """Deliver one alert; :class:`DeliveryError` (or :class:`RateLimited`) if the
        receiver did not take it."""
        body = webhook_body(delivery)
        headers = self._signed(body, delivery_id(delivery))
        try:
            async with self._session.post(
                self._url, data=body, headers=headers, allow_redirects=False
            ) as response:
                status = response.status
                if 200 <= status < 300:
                    return
                if status in (429, 503):
                    wait = retry_after(response.headers.get("Retry-After"))
                    if wait is not None:
                        wait = min(wait, self._max_retry_after)
                    raise RateLimited(f"the webhook answered HTTP {status}", wait)
                raise DeliveryError(f"the webhook answered HTTP {status}")
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            # ValueError: aiohttp's refusal of a malformed answer it cannot parse.
            raise DeliveryError(
                redact(f"the webhook is unreachable: {type(exc).__name__}: {exc}")
            ) from None

    def _signed(self, body: bytes, delivery: str) -> dict[str, str]:
        """The headers of a request carrying ``body``: its delivery id, signed now."""
        timestamp = str(int(self._clock()))
        return {
            "Content-Type": "application/json",
            DELIVERY_HEADER: delivery,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(self._secret, timestamp, body),
        }

    async def probe(self, *, post: bool = False) -> str:
        """Whether the receiver is there, for ``watcher doctor``; no alert is delivered.

        By default a HEAD request: any answer but a 5xx shows a server answering at the URL
        (most receivers take POSTs only and answer 405: that is fine). With ``post``, a POST
        of :data:`DOCTOR_BODY` (``"event": "doctor"``, schema ``watcher.doctor/1``, no
        alert in it), signed as every delivery is: a 2xx shows the receiver also takes our
        signature. Returns what it answered; raises :class:`DeliveryError` otherwise.
        """
        method = "POST" if post else "HEAD"
        headers = self._signed(DOCTOR_BODY, f"doctor-{int(self._clock())}") if post else {}
        try:
            async with self._session.request(
                method,
                self._url,
                data=DOCTOR_BODY if post else None,
                headers=headers,
                allow_redirects=False,
            ) as response:
                status = response.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise DeliveryError(
                redact(f"the webhook is unreachable: {type(exc).__name__}: {exc}")
            ) from None
        answered = f"HTTP {status} to a {'signed test POST' if post else 'HEAD request'}"
        if (post and not 200 <= status < 300) or (not post and status >= 500 and status != 501):
            raise DeliveryError(f"the webhook answered {answered}")
        return f"answered {answered}" + ("" if post else " (--webhook-post tests a delivery)")
