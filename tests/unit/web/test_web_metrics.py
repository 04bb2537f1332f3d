"""``GET /metrics``: open like ``/healthz`` while ``/v1/`` needs the token, the Prometheus
text format (or OpenMetrics when asked for), the store's counts included."""

from __future__ import annotations

from datetime import UTC, datetime
from unittest.mock import Mock

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from tests.unit.web.test_web_api import TOKEN, sqlite_db
from watcher.metrics import Metrics
from watcher.store import Database, findings
from watcher.store.findings import RiskRecord
from watcher.web import create_app

__all__ = ["sqlite_db"]

T = datetime(2026, 11, 25, tzinfo=UTC)


@pytest.mark.parametrize("given", [True, False])
async def test_metrics_answer_without_the_token_and_parse(sqlite_db: Database, given: bool) -> None:
    async with sqlite_db.transaction() as session:
        await findings.add_finding(
            session,
            public_name="payments-core",
            internal_name="payments-core",
            kind="exact",
            detail="same name",
            now=T,
            risk=RiskRecord.of("critical", "seeded", None),
        )
    metrics = Metrics() if given else None
    if metrics is not None:
        metrics.set_leader(True)
    app = create_app(Mock(), sqlite_db, TOKEN, metrics=metrics)
    async with TestClient(TestServer(app)) as client:
        async with client.get("/v1/status") as resp:
            assert resp.status == 401  # the token still guards /v1/
        async with client.get("/metrics") as resp:
            assert resp.status == 200
            assert resp.content_type == "text/plain"
            text = await resp.text()
        async with client.get(
            "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
        ) as resp:
            assert resp.status == 200
            assert resp.content_type == "application/openmetrics-text"
            assert (await resp.text()).endswith("# EOF\n")
    found = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    leader = found[("watcher_leader", frozenset())]
    assert leader == (1 if given else 0)
    critical_open = frozenset({("risk", "critical"), ("status", "open")})
    assert found[("watcher_findings", critical_open)] == 1
    assert "payments" not in text  # a finding's names never show
