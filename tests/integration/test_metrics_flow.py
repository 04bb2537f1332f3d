"""``GET /metrics`` of a running service: it parses, and its counters move as events flow.

The daemon runs in-process against the fake index and the fake Slack (as in
``test_watch_cycle.py``); ``/metrics`` is scraped over HTTP, as Prometheus would, without
the API token.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from tests.conftest import SettingsFactory, running
from tests.fakes.pypi import FakeIndex
from tests.fakes.slack import FakeSlack
from tests.fakes.webhook import SECRET, FakeWebhook
from tests.support import prefix_alert, until
from watcher import __version__
from watcher.alerts.webhook import WebhookSender
from watcher.alerts.webhook_dispatcher import WebhookDispatcher
from watcher.app import Service
from watcher.metrics import Metrics
from watcher.store import Database, outbox
from watcher.store.models import Finding

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(service: Service) -> Samples:
    """Every sample of ``/metrics``, by name and labels (the text parser's reading)."""
    url = f"http://127.0.0.1:{service.port}/metrics"
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        assert resp.status == 200
        assert resp.content_type == "text/plain"
        text = await resp.text()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value (0 when the series is not there)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


async def wait_for(service: Service, what: str, holds: Callable[[Samples], bool]) -> Samples:
    """Scrape until ``holds`` is true of the samples; return them."""
    seen: list[Samples] = []

    async def scraped() -> bool:
        seen.append(await scrape(service))
        return holds(seen[-1])

    await until(scraped, 15, what)
    return seen[-1]


async def test_counters_move_as_a_squat_flows_through(
    make_settings: SettingsFactory, fake_index: FakeIndex, fake_slack: FakeSlack, db: Database
) -> None:
    settings = make_settings(poll_interval=0.5, api_token="metrics-test-token")
    fake_index.add_release("unrelated-thing", "1.0")
    async with running(settings) as service:
        service.metrics.refresh_every = 0.0  # the store read at every scrape, for the test
        before = await wait_for(
            service,
            "a first good poll",
            lambda s: value(s, "watcher_source_last_success_timestamp_seconds", source="feeds") > 0,
        )
        assert value(before, "watcher_build_info", version=__version__) == 1
        assert value(before, "watcher_leader") == 1
        assert value(before, "watcher_source_interval_seconds", source="feeds") == 0.5
        assert value(before, "watcher_source_run_duration_seconds_count", source="feeds") >= 1
        last_poll = value(before, "watcher_source_last_success_timestamp_seconds", source="feeds")
        assert time.time() - 60 < last_poll <= time.time()
        assert value(before, "watcher_catalog_names", source="file") > 0

        # Slack down: the squat's alert waits in the outbox, its attempts fail.
        fake_slack.fail(500, times=None)
        fake_index.add_release("payments.core", "99.0")
        failing = await wait_for(
            service,
            "a failed delivery",
            lambda s: (
                value(s, "watcher_deliveries_total", destination="slack", result="failed") > 0
                and value(s, "watcher_outbox_alerts", status="pending") >= 1
                # The dispatch run that failed has ended.
                and value(s, "watcher_source_consecutive_failures", source="dispatch") >= 1
            ),
        )
        processed = [
            value(failing, "watcher_events_processed_total", source=feed)
            - value(before, "watcher_events_processed_total", source=feed)
            for feed in ("feed:updates", "feed:packages")
        ]
        assert min(processed) >= 0
        assert sum(processed) >= 1
        exact = ("watcher_matches_total", "exact")
        assert value(failing, exact[0], kind=exact[1]) > value(before, exact[0], kind=exact[1])
        assert value(failing, "watcher_new_findings_total", kind="exact") == 1
        async with db.transaction() as session:
            [finding] = (
                await session.scalars(select(Finding).where(Finding.public_name == "payments-core"))
            ).all()
        assert finding.risk is not None
        shown = value(failing, "watcher_findings", risk=finding.risk, status=finding.status)
        assert shown == 1
        assert value(failing, "watcher_outbox_oldest_pending_age_seconds") > 0
        assert value(failing, "watcher_source_failures_total", source="dispatch") >= 1

        # Slack back: the alert is delivered, the queue empties.
        fake_slack.clear_failures()
        await fake_slack.wait_for_messages(1, timeout=15)
        after = await wait_for(
            service,
            "the delivery counted and the outbox empty",
            lambda s: (
                value(s, "watcher_deliveries_total", destination="slack", result="delivered") >= 1
                and value(s, "watcher_outbox_alerts", status="pending") == 0
                and value(s, "watcher_outbox_alerts", status="sending") == 0
                # The dispatch run that delivered it has ended (a success ends the streak).
                and value(s, "watcher_source_consecutive_failures", source="dispatch") == 0
            ),
        )
        assert value(after, "watcher_outbox_oldest_pending_age_seconds") == 0
        assert value(after, "watcher_source_last_success_timestamp_seconds", source="dispatch") > 0
        assert value(after, "watcher_source_last_success_timestamp_seconds", source="feeds") > (
            last_poll
        )
    # No package's text in any label: the squat's name is nowhere in the labels.
    labels = {v for _, pairs in after for _, v in pairs}
    assert not any("payments" in label for label in labels)


async def test_webhook_deliveries_are_counted_by_result(
    db: Database, http: aiohttp.ClientSession
) -> None:
    now = [datetime(2026, 11, 25, tzinfo=UTC)]
    metrics = Metrics()
    async with FakeWebhook() as receiver:
        sender = WebhookSender(http, receiver.url, SECRET)
        webhook = WebhookDispatcher(db, sender, clock=lambda: now[0], metrics=metrics)
        await webhook.enable()
        async with db.transaction() as session:
            message = prefix_alert()
            await outbox.enqueue_alert(
                session,
                event_key="new:acme-tools",
                public_name=message.public_name,
                payload=message.to_payload(),
                now=now[0],
            )
        receiver.fail(500)
        await webhook.dispatch()
        now[0] += timedelta(minutes=10)  # past the pause
        await webhook.dispatch()
    found = metrics.registry.get_sample_value
    assert found("watcher_deliveries_total", {"destination": "webhook", "result": "failed"}) == 1
    labels = {"destination": "webhook", "result": "delivered"}
    assert found("watcher_deliveries_total", labels) == 1
    assert len(receiver.bodies()) == 1
