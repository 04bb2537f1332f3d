"""Turning an alert message into a Slack message (plain ``text`` plus Block Kit)."""

from __future__ import annotations

from typing import Any

from watcher.alerts.messages import AlertMessage

# Block Kit refuses a whole message whose section text exceeds 3000 characters or a field
# 2000; values come from the index (author, version, ...), so a squatter could otherwise
# make their own alert undeliverable. Clip each value before escaping (which can grow it 5x).
_SECTION_MAX = 3000
_VALUE_MAX = 300
_URL_MAX = 1000


def _escape(value: object, limit: int = _VALUE_MAX) -> str:
    text = str(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    # Slack's mrkdwn treats these three as control characters.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render(message: AlertMessage) -> tuple[str, list[dict[str, Any]]]:
    """The notification ``text`` (names project, version, internal name, kind) and blocks."""
    name = _escape(message.display_name or message.public_name)
    version = _escape(message.version or "no release", 100)
    url = message.project_url
    title = f"<{url}|{name} {version}>" if url and len(url) <= _URL_MAX else f"{name} {version}"
    lines = [
        f"• `{_escape(m.internal_display)}` — *{_escape(m.kind)}*: {_escape(m.detail)}"
        for m in message.matches
    ]
    fields = [
        ("Severity", message.severity),
        ("Change", message.change),
        ("Seen via", message.source),
        ("Author", message.author),
        ("Owners", ", ".join(message.owners) or None),
        ("Organization", message.organization),
        ("First release", message.first_release),
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": message.title[:150]}},
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": (f"*{title}* {message.section}\n" + "\n".join(lines))[:_SECTION_MAX],
            },
        },
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*{label}*\n{_escape(value)}"}
                for label, value in fields
                if value
            ][:10],
        },
    ]
    if message.summary:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "plain_text", "text": message.summary[:2000]}],
            }
        )
    return message.text, blocks
