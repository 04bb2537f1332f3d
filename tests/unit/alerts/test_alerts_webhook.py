"""The webhook sender against a real local receiver: signed JSON, errors, no redirects."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiohttp
import pytest

from tests.fakes.webhook import SECRET, FakeWebhook
from watcher.alerts.delivery import DeliveryError, RateLimited
from watcher.alerts.messages import AlertKind, AlertMatch, AlertMessage
from watcher.alerts.webhook import WebhookSender, delivery_id, signature, webhook_body
from watcher.redaction import redact
from watcher.store.deliveries import Delivery

QUEUED = datetime(2026, 11, 29, 12, 0, 0, 123456, tzinfo=UTC)


def delivery(public_name: str = "acme-tools", **payload: object) -> Delivery:
    message = AlertMessage(
        kind=AlertKind.NEW,
        public_name=public_name,
        display_name=public_name,
        matches=[AlertMatch("acme", "acme", "prefix", "starts with 'acme-'", "high")],
        severity="high",
        project_url=None,
        source="index",
        version="1.0",
        finding_ids=[7],
    )
    return Delivery(
        id=1,
        alert_id=42,
        destination="webhook",
        attempts=1,
        public_name=public_name,
        kind="new",
        risk="high",
        payload={**message.to_payload(), **payload},
        queued_at=QUEUED,
    )


@pytest.fixture
async def receiver() -> AsyncIterator[FakeWebhook]:
    async with FakeWebhook() as hook:
        yield hook


@pytest.fixture
async def sender(receiver: FakeWebhook) -> AsyncIterator[WebhookSender]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        yield WebhookSender(session, receiver.url, SECRET)


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = b'{"a": 1}'
    expected = hmac.new(SECRET.encode(), b'1700000000.{"a": 1}', hashlib.sha256).hexdigest()
    assert signature(SECRET, "1700000000", body) == "sha256=" + expected
    assert signature("another-secret-of-16", "1700000000", body) != signature(
        SECRET, "1700000000", body
    )


def test_the_body_is_ascii_json_with_the_alert_and_a_stable_delivery_id() -> None:
    hostile = "acme-tools\u202e<!channel>"
    body = webhook_body(delivery(hostile, summary="<script>alert(1)</script>"))
    assert body.isascii()  # every non-ASCII character escaped by JSON
    document = json.loads(body)
    assert document["schema"] == "watcher.alert/1"
    assert document["delivery_id"] == "42-20261129T120000123456Z"
    assert document["delivery_id"] == delivery_id(delivery())
    assert document["public_name"] == hostile  # data, as it is: never markup
    assert document["risk"] == "high"
    assert document["event"] == "new"
    assert document["finding_ids"] == [7]
    assert document["alert"]["summary"] == "<script>alert(1)</script>"
    assert document["alert"]["matches"][0]["kind"] == "prefix"


async def test_a_delivery_reaches_the_receiver_signed(
    receiver: FakeWebhook, sender: WebhookSender
) -> None:
    await sender.send(delivery())
    [request] = receiver.requests
    assert request["valid"]
    assert request["headers"]["X-Watcher-Delivery"] == "42-20261129T120000123456Z"
    assert request["headers"]["Content-Type"] == "application/json"
    assert receiver.bodies()[0]["alert_id"] == 42


async def test_a_receiver_with_another_secret_refuses_it(receiver: FakeWebhook) -> None:
    async with aiohttp.ClientSession() as session:
        forger = WebhookSender(session, receiver.url, "not-the-receivers-key")
        with pytest.raises(DeliveryError, match="HTTP 401"):
            await forger.send(delivery())
    assert receiver.accepted == {}


async def test_a_stale_timestamp_is_refused_by_the_receiver(receiver: FakeWebhook) -> None:
    async with aiohttp.ClientSession() as session:
        late = WebhookSender(session, receiver.url, SECRET, clock=lambda: 1_000_000_000.0)
        with pytest.raises(DeliveryError):
            await late.send(delivery())
    assert receiver.accepted == {}


async def test_a_server_error_is_a_delivery_error(
    receiver: FakeWebhook, sender: WebhookSender
) -> None:
    receiver.fail(500)
    with pytest.raises(DeliveryError, match="HTTP 500") as caught:
        await sender.send(delivery())
    assert not isinstance(caught.value, RateLimited)


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_is_read_in_seconds_and_as_a_date_and_capped(
    receiver: FakeWebhook, status: int
) -> None:
    async with aiohttp.ClientSession() as session:
        sender = WebhookSender(session, receiver.url, SECRET, max_retry_after=60)
        receiver.fail(status, retry_after="7")
        with pytest.raises(RateLimited) as caught:
            await sender.send(delivery())
        assert caught.value.retry_after == 7
        when = datetime.now(UTC) + timedelta(seconds=30)
        receiver.fail(status, retry_after=format_datetime(when, usegmt=True))
        with pytest.raises(RateLimited) as caught:
            await sender.send(delivery())
        assert caught.value.retry_after is not None
        assert 25 <= caught.value.retry_after <= 31
        receiver.fail(status, retry_after="86400")
        with pytest.raises(RateLimited) as caught:
            await sender.send(delivery())
        assert caught.value.retry_after == 60


async def test_a_redirect_is_not_followed(receiver: FakeWebhook) -> None:
    async with aiohttp.ClientSession() as session:
        sender = WebhookSender(session, f"{receiver.root}/moved", SECRET)
        with pytest.raises(DeliveryError, match="HTTP 302"):
            await sender.send(delivery())
    assert receiver.redirect_hits == 0


async def test_a_timeout_is_a_delivery_error_that_names_no_secret(receiver: FakeWebhook) -> None:
    receiver.hang = 5
    url = f"{receiver.url}?token=receiver-key-0123456789"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.3)) as session:
        sender = WebhookSender(session, url, SECRET)
        with pytest.raises(DeliveryError, match="unreachable") as caught:
            await sender.send(delivery())
    assert "receiver-key-0123456789" not in str(caught.value)
    assert "receiver-key-0123456789" not in redact(f"posting to {url} failed")
    assert SECRET not in redact(f"secret {SECRET}")


async def test_nothing_listening_is_a_delivery_error() -> None:
    async with FakeWebhook() as gone:
        url = gone.url
    async with aiohttp.ClientSession() as session:
        with pytest.raises(DeliveryError, match="unreachable"):
            await WebhookSender(session, url, SECRET).send(delivery())
