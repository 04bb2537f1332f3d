"""The HTTP API cannot starve the watcher: name look-ups go through their own connections,
at most WATCHER_API_INDEX_CONCURRENCY at once; the rest wait briefly and get 503 with
Retry-After. Concurrent look-ups of one name share one request; answers are reused briefly.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.conftest import SettingsFactory, running
from tests.fakes.pypi import FakeIndex
from tests.support import until
from watcher.app import Service

NAME_PAGES = "/simple/{name}/"
CONCURRENCY = 4
CLIENTS = 200


@pytest.fixture
async def crowd() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session with no connection limit: every request really is in flight."""
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        yield session


async def started(service: Service, caplog: pytest.LogCaptureFixture) -> None:
    """Wait until the first poll (which asks the index for each catalog entry) is over."""

    async def idle() -> bool:
        said = any("feeds: first poll" in r.getMessage() for r in caplog.records)
        return said and all(h.state == "ok" for h in service.sources().values())

    await until(idle, 10, "the first poll")


def upstream(fake_index: FakeIndex, prefix: str) -> int:
    return sum(1 for r in fake_index.requests if r.path.startswith(prefix))


async def test_a_crowd_of_api_clients_on_a_slow_index_does_not_delay_the_feed_poll(
    make_settings: SettingsFactory,
    fake_index: FakeIndex,
    crowd: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="watcher")
    settings = make_settings(
        api_index_concurrency=CONCURRENCY,
        poll_interval=3600,
        reconcile_interval=3600,
        http_timeout=10.0,
    )
    async with running(settings) as service:
        await started(service, caplog)
        fake_index.slow_route(NAME_PAGES, 3.0)  # name look-ups are slow, the feeds are not
        base = f"http://127.0.0.1:{service.port}/v1/names"

        async def ask(i: int) -> tuple[int, str | None]:
            async with crowd.get(f"{base}/crowd-{i}") as resp:
                await resp.read()
                return resp.status, resp.headers.get("Retry-After")

        asked = [asyncio.create_task(ask(i)) for i in range(CLIENTS)]
        await asyncio.sleep(0.5)  # every client is waiting on the slow index now
        assert service.jobs is not None
        begun = time.monotonic()
        reports = await service.jobs.feeds.poll()
        took = time.monotonic() - begun
        answers = await asyncio.gather(*asked)

    assert not reports.errors
    assert took < 1.0, f"the feed poll took {took:.1f} s behind the API's look-ups"
    ok = [a for a in answers if a[0] == 200]
    shed = [a for a in answers if a[0] == 503]
    # The ones admitted; the others could not start in time. On a loaded machine the crowd
    # arrives spread over a few seconds, and a late client may take a slot the first ones
    # freed: a few rounds of CONCURRENCY, never the crowd (uncapped, all 200 would be 200).
    assert CONCURRENCY <= len(ok) <= 3 * CONCURRENCY
    assert len(ok) + len(shed) == CLIENTS
    assert all(retry_after is not None and int(retry_after) >= 1 for _, retry_after in shed)
    assert upstream(fake_index, "/simple/crowd-") == len(ok)  # none asked for a shed client


async def test_concurrent_look_ups_of_one_name_share_one_request_and_are_cached(
    make_settings: SettingsFactory,
    fake_index: FakeIndex,
    crowd: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="watcher")
    settings = make_settings(
        api_index_concurrency=CONCURRENCY, poll_interval=3600, reconcile_interval=3600
    )
    async with running(settings) as service:
        await started(service, caplog)

        async def reconciled() -> bool:
            return service.sources()["reconcile"].last_success is not None

        await until(reconciled, 10, "the first reconcile")
        # Published after the service's first poll and reconcile: the store does not know
        # it (the next look is an hour away), so the API asks the index.
        fake_index.add_release("popular-name", "1.0")
        fake_index.slow_route(NAME_PAGES, 0.5)
        url = f"http://127.0.0.1:{service.port}/v1/names/Popular_Name"

        async def ask() -> bool:
            async with crowd.get(url) as resp:
                assert resp.status == 200
                return bool((await resp.json())["public_exists"])

        answers = await asyncio.gather(*(ask() for _ in range(50)))
        assert all(answers)
        assert upstream(fake_index, "/simple/popular-name/") == 1
        assert await ask()  # answered again from the short-lived cache
        assert upstream(fake_index, "/simple/popular-name/") == 1
