"""The alert's Acknowledge/Suppress buttons: rendered from the finding ids the outbox payload
carries, removed (with who acted) after a click, and the signature check of the clicks."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import pytest

from tests.support import prefix_alert as make_message
from watcher.alerts.messages import AlertMessage
from watcher.alerts.render import ACTIONS_BLOCK, acted, render
from watcher.alerts.slack import RequestVerifier

SECRET = "test-signing-secret"


def buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b for b in blocks if b["type"] == "actions"]


def test_an_alert_about_findings_has_both_buttons_naming_them() -> None:
    message = make_message()
    _, blocks = render(AlertMessage.from_payload({**message.to_payload(), "finding_ids": [3, 41]}))
    [actions] = buttons(blocks)
    assert actions["block_id"] == ACTIONS_BLOCK
    assert [(e["action_id"], e["text"]["text"], e["value"]) for e in actions["elements"]] == [
        ("watcher_acknowledge", "Acknowledge", "3,41"),
        ("watcher_suppress", "Suppress", "3,41"),
    ]


def test_no_findings_no_buttons_and_old_or_bad_payloads_read_as_none() -> None:
    payload = make_message().to_payload()
    assert buttons(render(AlertMessage.from_payload(payload))[1]) == []
    del payload["finding_ids"]  # stored before findings had buttons
    assert AlertMessage.from_payload(payload).finding_ids == []
    payload["finding_ids"] = ["1; DROP", True, -4, 7, 2.5]
    assert AlertMessage.from_payload(payload).finding_ids == [7]


def test_a_button_value_stays_within_slacks_limit() -> None:
    message = AlertMessage.from_payload(
        {**make_message().to_payload(), "finding_ids": list(range(10**8, 10**8 + 400))}
    )
    [actions] = buttons(render(message)[1])
    value = actions["elements"][0]["value"]
    assert len(value) <= 2000
    assert value.split(",")[:2] == [str(10**8), str(10**8 + 1)]


def test_acted_drops_the_buttons_and_escapes_the_note() -> None:
    message = AlertMessage.from_payload({**make_message().to_payload(), "finding_ids": [3]})
    _, blocks = render(message)
    after = acted(blocks, "Acknowledged by <!channel> (U1) at 2026-01-01 10:00:00 UTC")
    assert buttons(after) == []
    assert after[:-1] == [b for b in blocks if b["type"] != "actions"]
    note = after[-1]["elements"][0]
    assert note["text"] == "Acknowledged by &lt;!channel&gt; (U1) at 2026-01-01 10:00:00 UTC"
    assert note["verbatim"] is True


def signed(body: bytes, timestamp: str, secret: str = SECRET) -> str:
    base = f"v0:{timestamp}:".encode() + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def test_the_verifier_accepts_a_fresh_signature_once() -> None:
    verifier = RequestVerifier(SECRET)
    now = str(int(time.time()))
    body = b"payload=%7B%7D"
    assert verifier.verify(body, now, signed(body, now))
    assert not verifier.verify(body, now, signed(body, now))  # replayed


@pytest.mark.parametrize(
    ("body", "timestamp", "signature"),
    [
        (b"x", "NOW", None),
        (b"x", None, "v0=00"),
        (b"x", "", ""),
        (b"x", "NOW", "v0=" + "0" * 64),
        (b"x", "OLD", "SIGNED"),
        (b"\xff\xfe", "NOW", "SIGNED"),  # not UTF-8: never signed by Slack
        (b"x", "\u0661\u0662", "SIGNED"),  # digits, but not ASCII ones
        (b"x", "9" * 40, "SIGNED"),
        (b"x", "NOW", "v0=\u00e9" * 10),
    ],
)
def test_the_verifier_refuses_without_raising(
    body: bytes, timestamp: str | None, signature: str | None
) -> None:
    now = int(time.time())
    stamp = {"NOW": str(now), "OLD": str(now - 301)}.get(timestamp or "", timestamp)
    if signature == "SIGNED":
        signature = signed(body, stamp or "0")
    assert not RequestVerifier(SECRET).verify(body, stamp, signature)
