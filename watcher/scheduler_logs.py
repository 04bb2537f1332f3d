"""What APScheduler logs that is no news here: a run skipped because the previous one still
runs (intended with ``max_instances=1``), and the cancellation of jobs we stop ourselves."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager


class _SkippedRunFilter(logging.Filter):
    """Drop APScheduler's warning for a run skipped because the previous one still runs.

    With ``max_instances=1`` that is the intended behaviour (a dispatch waiting out a Slack
    Retry-After outlasts its one-second interval), not something to warn about each second.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


def quiet_skipped_runs() -> None:
    """Install the filter on APScheduler's scheduler logger (idempotent)."""
    logger = logging.getLogger("apscheduler.scheduler")
    if not any(isinstance(f, _SkippedRunFilter) for f in logger.filters):
        logger.addFilter(_SkippedRunFilter())


@contextmanager
def cancellations_unlogged() -> Iterator[None]:
    """While jobs we cancel on purpose end: APScheduler logs a job's CancelledError as an
    error with its traceback, and a cancellation we asked for (and said so) is no error."""
    executor = logging.getLogger("apscheduler.executors.default")

    def ours(record: logging.LogRecord) -> bool:
        return not (
            record.exc_info is not None and isinstance(record.exc_info[1], asyncio.CancelledError)
        )

    executor.addFilter(ours)
    try:
        yield
    finally:
        executor.removeFilter(ours)
