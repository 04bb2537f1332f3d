"""The service's Prometheus metrics, served as ``GET /metrics`` (the text format).

One :class:`Metrics` per service owns its own :class:`~prometheus_client.CollectorRegistry`
(never the process-wide default: tests run several services in one process), and is
handed to whatever counts: the jobs' health book (runs, durations, last success), the
pipeline (events, matches), the dispatchers (deliveries). What the store holds (findings,
queued alerts) is read when scraped, at most once per :data:`STORE_REFRESH` seconds
whatever the number of scrapers, and served from that snapshot in between.

Every label value is one of a fixed set (sources, kinds, risks, statuses, destinations,
results): nothing a package or its publisher wrote ever becomes a label. ``/metrics``
answers without the API token, like ``/healthz``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from watcher import __version__
from watcher.matching.model import MatchKind, Risk
from watcher.store.gauges import StoreGauges, store_gauges
from watcher.store.models import EventSource, FindingStatus, OutboxStatus

if TYPE_CHECKING:
    from watcher.config_views import ScheduleSettings
    from watcher.health import SourceHealth
    from watcher.store import Database

log = logging.getLogger(__name__)

STORE_REFRESH = 10.0
"""Seconds a snapshot of the store's counts is served before a scrape reads it again."""

STORE_TIMEOUT = 5.0
"""Seconds a scrape waits for the store's counts before serving the last snapshot."""

OTHER = "other"
"""The label value of anything outside a label's fixed set (never its own text)."""

UNASSESSED = "unassessed"
"""The ``risk`` label of findings whose risk was never assessed."""

# Seconds: a catalog reload takes milliseconds, a first reconcile of the whole index minutes.
_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)


class Destination(StrEnum):
    """Where the dispatchers deliver alerts (the ``destination`` label)."""

    SLACK = "slack"
    WEBHOOK = "webhook"
    TERMINAL = "terminal"  # ``watcher demo`` prints them


class DeliveryResult(StrEnum):
    """How one delivery attempt went (the ``result`` label)."""

    DELIVERED = "delivered"
    ALREADY_DELIVERED = "already_delivered"  # an earlier attempt had landed (looked up)
    FAILED = "failed"  # the destination failed: retried with backoff, the queue paused
    ERROR = "error"  # this alert could not be sent (a bug, a bad payload): retried


def intervals(schedule: ScheduleSettings) -> dict[str, float]:
    """Each source's interval between runs, by its ``/healthz`` name (as the jobs run)."""
    return {
        "feeds": schedule.poll_interval,
        "reconcile": schedule.reconcile_interval,
        "journal": schedule.journal_interval,
        "catalog": min(schedule.catalog_reload_interval, schedule.index_reload_interval),
        "dispatch": schedule.dispatch_interval,
        "webhook": schedule.dispatch_interval,
        "names": schedule.poll_interval,
        "retention": schedule.retention_interval,
    }


def _known(value: str | None, allowed: Iterable[str]) -> str:
    """``value`` when it is one of ``allowed``, else :data:`OTHER`."""
    return value if value is not None and value in allowed else OTHER


_EVENT_SOURCES = frozenset(str(s) for s in EventSource)
_KINDS = frozenset(str(k) for k in MatchKind)
_RISKS = tuple(str(r) for r in Risk)
_STATUSES = tuple(str(s) for s in FindingStatus)
_WAITING = (str(OutboxStatus.PENDING), str(OutboxStatus.SENDING))


class Metrics:
    """The registry of one service and the calls that move its metrics.

    ``schedule`` gives each source's interval (``watcher_source_interval_seconds``, for
    alert rules in numbers of intervals); ``clock`` is wall time (the last success and the
    age of the oldest alert), ``monotonic`` bounds how often the store is read: at most
    once per :attr:`refresh_every` seconds, each read given up after ``timeout``.
    """

    def __init__(
        self,
        schedule: ScheduleSettings | None = None,
        *,
        version: str = __version__,
        refresh_every: float = STORE_REFRESH,
        timeout: float = STORE_TIMEOUT,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = CollectorRegistry()
        reg = self.registry
        self._intervals = intervals(schedule) if schedule is not None else {}
        self.refresh_every, self._timeout = refresh_every, timeout
        self._clock, self._monotonic = clock, monotonic
        Info("watcher_build", "The running version.", registry=reg).info({"version": version})
        ProcessCollector(registry=reg)  # process_cpu_seconds_total, process_start_time_seconds
        self._leader = Gauge(
            "watcher_leader", "1 on the replica that polls and dispatches, else 0.", registry=reg
        )
        by_source = ["source"]
        self._run_seconds = Histogram(
            "watcher_source_run_duration_seconds",
            "How long each run of a source took (runs that did nothing on purpose excluded).",
            by_source,
            buckets=_BUCKETS,
            registry=reg,
        )
        self._failures = Counter(
            "watcher_source_failures", "Failed runs of each source.", by_source, registry=reg
        )
        self._last_success = Gauge(
            "watcher_source_last_success_timestamp_seconds",
            "When each source last ran successfully (Unix time).",
            by_source,
            registry=reg,
        )
        self._in_a_row = Gauge(
            "watcher_source_consecutive_failures",
            "Failed runs in a row of each source (0 after a success).",
            by_source,
            registry=reg,
        )
        self._interval = Gauge(
            "watcher_source_interval_seconds",
            "Each source's scheduled interval between runs.",
            by_source,
            registry=reg,
        )
        self._events = Counter(
            "watcher_events_processed",
            "Index events processed by the pipeline, by the source that recorded them.",
            by_source,
            registry=reg,
        )
        self._event_failures = Counter(
            "watcher_events_failed",
            "Failed attempts at processing index events (retried, then dead-lettered).",
            by_source,
            registry=reg,
        )
        self._matches = Counter(
            "watcher_matches",
            "Matches of a public name with the catalog the pipeline recorded, by kind.",
            ["kind"],
            registry=reg,
        )
        self._new_findings = Counter(
            "watcher_new_findings",
            "Findings stored for the first time, by kind.",
            ["kind"],
            registry=reg,
        )
        self._deliveries = Counter(
            "watcher_deliveries",
            "Delivery attempts of alerts, by destination and result.",
            ["destination", "result"],
            registry=reg,
        )
        self._store_errors = Counter(
            "watcher_metrics_store_errors",
            "Scrapes that could not read the store's counts (the last snapshot was served).",
            registry=reg,
        )
        self._snapshot: StoreGauges | None = None
        self._snapshot_at: float | None = None  # wall time of the snapshot
        self._read_at: float | None = None  # monotonic time of the last attempt
        self._reading = asyncio.Lock()
        self._catalog: Callable[[], Mapping[str, int]] | None = None
        reg.register(_StoreCollector(self))

    # -- what the service tells -----------------------------------------------------

    def set_leader(self, leading: bool) -> None:
        """Whether this replica leads (polls and dispatches) now."""
        self._leader.set(1 if leading else 0)

    def watch_catalog(self, sizes: Callable[[], Mapping[str, int]]) -> None:
        """Read the catalog's names per source (``"file"``, ``"index-1"``...) when scraped."""
        self._catalog = sizes

    def watch_source(self, source: str) -> None:
        """Show ``source``'s series from the start (zero failures, its interval)."""
        self._run_seconds.labels(source)
        self._failures.labels(source)
        self._in_a_row.labels(source).set(0)
        if source in self._intervals:
            self._interval.labels(source).set(self._intervals[source])

    def run_finished(self, health: SourceHealth, seconds: float | None, *, ok: bool) -> None:
        """A run of ``health.name`` ended, ``ok`` or failed, after ``seconds`` (if known)."""
        source = health.name
        if seconds is not None:
            self._run_seconds.labels(source).observe(seconds)
        if not ok:
            self._failures.labels(source).inc()
        self._in_a_row.labels(source).set(health.failures)
        if ok and health.last_success is not None:
            self._last_success.labels(source).set(health.last_success.timestamp())

    def events_processed(self, sources: Iterable[str]) -> None:
        """Index events processed (one source per event)."""
        for source in sources:
            self._events.labels(_known(source, _EVENT_SOURCES)).inc()

    def events_failed(self, sources: Iterable[str]) -> None:
        """Index events whose processing failed this time (one source per event)."""
        for source in sources:
            self._event_failures.labels(_known(source, _EVENT_SOURCES)).inc()

    def matches_recorded(self, kinds: Iterable[str], *, new: Iterable[str] = ()) -> None:
        """Matches recorded (one kind each), and those of them that were new findings."""
        for kind in kinds:
            self._matches.labels(_known(kind, _KINDS)).inc()
        for kind in new:
            self._new_findings.labels(_known(kind, _KINDS)).inc()

    def delivery(self, destination: Destination, result: DeliveryResult) -> None:
        """One delivery attempt of an alert (or digest) to ``destination``."""
        self._deliveries.labels(str(destination), str(result)).inc()

    # -- serving ------------------------------------------------------------------------

    async def refresh(self, db: Database) -> None:
        """Read the store's counts unless the snapshot is fresh (:data:`STORE_REFRESH`).

        Concurrent scrapes share one read; a read that fails or overstays
        :data:`STORE_TIMEOUT` keeps the last snapshot, and is not tried again before the
        next refresh is due either (a database in trouble is not asked more).
        """
        if self._fresh():
            return
        async with self._reading:
            if self._fresh():
                return  # read by the scrape this one waited for
            self._read_at = self._monotonic()
            try:
                async with asyncio.timeout(self._timeout), db.transaction() as session:
                    snapshot = await store_gauges(session)
            except Exception as exc:  # any driver error or the timeout: served as it was
                self._store_errors.inc()
                log.warning("metrics: cannot read the store's counts: %s", exc)
                return
            self._snapshot, self._snapshot_at = snapshot, self._clock()

    def _fresh(self) -> bool:
        return self._read_at is not None and (
            self._monotonic() - self._read_at < self.refresh_every
        )

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """The exposition (in the format ``accept`` asks for) and its content type."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type

    # -- read when scraped --------------------------------------------------------------

    def _collect_store(self) -> Iterator[Metric]:
        snapshot = self._snapshot
        if snapshot is not None:
            yield from _store_families(snapshot, self._snapshot_at or 0.0, self._clock())
        if self._catalog is not None:
            names = GaugeMetricFamily(
                "watcher_catalog_names",
                "Internal names per catalog source: the file, each private index in the"
                " file's order (its projects as last loaded).",
                labels=["source"],
            )
            for source, count in sorted(self._catalog().items()):
                names.add_metric([source], count)
            yield names


def _store_families(snapshot: StoreGauges, taken: float, now: float) -> Iterator[Metric]:
    """The metrics of one snapshot of the store; ages counted up to ``now``."""
    findings = GaugeMetricFamily(
        "watcher_findings", "Findings by risk and status.", labels=["risk", "status"]
    )
    counts: dict[tuple[str, str], int] = {
        (risk, status): 0 for risk in (*_RISKS, UNASSESSED) for status in _STATUSES
    }
    for (risk, status), count in snapshot.findings.items():
        key = (UNASSESSED if risk is None else _known(risk, _RISKS), _known(status, _STATUSES))
        counts[key] = counts.get(key, 0) + count
    for (risk, status), count in sorted(counts.items()):
        findings.add_metric([risk, status], count)
    yield findings
    outbox = GaugeMetricFamily(
        "watcher_outbox_alerts",
        "Alerts (and digests) not sent yet: pending, or being sent now.",
        labels=["status"],
    )
    for status in _WAITING:
        outbox.add_metric([status], snapshot.outbox.get(status, 0))
    yield outbox
    oldest = snapshot.oldest_pending
    yield GaugeMetricFamily(
        "watcher_outbox_oldest_pending_age_seconds",
        "Age of the oldest alert waiting to be posted (0 when none waits).",
        value=0.0 if oldest is None else max(0.0, now - oldest.timestamp()),
    )
    yield GaugeMetricFamily(
        "watcher_store_snapshot_timestamp_seconds",
        "When the findings and outbox counts above were read from the store (Unix time).",
        value=taken,
    )


class _StoreCollector(Collector):
    """What is read when scraped: the store's snapshot and the catalog's sizes."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return list(self._metrics._collect_store())
