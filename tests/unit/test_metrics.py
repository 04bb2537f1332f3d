"""The metrics (:mod:`watcher.metrics`): one registry per service, runs counted through the
health book, labels from fixed sets only, and the store read at most once per interval."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families

from watcher import __version__
from watcher import metrics as metrics_module
from watcher.config_views import ScheduleSettings
from watcher.health import HealthBook
from watcher.metrics import DeliveryResult, Destination, Metrics
from watcher.store import Database, findings, outbox
from watcher.store.findings import RiskRecord
from watcher.store.gauges import StoreGauges

T = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SCHEDULE = ScheduleSettings(
    poll_interval=60.0,
    reconcile_interval=3600.0,
    journal=False,
    journal_interval=60.0,
    journal_max_backoff=600.0,
    dispatch_interval=5.0,
    alert_retry_base=5.0,
    catalog_reload_interval=30.0,
    index_reload_interval=600.0,
)


def samples(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the exposition, as Prometheus' parser reads it."""
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def at(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> Any:
    return found.get((name, frozenset(labels.items())))


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_each_service_has_a_registry_of_its_own() -> None:
    one, two = Metrics(), Metrics()  # two services in one process: no duplicate names
    one.set_leader(True)
    one.delivery(Destination.SLACK, DeliveryResult.DELIVERED)
    assert at(samples(one), "watcher_leader") == 1
    assert at(samples(two), "watcher_leader") == 0
    labels = {"destination": "slack", "result": "delivered"}
    assert at(samples(one), "watcher_deliveries_total", **labels) == 1
    assert at(samples(two), "watcher_deliveries_total", **labels) is None
    assert prometheus_client.REGISTRY.get_sample_value("watcher_leader") is None
    assert at(samples(one), "watcher_build_info", version=__version__) == 1


def test_runs_are_measured_and_counted_through_the_health_book() -> None:
    metrics, tick = Metrics(SCHEDULE), Clock()
    book = HealthBook(["poll", "dispatch"], clock=lambda: T, monotonic=tick, observer=metrics)
    found = samples(metrics)  # every source shown from the start, before any run
    assert at(found, "watcher_source_failures_total", source="feeds") == 0
    assert at(found, "watcher_source_consecutive_failures", source="dispatch") == 0
    assert at(found, "watcher_source_interval_seconds", source="feeds") == 60
    assert at(found, "watcher_source_interval_seconds", source="dispatch") == 5
    assert at(found, "watcher_source_last_success_timestamp_seconds", source="feeds") is None

    book.started("poll")
    tick.now += 2.5
    book.succeeded("poll")
    for _ in range(2):
        book.started("dispatch")
        tick.now += 0.2
        book.failed("dispatch", "3 alerts not delivered", quiet=True)
    found = samples(metrics)
    assert at(found, "watcher_source_run_duration_seconds_count", source="feeds") == 1
    assert at(found, "watcher_source_run_duration_seconds_sum", source="feeds") == 2.5
    assert at(found, "watcher_source_run_duration_seconds_bucket", source="feeds", le="5.0") == 1
    assert at(found, "watcher_source_run_duration_seconds_bucket", source="feeds", le="1.0") == 0
    assert at(found, "watcher_source_last_success_timestamp_seconds", source="feeds") == (
        T.timestamp()
    )
    assert at(found, "watcher_source_failures_total", source="feeds") == 0
    assert at(found, "watcher_source_failures_total", source="dispatch") == 2
    assert at(found, "watcher_source_consecutive_failures", source="dispatch") == 2
    assert at(found, "watcher_source_run_duration_seconds_count", source="dispatch") == 2

    book.started("dispatch")
    book.succeeded("dispatch")
    found = samples(metrics)
    assert at(found, "watcher_source_consecutive_failures", source="dispatch") == 0
    assert at(found, "watcher_source_failures_total", source="dispatch") == 2  # a counter


def test_no_label_value_comes_from_outside_its_fixed_set() -> None:
    metrics = Metrics()
    metrics.events_processed(["feed:updates", "journal", "feed:updates", "evil\n} 1\nx{"])
    metrics.events_failed(["index"])
    metrics.matches_recorded(["exact", "prefix", "payments-core"], new=["exact"])
    found = samples(metrics)
    assert at(found, "watcher_events_processed_total", source="feed:updates") == 2
    assert at(found, "watcher_events_processed_total", source="journal") == 1
    assert at(found, "watcher_events_processed_total", source="other") == 1
    assert at(found, "watcher_events_failed_total", source="index") == 1
    assert at(found, "watcher_matches_total", kind="exact") == 1
    assert at(found, "watcher_matches_total", kind="other") == 1
    assert at(found, "watcher_new_findings_total", kind="exact") == 1
    values = {v for _, labels in found for _, v in labels}
    assert not any("evil" in v or "payments" in v for v in values)


def test_catalog_names_per_source_are_read_when_scraped() -> None:
    metrics = Metrics()
    sizes = {"file": 3, "index-1": 0}
    metrics.watch_catalog(lambda: sizes)
    assert at(samples(metrics), "watcher_catalog_names", source="index-1") == 0
    sizes["index-1"] = 250
    found = samples(metrics)
    assert at(found, "watcher_catalog_names", source="file") == 3
    assert at(found, "watcher_catalog_names", source="index-1") == 250


class NoDatabase:
    """Stands for the database: the store's counts are faked in ``store_gauges``."""

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        yield None


async def test_the_store_is_read_at_most_once_per_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reads: list[float] = []
    answer: list[BaseException | StoreGauges] = []

    async def fake_gauges(session: object) -> StoreGauges:
        reads.append(tick.now)
        await asyncio.sleep(0.01)  # concurrent scrapes arrive while it reads
        outcome = answer[-1]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    monkeypatch.setattr(metrics_module, "store_gauges", fake_gauges)
    tick = Clock()
    metrics = Metrics(monotonic=tick, clock=lambda: T.timestamp())
    db: Any = NoDatabase()
    answer.append(StoreGauges({("high", "open"): 2}, {"pending": 1}, T - timedelta(seconds=90)))

    await asyncio.gather(*(metrics.refresh(db) for _ in range(5)))
    assert len(reads) == 1  # five scrapes at once: one read
    found = samples(metrics)
    assert at(found, "watcher_findings", risk="high", status="open") == 2
    assert at(found, "watcher_findings", risk="critical", status="open") == 0
    assert at(found, "watcher_outbox_alerts", status="pending") == 1
    assert at(found, "watcher_outbox_alerts", status="sending") == 0
    assert at(found, "watcher_outbox_oldest_pending_age_seconds") == 90

    answer.append(StoreGauges({("high", "resolved"): 2}, {}, None))
    tick.now += 9.9
    await metrics.refresh(db)
    assert len(reads) == 1  # served from the snapshot
    assert at(samples(metrics), "watcher_findings", risk="high", status="open") == 2
    tick.now += 0.2
    await metrics.refresh(db)
    assert len(reads) == 2
    found = samples(metrics)
    assert at(found, "watcher_findings", risk="high", status="resolved") == 2
    assert at(found, "watcher_outbox_oldest_pending_age_seconds") == 0

    # A failing store: the last snapshot is served, counted, and not asked again at once.
    answer.append(ConnectionError("database down"))
    tick.now += 10
    await metrics.refresh(db)
    await metrics.refresh(db)
    assert len(reads) == 3
    found = samples(metrics)
    assert at(found, "watcher_metrics_store_errors_total") == 1
    assert at(found, "watcher_findings", risk="high", status="resolved") == 2


async def test_a_slow_store_is_given_up_on_without_holding_the_scrape(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def never(session: object) -> StoreGauges:
        await asyncio.sleep(3600)
        raise AssertionError("not reached")

    monkeypatch.setattr(metrics_module, "store_gauges", never)
    metrics = Metrics(timeout=0.05)
    db: Any = NoDatabase()
    await asyncio.wait_for(metrics.refresh(db), timeout=5)
    found = samples(metrics)
    assert at(found, "watcher_metrics_store_errors_total") == 1
    assert at(found, "watcher_findings", risk="high", status="open") is None  # never read


async def test_findings_and_waiting_alerts_are_counted_from_the_store(db: Database) -> None:
    async with db.transaction() as session:
        for public, risk in [("acme-billing", "critical"), ("acme-tools", None)]:
            await findings.add_finding(
                session,
                public_name=public,
                internal_name="acme",
                kind="prefix",
                detail="under acme-*",
                now=T,
                risk=RiskRecord.of(risk, "seeded", None) if risk else None,
            )
        for key, age in [("old-held", 500), ("new:a", 100), ("new:b", 40)]:
            await outbox.enqueue_alert(
                session,
                event_key=key,
                public_name="acme-tools",
                payload={"event": "new"},
                now=T - timedelta(seconds=age),
            )
        queued = await outbox.unplanned_alerts(session, None)
        [held] = [a.id for a in queued if a.event_key == "old-held"]
        await outbox.route_alerts(session, [held], outbox.DAILY)  # waits on purpose
    metrics = Metrics(clock=lambda: T.timestamp())
    await metrics.refresh(db)
    found = samples(metrics)
    assert at(found, "watcher_findings", risk="critical", status="open") == 1
    assert at(found, "watcher_findings", risk="unassessed", status="open") == 1
    assert at(found, "watcher_findings", risk="low", status="resolved") == 0
    assert at(found, "watcher_outbox_alerts", status="pending") == 3
    # The held one is older, but it waits for the daily digest on purpose.
    assert at(found, "watcher_outbox_oldest_pending_age_seconds") == 100
    assert at(found, "watcher_store_snapshot_timestamp_seconds") == T.timestamp()
