"""Alerts printed on a terminal: the destination of ``watcher demo`` when Slack is not
configured.

Everything in a message that came from the index (names, versions, authors, summaries) is
shown with control characters escaped: a squatter must not be able to move the cursor,
recolour or rewrite what the reader sees with ANSI escape sequences.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TextIO

from watcher.alerts.messages import AlertMessage
from watcher.text import printable


class TerminalSender:
    """Writes each alert as a short, readable block to ``stream``."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._sent = 0

    async def send(self, alert_id: int, message: AlertMessage) -> str:
        """See :class:`~watcher.alerts.slack.AlertSender`."""
        self._sent += 1
        lines = [
            "",
            f"*** ALERT {self._sent}: {printable(message.title)} ***",
            f"    {printable(message.text, 1000)}",
        ]
        lines += [
            f"    - {printable(m.internal_display)} ({printable(m.kind)}): {printable(m.detail)}"
            for m in message.matches
        ]
        if message.public_highest or message.our_highest:
            ours = ", ".join(printable(v, 100) for v in message.our_versions[-10:])
            lines.append(
                f"    public highest {printable(message.public_highest or 'unknown', 100)}, "
                f"our highest {printable(message.our_highest or 'unknown', 100)}"
                + (f" (ours: {ours})" if ours else "")
            )
        if message.project_url:
            lines.append(f"    {printable(message.project_url)}")
        self._stream.write("\n".join(lines) + "\n")
        self._stream.flush()
        return f"terminal-{alert_id}"

    async def find_sent(self, alert_ids: Iterable[int], since: datetime) -> dict[int, str]:
        """A terminal keeps no history: an alert in flight at a crash is shown again."""
        return {}
