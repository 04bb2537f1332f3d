"""``deploy/prometheus-alerts.yaml``: a Prometheus rules file whose every expression names
only metrics the service exposes (a renamed metric must not leave a rule that never fires).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.unit.test_metrics import SCHEDULE, NoDatabase
from watcher import metrics as metrics_module
from watcher.health import JOB_IDS, HealthBook
from watcher.metrics import DeliveryResult, Destination, Metrics
from watcher.store.gauges import StoreGauges

# PyYAML comes with the test extra (schemathesis needs it), its type stubs do not.
yaml = importlib.import_module("yaml")

RULES = Path(__file__).parents[2] / "deploy" / "prometheus-alerts.yaml"
T = datetime(2026, 11, 25, tzinfo=UTC)

# PromQL words that are not metric names (outside function calls and label matchers).
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring"}
_KEYWORDS |= {"group_left", "group_right", "inf", "nan"}
_DURATION = re.compile(r"^\d+[smhdwy]$")


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects: identifiers that are not a function or
    aggregation (followed by ``(``), a keyword, a label (inside ``{}`` or a ``by (...)``
    clause) or a string."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    clause = r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)"
    expr = re.sub(clause, "", expr)
    found = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        if expr[match.end() :].lstrip().startswith("("):
            continue
        if match.group().lower() not in _KEYWORDS:
            found.add(match.group())
    return found


def rules() -> Iterator[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    for group in document["groups"]:
        assert group["name"]
        yield from group["rules"]


async def exposed_names(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Every sample name a service's ``/metrics`` can show, each metric moved once."""

    async def gauges(session: object) -> StoreGauges:
        return StoreGauges({("high", "open"): 1}, {"pending": 1}, T)

    monkeypatch.setattr(metrics_module, "store_gauges", gauges)
    metrics = Metrics(SCHEDULE)
    book = HealthBook(JOB_IDS, clock=lambda: T, monotonic=lambda: 0.0, observer=metrics)
    for job_id in JOB_IDS:
        book.started(job_id)
        book.succeeded(job_id)
        book.failed(job_id, "down", quiet=True)
    metrics.set_leader(True)
    metrics.events_processed(["index"])
    metrics.events_failed(["index"])
    metrics.matches_recorded(["exact"], new=["exact"])
    metrics.delivery(Destination.SLACK, DeliveryResult.FAILED)
    metrics.watch_catalog(lambda: {"file": 1})
    db: Any = NoDatabase()
    await metrics.refresh(db)
    body, _ = metrics.render()
    return {s.name for f in text_string_to_metric_families(body.decode()) for s in f.samples}


def test_metric_names_are_found_in_expressions() -> None:
    expr = (
        'time() - max by (source) (a_seconds{source="feeds"}) > 5 * on(source) b'
        " unless rate(c_total[5m]) > 0 or absent(d) and sum without (x) (e) bool < 1"
    )
    assert metric_names(expr) == {"a_seconds", "b", "c_total", "d", "e"}


async def test_every_rule_names_only_metrics_the_service_exposes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exposed = await exposed_names(monkeypatch)
    alerts = []
    for rule in rules():
        alerts.append(rule["alert"])
        names = metric_names(rule["expr"])
        assert names, rule["alert"]
        assert names <= exposed, (rule["alert"], names - exposed)
        assert _DURATION.match(rule["for"]), rule["alert"]
        assert rule["annotations"]["summary"]
    assert len(alerts) == len(set(alerts))
    # What issue 15 asks for: a source not succeeding, the oldest alert, the leader.
    assert {"WatcherSourceNoSuccess", "WatcherOldestAlertTooOld", "WatcherNoLeader"} <= set(alerts)
    assert any("watcher_leader" in r["expr"] and "> 1" in r["expr"] for r in rules())


def test_a_misspelt_metric_would_be_caught() -> None:
    assert metric_names("max(watcher_outbox_oldest_age_seconds) > 1800") == {
        "watcher_outbox_oldest_age_seconds"
    }
