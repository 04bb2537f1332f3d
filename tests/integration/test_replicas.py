"""Two replicas on one PostgreSQL, as real processes: one leads (polls, dispatches), the
other serves; the leader killed with SIGKILL, the other leads within 15 s and every squat
published meanwhile is alerted exactly once."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import SettingsFactory
from tests.fakes.pypi import FakeIndex
from tests.fakes.slack import FakeSlack
from tests.support import closed_port, daemon, until
from watcher.store import Database

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

# Sources whose runs only the leader makes (the names job runs on every replica).
_LEADER_SOURCES = ("feeds", "dispatch")


async def _metrics(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
    """The replica's /metrics as {(sample name, labels): value}; None while it is not up."""
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session,
            session.get(f"http://127.0.0.1:{port}/metrics") as response,
        ):
            if response.status != 200:
                return None
            body = await response.text()
    except (aiohttp.ClientError, TimeoutError):
        return None
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


async def _leader(port: int) -> float | None:
    values = await _metrics(port)
    return None if values is None else values.get(("watcher_leader", ()))


async def _runs(port: int, source: str) -> float:
    values = await _metrics(port) or {}
    key = ("watcher_source_run_duration_seconds_count", (("source", source),))
    return values.get(key, 0.0)


def _alerted(fake_slack: FakeSlack) -> Counter[str]:
    """Top-level alert messages by the squat they name."""
    names: Counter[str] = Counter()
    for message in fake_slack.top_level():
        for name in ("acme-before", "acme-during-1", "acme-during-2", "acme-after"):
            if f"{name} 1.0" in message["text"]:
                names[name] += 1
    return names


# Replicas share a PostgreSQL database (on SQLite there is one process): PostgreSQL alone.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_one_leader_and_a_takeover_within_15_s_alerting_each_squat_once(
    make_settings: SettingsFactory,
    fake_index: FakeIndex,
    fake_slack: FakeSlack,
    db: Database,
    tmp_path: Path,
) -> None:
    ports = closed_port(), closed_port()
    first_settings = make_settings(http_port=ports[0])
    second_settings = make_settings(http_port=ports[1])
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"

    async def leads(port: int, value: float) -> bool:
        return await _leader(port) == value

    async with daemon(first_settings, first_log) as first:
        await until(lambda: leads(ports[0], 1.0), 20, "the first replica to lead", first_log)
        async with daemon(second_settings, second_log):
            await until(lambda: leads(ports[1], 0.0), 20, "the second replica up", second_log)
            fake_index.add_release("acme-before", "1.0")
            await until(lambda: _has(fake_slack, "acme-before"), 20, "the first alert")
            # Only the leader polled and dispatched; both serve.
            for source in _LEADER_SOURCES:
                assert await _runs(ports[0], source) > 0, source
                assert await _runs(ports[1], source) == 0, source
            assert await _leader(ports[1]) == 0.0

            await first.kill()
            killed = time.monotonic()
            fake_index.add_release("acme-during-1", "1.0")
            fake_index.add_release("acme-during-2", "1.0")
            await until(lambda: leads(ports[1], 1.0), 20, "the second to lead", second_log)
            takeover = time.monotonic() - killed
            assert takeover <= 15, f"the second replica led {takeover:.1f} s after the kill"
            fake_index.add_release("acme-after", "1.0")
            for name in ("acme-during-1", "acme-during-2", "acme-after"):
                await until(_alert_of(fake_slack, name), 20, f"the alert of {name}")
            await asyncio.sleep(2.0)  # time for a duplicate to show, if there were one
            for source in _LEADER_SOURCES:
                assert await _runs(ports[1], source) > 0, source
    counts = _alerted(fake_slack)
    assert counts == {"acme-before": 1, "acme-during-1": 1, "acme-during-2": 1, "acme-after": 1}
    print(f"takeover after SIGKILL: {takeover:.1f} s")


async def _has(fake_slack: FakeSlack, name: str) -> bool:
    return _alerted(fake_slack)[name] > 0


def _alert_of(fake_slack: FakeSlack, name: str) -> Callable[[], Awaitable[bool]]:
    return lambda: _has(fake_slack, name)
