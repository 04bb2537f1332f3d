"""open_index_client: the index's own HTTP session, configured from ``settings.index``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp
import pytest

from tests.fakes.pypi import FakeIndex
from tests.unit.pypi.pypi_helpers import USER_AGENT, paths
from watcher.config import IndexSettings
from watcher.errors import IndexUnavailable, ResponseTooLarge
from watcher.pypi import FeedKind, open_index_client

MakeSettings = Callable[..., IndexSettings]


async def test_requests_carry_the_user_agent_and_the_session_is_closed_on_exit(
    fake_index: FakeIndex,
    make_index_settings: MakeSettings,
    opened_sessions: list[aiohttp.ClientSession],
) -> None:
    fake_index.add_release("acme-utils", "1.0")
    settings = make_index_settings(http_timeout=7.0)

    async with open_index_client(settings) as client:
        assert client.base_url == fake_index.base_url
        assert await client.exists("acme-utils") is True
        [session] = opened_sessions
        assert not session.closed
        assert session.timeout == aiohttp.ClientTimeout(total=7.0, connect=10)

    assert session.closed
    [request] = fake_index.requests
    assert request.headers["User-Agent"] == USER_AGENT


async def test_the_session_is_closed_when_the_block_raises(
    make_index_settings: MakeSettings, opened_sessions: list[aiohttp.ClientSession]
) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with open_index_client(make_index_settings()):
            raise RuntimeError("boom")

    [session] = opened_sessions
    assert session.closed


async def test_a_slow_index_times_out_into_index_unavailable_after_the_retries(
    fake_index: FakeIndex, make_index_settings: MakeSettings
) -> None:
    fake_index.delay = 5.0  # every answer takes longer than the timeout
    settings = make_index_settings(http_timeout=0.2, http_retries=1)
    loop = asyncio.get_running_loop()
    started = loop.time()

    async with open_index_client(settings) as client:
        with pytest.raises(IndexUnavailable, match=r"TimeoutError.*\(after 2 attempts\)"):
            await client.exists("acme-utils")

    assert loop.time() - started < 4.0  # two 0.2 s attempts and one backoff, not 5 s waits
    assert paths(fake_index, "/simple/") == ["/simple/acme-utils/"] * 2


async def test_retries_come_from_the_settings(
    fake_index: FakeIndex, make_index_settings: MakeSettings
) -> None:
    fake_index.fail("/simple/", 503, times=None)

    async with open_index_client(make_index_settings(http_retries=0)) as client:
        with pytest.raises(IndexUnavailable, match=r"HTTP 503 \(after 1 attempts\)"):
            await client.exists("acme-utils")

    assert len(paths(fake_index, "/simple/")) == 1


async def test_caps_come_from_the_settings(
    fake_index: FakeIndex, make_index_settings: MakeSettings
) -> None:
    fake_index.add_release("acme-utils", "1.0")
    settings = make_index_settings(max_feed_bytes=64, max_json_bytes=64)

    async with open_index_client(settings) as client:
        with pytest.raises(ResponseTooLarge, match="exceeds 64 bytes"):
            await client.fetch_feed(FeedKind.UPDATES)
        with pytest.raises(ResponseTooLarge, match="exceeds 64 bytes"):
            await client.project("acme-utils")
