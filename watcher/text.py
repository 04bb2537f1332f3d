"""Showing text that came from outside (the index, a package) to a person: one line, its
control characters escaped, clipped. Slack, the terminal and the log all read it this way."""

from __future__ import annotations


def printable(value: object, limit: int | None = 300) -> str:
    """``value`` as one line: non-printable characters (a line break would forge a line, an
    ANSI sequence rewrite the reader's terminal) shown escaped; cut at ``limit`` characters
    with an ellipsis (``None``: not cut)."""
    text = str(value)
    if not text.isprintable():
        text = "".join(
            ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text
        )
    if limit is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"
