"""The simulated index as a server of its own: binding, base URL and start-up errors.

Its formats are checked through the test suite's fake index (tests/unit/fakes), which
is this same class.
"""

from __future__ import annotations

import time

import aiohttp
import pytest

from watcher.pypi import FeedKind
from watcher.pypi.feeds import parse_feed
from watcher.simulator import SimulatedIndex


async def test_start_binds_a_chosen_port() -> None:
    async with SimulatedIndex() as first:
        port = int(first.base_url.rsplit(":", 1)[1])
    index = SimulatedIndex()
    await index.start(host="127.0.0.1", port=port)
    try:
        assert index.base_url == f"http://127.0.0.1:{port}"
        index.add_release("acme", "1.0")
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{index.base_url}/pypi/acme/json") as response,
        ):
            document = await response.json()
        assert document["urls"][0]["url"].startswith(f"http://127.0.0.1:{port}/files/")
    finally:
        await index.close()


async def test_taken_port_raises_and_leaves_the_index_startable() -> None:
    async with SimulatedIndex() as first:
        port = int(first.base_url.rsplit(":", 1)[1])
        second = SimulatedIndex()
        with pytest.raises(OSError, match="address already in use"):
            await second.start(port=port)
        with pytest.raises(RuntimeError, match="not started"):
            _ = second.base_url
        await second.start()
        try:
            assert second.base_url != first.base_url
        finally:
            await second.close()


async def test_start_twice_and_base_url_before_start() -> None:
    index = SimulatedIndex()
    with pytest.raises(RuntimeError, match="not started"):
        _ = index.base_url
    async with index:
        with pytest.raises(RuntimeError, match="already started"):
            await index.start()
    with pytest.raises(RuntimeError, match="not started"):
        _ = index.base_url


def test_renders_before_start() -> None:
    index = SimulatedIndex()
    index.add_release("acme", "1.0")
    assert b"http://127.0.0.1/project/acme/1.0/" in index.render_updates_feed()
    assert b"acme added to PyPI" in index.render_packages_feed()


def test_a_release_of_thousands_of_digits_is_served_not_a_crash() -> None:
    # packaging raises a plain ValueError (int()'s digit limit) for such a version, not
    # InvalidVersion: the simulator must still serve it, as the real index does.
    index = SimulatedIndex()
    index.add_release("acme", "1.0")
    index.add_release("acme", "9" * 5000)
    assert b"9" * 5000 in index.render_updates_feed()
    assert b"acme added to PyPI" in index.render_packages_feed()


async def test_a_slowed_route_is_late_and_the_others_are_not() -> None:
    index = SimulatedIndex()
    index.add_release("acme", "1.0")
    index.slow_route("/simple/{name}/", 0.5)
    async with index, aiohttp.ClientSession() as http:

        async def took(path: str) -> float:
            start = time.monotonic()
            async with http.get(index.base_url + path) as resp:
                await resp.read()
                assert resp.status == 200
            return time.monotonic() - start

        assert await took("/simple/acme/") >= 0.5
        assert await took("/simple/") < 0.5
        assert await took("/rss/updates.xml") < 0.5
        index.slow_route("/simple/{name}/", 0)
        assert await took("/simple/acme/") < 0.5


def test_control_characters_in_an_author_do_not_break_the_feed() -> None:
    # Found by fuzzing: the author was escaped but not stripped of what XML cannot hold.
    index = SimulatedIndex()
    index.add_release("acme", "1.0", author_email="a@example.com\x1f")
    page = parse_feed(FeedKind.UPDATES, index.render_updates_feed(), url="u", etag=None)
    assert [(item.name, item.version) for item in page.items] == [("acme", "1.0")]
