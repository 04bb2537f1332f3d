"""The risk fields of an alert: stored, read back (also from older payloads), and shown
escaped on Slack and on a terminal (versions come from the index)."""

from __future__ import annotations

import io
import json

from watcher.alerts.messages import AlertKind, AlertMatch, AlertMessage
from watcher.alerts.render import render
from watcher.alerts.terminal import TerminalSender

EXACT = AlertMatch("acme-billing", "acme-billing", "exact", "same name", "critical")


def risky(public_highest: str = "99.0") -> AlertMessage:
    return AlertMessage(
        kind=AlertKind.RISK,
        public_name="acme-billing",
        display_name="acme-billing",
        matches=[EXACT],
        severity="critical",
        project_url=None,
        source="feed:updates",
        version=public_highest,
        risk_reason=f"public {public_highest} is above our highest 4.2.0",
        our_highest="4.2.0",
        our_versions=["1.0", "4.2.0"],
        public_highest=public_highest,
        predates=True,
        previous_severity="high",
    )


def test_risk_fields_round_trip() -> None:
    message = risky()
    assert AlertMessage.from_payload(json.loads(json.dumps(message.to_payload()))) == message
    assert message.text == (
        "Risk rose on a reported squat on PyPI: acme-billing 99.0 (high to critical) collides "
        "with internal 'acme-billing' (exact); risk critical: public 99.0 is above our highest "
        "4.2.0; the public project predates our first internal upload"
    )


def test_a_payload_stored_before_risks_reads_back_without_them() -> None:
    payload = risky().to_payload()
    for key in ("risk_reason", "our_highest", "our_versions", "public_highest", "predates"):
        del payload[key]
    del payload["previous_severity"]
    payload["event"] = "new"
    old = AlertMessage.from_payload(payload)
    assert (old.risk_reason, old.our_highest, old.our_versions, old.predates) == (
        None,
        None,
        [],
        None,
    )
    assert "risk" not in old.text.partition("collides")[2]
    assert [b["type"] for b in render(old)[1]] == ["header", "section", "section", "context"]
    # no risk section; the last block is the remediation line


def test_slack_shows_both_sides_escaped() -> None:
    _, blocks = render(risky())
    section = blocks[3]["text"]["text"]
    assert "*Risk critical* (was high): public 99.0 is above our highest 4.2.0" in section
    assert "*Public highest* `99.0` · *Our highest* `4.2.0` (ours: `1.0`, `4.2.0`)" in section
    assert "predates our first internal upload" in section
    hostile = render(risky("<!channel>`*x*`"))[1][3]["text"]["text"]
    assert "<!channel>" not in hostile
    assert "&lt;!channel&gt;" in hostile


async def test_terminal_shows_both_sides_without_control_characters() -> None:
    out = io.StringIO()
    await TerminalSender(out).send(1, risky("9.9\x1b[2J"))
    shown = out.getvalue()
    assert "\x1b" not in shown
    assert "public highest 9.9\\x1b[2J, our highest 4.2.0 (ours: 1.0, 4.2.0)" in shown
