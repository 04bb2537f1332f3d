"""HTTP headers the services we talk to send, read one way everywhere."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def retry_after(value: object, *, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header, or ``None`` when absent or unreadable.

    Either form of RFC 9110: a number of seconds (finite), or an HTTP date, counted from
    ``now`` (default: the current time; a date in the past means "now"). Never negative;
    not capped: each caller caps it at what it can afford to wait, and says so.
    """
    if not isinstance(value, str):
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return _date_delay(value, now)
    if not math.isfinite(seconds):  # "nan" and "inf" pass float(), then sleep forever
        return None
    return max(seconds, 0.0)


def _date_delay(value: str, now: datetime | None) -> float | None:
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000": UTC by RFC 5322; HTTP dates are always GMT
        when = when.replace(tzinfo=UTC)
    delay = (when - (now or datetime.now(UTC))).total_seconds()
    return max(delay, 0.0)
