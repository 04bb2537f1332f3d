"""How the sources are doing: per-source health for ``/healthz`` and a log people can read.

A source says it is failing once, how it goes at most once a minute, and when it
recovers; the poll job's counts go to one summary line at most once a minute.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from watcher.errors import (
    AnswerRefused,
    ConfigError,
    FeedsFailed,
    IndexUnavailable,
    ListingRefused,
    NotAnIndex,
)

if TYPE_CHECKING:
    from watcher.sources.feeds import PollReport

log = logging.getLogger("watcher.jobs")

FAILING_AFTER = 3
"""Runs in a row a source must fail before ``/healthz`` calls it failing (and degraded)."""

SUMMARY_INTERVAL = 60.0
"""Seconds between two log lines about the same thing: the poll summary, a failure going on."""


@dataclass(frozen=True)
class _Job:
    """How the log and ``/healthz`` speak of one job."""

    source: str  # the name /healthz shows
    label: str  # what a run is, for the log
    runs: str  # several runs, for the log


_JOBS = {
    "poll": _Job("feeds", "feed poll", "polls"),
    "reconcile": _Job("reconcile", "whole-index reconcile", "reconciles"),
    "journal": _Job("journal", "change-log read", "change-log reads"),
    "catalog": _Job("catalog", "catalog reload", "catalog reloads"),
    "dispatch": _Job("dispatch", "alert dispatch", "dispatch runs"),
    "webhook": _Job("webhook", "webhook delivery", "webhook runs"),
    "names": _Job("names", "public names refresh", "name refreshes"),
    "retention": _Job("retention", "retention pass", "retention passes"),
}


@dataclass
class SourceHealth:
    """How one source's latest runs went (kept in memory): for ``/healthz`` and the log.

    A run fails when it raises or reports an error (every feed failing, a listing refused,
    a catalog file that cannot be used, alerts not delivered); ``failures`` counts the
    failed runs in a row, since ``since``. A successful run resets it. A run that refused
    an answer of the index as implausible (``refused``) makes the source failing at once:
    that answer would have changed what we store, and someone should look.
    """

    name: str
    failures: int = 0
    since: datetime | None = None
    last_error: str | None = None
    last_success: datetime | None = None
    refused: bool = False
    logged_at: float | None = field(default=None, repr=False)  # monotonic, last log line

    @property
    def failing(self) -> bool:
        """Failed :data:`FAILING_AFTER` runs in a row or more, or the last run refused an
        answer."""
        return self.failures >= FAILING_AFTER or self.refused

    @property
    def state(self) -> str:
        """``"failing"`` or ``"ok"``."""
        return "failing" if self.failing else "ok"


@dataclass
class RunOutcome:
    """One run of a job: what it reported, besides raising."""

    error: BaseException | str | None = None
    quiet: bool = False  # said elsewhere (the source logs it): only recorded here
    skipped: bool = False  # did nothing on purpose (backing off): neither good nor bad

    def fail(self, error: BaseException | str, *, quiet: bool = False) -> None:
        self.error, self.quiet = error, quiet


@dataclass
class _PollTally:
    """The poll job's counts since its last summary line."""

    polls: int = 0
    failed: int = 0
    items: int = 0
    new: int = 0
    matched: int = 0
    events: int = 0
    alerts: int = 0


JOB_IDS = tuple(_JOBS)


class RunObserver(Protocol):
    """Told of every source and of how each run went (:class:`watcher.metrics.Metrics`)."""

    def watch_source(self, source: str) -> None:
        """``source`` runs in this service (its series exist from the start)."""

    def run_finished(self, health: SourceHealth, seconds: float | None, *, ok: bool) -> None:
        """A run of ``health.name`` ended, ``ok`` or failed, after ``seconds`` (if known)."""


class HealthBook:
    """Keeps each job's :class:`SourceHealth` and the poll summary, and logs both."""

    def __init__(
        self,
        job_ids: Iterable[str],
        *,
        clock: Callable[[], datetime],
        monotonic: Callable[[], float],
        summary_interval: float = SUMMARY_INTERVAL,
        observer: RunObserver | None = None,
    ) -> None:
        self.health: dict[str, SourceHealth] = {
            _JOBS[job_id].source: SourceHealth(_JOBS[job_id].source) for job_id in job_ids
        }
        # Each run's outcome and duration also go to the metrics (when given).
        self._observer = observer
        self._started: dict[str, float] = {}  # job id -> monotonic start of its run
        if observer is not None:
            for source in self.health:
                observer.watch_source(source)
        self._clock = clock
        self._monotonic = monotonic
        self._summary_interval = summary_interval
        self._tally = _PollTally()
        self._summary_at: float | None = None
        self._tally_since = monotonic()

    def source_of(self, job_id: str) -> SourceHealth:
        """The health of the source ``job_id`` runs for."""
        return self.health[_JOBS[job_id].source]

    def started(self, job_id: str) -> None:
        """A run of ``job_id`` begins (its duration is measured from now)."""
        self._started[job_id] = self._monotonic()

    def _observe(self, job_id: str, health: SourceHealth, *, ok: bool) -> None:
        """Tell the metrics how the run that :meth:`started` last went."""
        began = self._started.pop(job_id, None)
        if self._observer is not None:
            took = None if began is None else max(0.0, self._monotonic() - began)
            self._observer.run_finished(health, took, ok=ok)

    def failed(
        self,
        job_id: str,
        error: BaseException | str,
        *,
        quiet: bool = False,
        unexpected: bool = False,
    ) -> None:
        job = _JOBS[job_id]
        health = self.health[job.source]
        now, tick = self._clock(), self._monotonic()
        quiet = quiet or isinstance(error, NotAnIndex)  # _confirm_index() said it
        health.failures += 1
        if health.failures == 1:
            health.since = now
        health.last_error = _one_line(error)
        health.refused = isinstance(error, AnswerRefused | ListingRefused)
        self._observe(job_id, health, ok=False)
        unreachable = isinstance(error, IndexUnavailable) or (
            isinstance(error, FeedsFailed) and error.unavailable
        )
        if health.failures == 1:
            health.logged_at = tick
            if unexpected and isinstance(error, BaseException):
                log.error("%s job failed", job_id, exc_info=error)
            elif not quiet:
                level = logging.ERROR if isinstance(error, ConfigError) else logging.WARNING
                log.log(
                    level,
                    "%s failed, retried on schedule (said again at most once a minute): %s",
                    job.label,
                    health.last_error,
                )
            return
        if quiet or (
            health.logged_at is not None and tick - health.logged_at < self._summary_interval
        ):
            log.debug("%s failed again (%d in a row): %s", job.label, health.failures, error)
            return
        health.logged_at = tick
        assert health.since is not None
        log.warning(
            "%s for %d %s (since %s): %s",
            "index unreachable" if unreachable else f"{job.label} failing",
            health.failures,
            job.runs,
            _stamp(health.since),
            health.last_error,
        )

    def succeeded(self, job_id: str) -> None:
        job = _JOBS[job_id]
        health = self.health[job.source]
        health.last_success = self._clock()
        if health.failures:
            assert health.since is not None
            log.info(
                "%s works again after %d failed %s (since %s)",
                job.label,
                health.failures,
                job.runs,
                _stamp(health.since),
            )
        health.failures, health.since, health.last_error, health.logged_at = 0, None, None, None
        health.refused = False
        self._observe(job_id, health, ok=True)

    def count_poll(
        self, reports: list[PollReport], events: int, alerts: int, *, failed: bool
    ) -> None:
        tally = self._tally
        tally.polls += 1
        tally.failed += failed
        tally.items += sum(r.items for r in reports)
        tally.new += sum(r.new_items for r in reports)
        matched = sum(len(r.matched) for r in reports)
        tally.matched += matched
        tally.events += matched + events
        tally.alerts += alerts

    def poll_summary(self) -> None:
        """Log what the polls did, at most once a minute (the first good poll at once)."""
        tally = self._tally
        tick = self._monotonic()
        if self._summary_at is not None and tick - self._summary_at < self._summary_interval:
            return
        if tally.failed == tally.polls:
            return  # nothing read: the failure lines say why
        window = (
            "first poll"
            if tally.polls == 1 and self._summary_at is None
            else f"{tally.polls} polls in {tick - self._tally_since:.0f} s"
        )
        log.info(
            "feeds: %s%s: %d items seen, %d new, %d matched; %d index events recorded, "
            "%d alerts queued",
            window,
            f" ({tally.failed} failed)" if tally.failed else "",
            tally.items,
            tally.new,
            tally.matched,
            tally.events,
            tally.alerts,
        )
        self._summary_at = self._tally_since = tick
        self._tally = _PollTally()


def _one_line(error: BaseException | str) -> str:
    text = error if isinstance(error, str) else (str(error) or type(error).__name__)
    return " ".join(text.split())


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
