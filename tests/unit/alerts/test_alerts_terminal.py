"""Alerts on a terminal: readable, and package-supplied text cannot drive the terminal."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from watcher.alerts.messages import AlertKind, AlertMatch, AlertMessage
from watcher.alerts.terminal import TerminalSender
from watcher.text import printable


def _message(name: str, version: str) -> AlertMessage:
    return AlertMessage(
        kind=AlertKind.NEW,
        public_name="acme-billing",
        display_name=name,
        version=version,
        matches=[AlertMatch("acme-billing", "acme-billing", "exact", "same name", "critical")],
        severity="critical",
        project_url="http://127.0.0.1:1/project/acme-billing/",
        source="feed:updates",
    )


async def test_an_alert_is_a_short_readable_block() -> None:
    out = io.StringIO()
    sender = TerminalSender(out)
    assert await sender.send(7, _message("Acme.Billing", "99.0")) == "terminal-7"
    text = out.getvalue()
    assert "*** ALERT 1: Possible squat of an internal package ***" in text
    assert "Possible squat on PyPI: Acme.Billing 99.0 collides with internal 'acme-billing'" in text
    assert "- acme-billing (exact): same name" in text
    assert await sender.find_sent([7], datetime.now(UTC)) == {}


async def test_escape_sequences_from_the_index_are_shown_not_obeyed() -> None:
    out = io.StringIO()
    hostile = "1.0\x1b[2J\x1b[31m\rfake\u202eline\x07"
    await TerminalSender(out).send(1, _message("acme\x1b]0;pwned\x07", hostile))
    text = out.getvalue()
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "\r" not in text
    assert "\u202e" not in text
    assert "\\x1b[2J" in text
    assert text.count("\n") == 5  # blank, header, text, one match, link: nothing injected


def test_printable_clips_long_values() -> None:
    assert printable("x" * 500, 10) == "x" * 9 + "…"
    assert printable("tab\there") == "tab\\there"
