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

from watcher.alerts.digests import Digest
from watcher.alerts.messages import AlertMessage
from watcher.text import printable


class TerminalSender:
    """Writes each alert as a short, readable block to ``stream``."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._sent = 0

    async def send(
        self,
        alert_id: int,
        message: AlertMessage | Digest,
        *,
        thread_ts: str | None = None,
        mention: str | None = None,
    ) -> str:
        """See :class:`~watcher.alerts.slack.AlertSender` (a terminal has no threads and
        nobody to mention: replies are marked as such)."""
        self._sent += 1
        if isinstance(message, Digest):
            return self._digest(alert_id, message)
        label = "UPDATE" if thread_ts else "ALERT"
        lines = [
            "",
            f"*** {label} {self._sent}: {printable(message.title)} ***",
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

    def _digest(self, alert_id: int, digest: Digest) -> str:
        lines = ["", f"*** DIGEST {self._sent}: {printable(digest.text, 1000)} ***"]
        lines += [
            f"    - {printable(i.severity, 16)} {printable(i.display_name)} "
            f"{printable(i.version or '(no release)', 100)}: {printable(', '.join(i.matches))}"
            for i in digest.items
        ]
        self._stream.write("\n".join(lines) + "\n")
        self._stream.flush()
        return f"terminal-{alert_id}"

    async def find_sent(
        self, alert_ids: Iterable[int], since: datetime, *, thread_ts: str | None = None
    ) -> dict[int, str]:
        """A terminal keeps no history: an alert in flight at a crash is shown again."""
        return {}
