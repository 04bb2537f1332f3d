"""IndexClient.fetch_feed against the fake index: ETags, retries, timeouts, size caps."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from tests.fakes.pypi import FakeIndex, billion_laughs_feed
from tests.unit.pypi.pypi_helpers import USER_AGENT, MakeClient, MiB, paths
from watcher.errors import BadResponse, FeedError, IndexUnavailable, ResponseTooLarge
from watcher.pypi import FeedKind, IndexClient

UPDATES = "/rss/updates.xml"
PACKAGES = "/rss/packages.xml"


async def test_fetch_updates_feed(fake_index: FakeIndex, client: IndexClient) -> None:
    fake_index.add_release("Acme.Utils", "1.2.3")
    fake_index.add_release("foo", "0.1")

    page = await client.fetch_feed(FeedKind.UPDATES)

    assert page is not None
    assert page.kind is FeedKind.UPDATES
    assert [i.key for i in page.items] == ["foo==0.1", "acme-utils==1.2.3"]
    assert page.items[1].name == "Acme.Utils"
    assert page.etag is not None
    assert page.etag.startswith('"')
    (request,) = fake_index.requests
    assert (request.method, request.path) == ("GET", UPDATES)
    assert request.headers["User-Agent"] == USER_AGENT
    assert "If-None-Match" not in request.headers


async def test_fetch_packages_feed(fake_index: FakeIndex, client: IndexClient) -> None:
    fake_index.add_release("Acme.Utils", "1.0")
    fake_index.add_release("Acme.Utils", "1.1")
    fake_index.add_release("Other_Pkg", "0.1")

    page = await client.fetch_feed(FeedKind.PACKAGES)

    assert page is not None
    assert page.kind is FeedKind.PACKAGES
    assert [(i.name, i.key, i.version) for i in page.items] == [
        ("Other_Pkg", "other-pkg", None),
        ("Acme.Utils", "acme-utils", None),
    ]
    assert paths(fake_index) == [PACKAGES]


async def test_base_url_with_trailing_slash(fake_index: FakeIndex, make_client: MakeClient) -> None:
    client = make_client(base_url=fake_index.base_url + "/")
    assert client.base_url == fake_index.base_url
    assert await client.fetch_feed(FeedKind.UPDATES) is not None
    assert paths(fake_index) == [UPDATES]


async def test_etag_round_trip(fake_index: FakeIndex, client: IndexClient) -> None:
    fake_index.add_release("foo", "1.0")
    first = await client.fetch_feed(FeedKind.UPDATES)
    assert first is not None
    assert first.etag is not None

    unchanged = await client.fetch_feed(FeedKind.UPDATES, first.etag)

    assert unchanged is None
    assert fake_index.requests[-1].headers["If-None-Match"] == first.etag

    fake_index.add_release("foo", "1.1")
    changed = await client.fetch_feed(FeedKind.UPDATES, first.etag)

    assert changed is not None
    assert fake_index.requests[-1].headers["If-None-Match"] == first.etag
    assert changed.etag is not None
    assert changed.etag != first.etag
    assert [i.key for i in changed.items] == ["foo==1.1", "foo==1.0"]
    assert paths(fake_index) == [UPDATES] * 3


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
async def test_transient_errors_are_retried(
    fake_index: FakeIndex, make_client: MakeClient, status: int
) -> None:
    fake_index.add_release("foo", "1.0")
    fake_index.fail(UPDATES, status, times=2)
    client = make_client(retries=2)

    page = await client.fetch_feed(FeedKind.UPDATES)

    assert page is not None
    assert [i.key for i in page.items] == ["foo==1.0"]
    assert paths(fake_index) == [UPDATES] * 3


@pytest.mark.parametrize("retries", [0, 3])
async def test_persistent_5xx_is_index_unavailable(
    fake_index: FakeIndex, make_client: MakeClient, retries: int
) -> None:
    fake_index.fail("/rss/", 503, times=None)
    client = make_client(retries=retries)

    with pytest.raises(IndexUnavailable) as info:
        await client.fetch_feed(FeedKind.UPDATES)

    assert paths(fake_index) == [UPDATES] * (retries + 1)
    assert info.value.url == fake_index.base_url + UPDATES
    assert info.value.reason == f"HTTP 503 (after {retries + 1} attempts)"


async def test_persistent_429_is_index_unavailable(
    fake_index: FakeIndex, make_client: MakeClient
) -> None:
    fake_index.fail(UPDATES, 429, times=None)
    with pytest.raises(IndexUnavailable, match="HTTP 429"):
        await make_client(retries=1).fetch_feed(FeedKind.UPDATES)
    assert paths(fake_index) == [UPDATES] * 2


@pytest.mark.parametrize("status", [400, 403, 404, 410])
async def test_other_statuses_are_bad_responses_not_retried(
    fake_index: FakeIndex, client: IndexClient, status: int
) -> None:
    fake_index.fail(UPDATES, status, times=None)
    with pytest.raises(BadResponse) as info:
        await client.fetch_feed(FeedKind.UPDATES)
    assert info.value.reason == f"HTTP {status}"
    assert paths(fake_index) == [UPDATES]


async def test_connection_refused_is_index_unavailable(
    make_client: MakeClient, closed_port_url: str
) -> None:
    client = make_client(base_url=closed_port_url, retries=1)
    started = time.monotonic()

    with pytest.raises(IndexUnavailable) as info:
        await client.fetch_feed(FeedKind.UPDATES)

    assert time.monotonic() - started < 3.0
    assert info.value.url == closed_port_url + UPDATES
    assert info.value.reason.startswith("ClientConnectorError")
    assert info.value.reason.endswith("(after 2 attempts)")


async def test_timeout_is_index_unavailable(fake_index: FakeIndex, make_client: MakeClient) -> None:
    fake_index.add_release("foo", "1.0")
    fake_index.delay = 5.0
    client = make_client(retries=1, timeout=0.2)
    started = time.monotonic()

    with pytest.raises(IndexUnavailable) as info:
        await client.fetch_feed(FeedKind.UPDATES)

    assert time.monotonic() - started < 2.0
    assert "Timeout" in info.value.reason
    assert info.value.reason.endswith("(after 2 attempts)")
    assert paths(fake_index) == [UPDATES] * 2


async def test_slow_but_in_time_answer_is_fine(
    fake_index: FakeIndex, make_client: MakeClient
) -> None:
    fake_index.add_release("foo", "1.0")
    fake_index.delay = 0.1
    page = await make_client(retries=0, timeout=2.0).fetch_feed(FeedKind.UPDATES)
    assert page is not None
    assert [i.key for i in page.items] == ["foo==1.0"]


async def test_declared_length_over_cap_is_refused_unread(
    fake_index: FakeIndex, make_client: MakeClient
) -> None:
    fake_index.set_huge_body(UPDATES, 20 * MiB, declare_length=True)
    client = make_client(max_feed_bytes=10 * MiB)
    tracemalloc.start()
    try:
        with pytest.raises(ResponseTooLarge) as info:
            await client.fetch_feed(FeedKind.UPDATES)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # Content-Length says too much: refused before reading, not after buffering 10 MiB.
    assert peak < 4 * MiB
    assert info.value.limit == 10 * MiB
    assert info.value.url == fake_index.base_url + UPDATES
    assert paths(fake_index) == [UPDATES]  # a cap is not retried


async def test_streamed_body_over_cap_fails_fast_without_buffering_it(
    fake_index: FakeIndex, make_client: MakeClient
) -> None:
    fake_index.set_huge_body(UPDATES, 50 * MiB)  # chunked, no Content-Length
    client = make_client(max_feed_bytes=5 * MiB)
    started = time.monotonic()
    tracemalloc.start()
    try:
        with pytest.raises(ResponseTooLarge) as info:
            await client.fetch_feed(FeedKind.UPDATES)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert time.monotonic() - started < 5.0
    # The cap holds ~5 MiB of chunks; reading the whole body would take over 50 MiB.
    assert peak < 20 * MiB
    assert info.value.limit == 5 * MiB
    assert paths(fake_index) == [UPDATES]


@pytest.mark.parametrize("declare_length", [True, False])
async def test_endless_body_is_cut_at_the_cap(
    fake_index: FakeIndex, make_client: MakeClient, declare_length: bool
) -> None:
    # 10 GiB would time the test out if the client read to the end before checking.
    fake_index.set_huge_body(UPDATES, 10 * 1024 * MiB, declare_length=declare_length)
    started = time.monotonic()
    with pytest.raises(ResponseTooLarge):
        await make_client(max_feed_bytes=MiB).fetch_feed(FeedKind.UPDATES)
    assert time.monotonic() - started < 5.0


async def test_body_exactly_at_cap_is_accepted(
    fake_index: FakeIndex, make_client: MakeClient
) -> None:
    fake_index.add_release("foo", "1.0")
    body = fake_index.render_updates_feed()
    fake_index.set_body(UPDATES, body)

    page = await make_client(max_feed_bytes=len(body)).fetch_feed(FeedKind.UPDATES)
    assert page is not None
    assert [i.key for i in page.items] == ["foo==1.0"]

    with pytest.raises(ResponseTooLarge):
        await make_client(max_feed_bytes=len(body) - 1).fetch_feed(FeedKind.UPDATES)


async def test_hostile_feed_body_is_a_feed_error_not_retried(
    fake_index: FakeIndex, client: IndexClient
) -> None:
    fake_index.set_body(PACKAGES, billion_laughs_feed())
    with pytest.raises(FeedError) as info:
        await client.fetch_feed(FeedKind.PACKAGES)
    assert info.value.url == fake_index.base_url + PACKAGES
    assert paths(fake_index) == [PACKAGES]


# -- Retry-After --------------------------------------------------------------
# The fake's failure knob sends no Retry-After header, so these tests run a tiny real
# server of their own that does.

FEED = (
    b'<?xml version="1.0"?><rss version="2.0"><channel>'
    b"<item><title>foo 1.0</title></item></channel></rss>"
)


@pytest.fixture
async def retry_after_server() -> AsyncIterator[tuple[str, list[float], list[str]]]:
    """Answers 429 with the queued Retry-After values, then the feed; records arrival times."""
    arrivals: list[float] = []
    retry_after: list[str] = []

    async def updates(request: web.Request) -> web.Response:
        arrivals.append(time.monotonic())
        if retry_after:
            return web.Response(status=429, headers={"Retry-After": retry_after.pop(0)})
        return web.Response(body=FEED, content_type="text/xml")

    app = web.Application()
    app.router.add_get(UPDATES, updates)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = int(runner.addresses[0][1])
    try:
        yield f"http://127.0.0.1:{port}", arrivals, retry_after
    finally:
        await runner.cleanup()


async def test_retry_after_is_honoured(
    make_client: MakeClient, retry_after_server: tuple[str, list[float], list[str]]
) -> None:
    base_url, arrivals, retry_after = retry_after_server
    retry_after.append("0.5")  # backoff alone would wait ~0.01 s

    page = await make_client(base_url=base_url, retries=1).fetch_feed(FeedKind.UPDATES)

    assert page is not None
    assert [i.key for i in page.items] == ["foo==1.0"]
    assert len(arrivals) == 2
    assert arrivals[1] - arrivals[0] >= 0.5


async def test_unparsable_retry_after_falls_back_to_backoff(
    make_client: MakeClient, retry_after_server: tuple[str, list[float], list[str]]
) -> None:
    base_url, arrivals, retry_after = retry_after_server
    retry_after.append("Wed, 21 Oct 2015 07:28:00 GMT")

    page = await make_client(base_url=base_url, retries=1).fetch_feed(FeedKind.UPDATES)

    assert page is not None
    assert len(arrivals) == 2
    assert arrivals[1] - arrivals[0] < 1.0


@pytest.mark.parametrize("value", ["nan", "-5", "0"])
async def test_hostile_retry_after_neither_hangs_nor_crashes(
    make_client: MakeClient, retry_after_server: tuple[str, list[float], list[str]], value: str
) -> None:
    base_url, arrivals, retry_after = retry_after_server
    retry_after.append(value)

    page = await make_client(base_url=base_url, retries=1).fetch_feed(FeedKind.UPDATES)

    assert page is not None
    assert len(arrivals) == 2
    assert arrivals[1] - arrivals[0] < 1.0
