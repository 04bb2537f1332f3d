"""HTTP headers the services we talk to send, read one way everywhere."""

from __future__ import annotations

import math


def retry_after(value: object) -> float | None:
    """Seconds from a ``Retry-After`` header, or ``None`` when absent or not a finite
    number of seconds (an HTTP date is not worth trusting a clock for). Never negative;
    not capped: each caller caps it at what it can afford to wait, and says so."""
    if not isinstance(value, str):
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if not math.isfinite(seconds):  # "nan" and "inf" pass float(), then sleep forever
        return None
    return max(seconds, 0.0)
