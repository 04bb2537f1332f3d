"""What every destination's sender raises, and how long a failed delivery waits."""

from __future__ import annotations

# Longest wait a Retry-After can impose, in seconds: Slack (or a proxy in front of it, or a
# webhook's receiver) asking for an hour would otherwise hold every alert behind it for that
# hour.
MAX_RETRY_AFTER = 300.0


class DeliveryError(Exception):
    """The destination did not take the message; the alert stays queued."""


class RateLimited(DeliveryError):
    """The destination answered 429; ``retry_after`` is how long to wait (already capped),
    if it said."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def retry_delay(attempts: int, exc: Exception, *, base: float, most: float) -> float:
    """Seconds a delivery waits after failing its ``attempts``-th attempt with ``exc``: the
    destination's Retry-After (capped) on a rate limit, else a doubling backoff up to
    ``most``."""
    if isinstance(exc, RateLimited) and exc.retry_after is not None:
        return min(exc.retry_after, MAX_RETRY_AFTER)
    return float(min(base * 2 ** max(attempts - 1, 0), most))
