"""IndexLookups: the API's look-ups, limited, coalesced and briefly cached, against the
fake index through a real client."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.fakes.pypi import FakeIndex
from watcher.errors import IndexUnavailable, LookupsSaturated, ProjectNotFound
from watcher.pypi import IndexClient
from watcher.web.lookups import IndexLookups


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def asked(fake_index: FakeIndex, path: str) -> int:
    return sum(1 for r in fake_index.requests if r.path == path)


@pytest.fixture
def client(http: aiohttp.ClientSession, fake_index: FakeIndex) -> IndexClient:
    return IndexClient(http, fake_index.base_url, retries=0, backoff=0.01)


async def test_a_look_up_that_cannot_start_in_time_is_refused_at_once_after_the_wait(
    client: IndexClient, fake_index: FakeIndex
) -> None:
    fake_index.slow_route("/simple/{name}/", 1.0)
    lookups = IndexLookups(client, concurrency=1, wait=0.2)
    first = asyncio.create_task(lookups.exists("slow-one"))
    await asyncio.sleep(0.05)
    loop = asyncio.get_running_loop()
    begun = loop.time()
    with pytest.raises(LookupsSaturated) as caught:
        await lookups.exists("another-one")
    assert 0.15 < loop.time() - begun < 0.8
    assert caught.value.retry_after == 1
    assert await first is False
    assert asked(fake_index, "/simple/another-one/") == 0


async def test_answers_are_cached_for_the_ttl_and_failures_not_at_all(
    client: IndexClient, fake_index: FakeIndex
) -> None:
    clock = Clock()
    lookups = IndexLookups(client, concurrency=2, ttl=10.0, monotonic=clock)
    fake_index.fail("/simple/acme-x/", 503)
    with pytest.raises(IndexUnavailable):
        await lookups.exists("acme-x")
    assert await lookups.exists("acme-x") is False  # the failure was not remembered
    fake_index.add_release("acme-x", "1.0")
    clock.now += 9.0
    assert await lookups.exists("acme-x") is False  # still the cached answer
    clock.now += 2.0
    assert await lookups.exists("acme-x") is True  # expired: asked again
    assert asked(fake_index, "/simple/acme-x/") == 3


async def test_the_index_is_confirmed_once_for_many_clients(
    client: IndexClient, fake_index: FakeIndex
) -> None:
    fake_index.slow_route("/simple/", 0.2)
    lookups = IndexLookups(client, concurrency=4)
    await asyncio.gather(*(lookups.confirm_index() for _ in range(20)))
    assert lookups.confirmed
    assert asked(fake_index, "/simple/") == 1


async def test_stale_details_are_revalidated_with_their_etag(
    client: IndexClient, fake_index: FakeIndex
) -> None:
    clock = Clock()
    lookups = IndexLookups(client, concurrency=2, details_ttl=300.0, monotonic=clock)
    fake_index.add_release("acme-squat", "1.0")
    path = "/pypi/acme-squat/json"
    first = await lookups.project("acme-squat")
    assert first.latest_version == "1.0"
    clock.now += 100
    assert await lookups.project("acme-squat") is first  # fresh: not asked
    assert asked(fake_index, path) == 1

    clock.now += 300  # stale: asked again with the ETag, the index says "not modified"
    assert await lookups.project("acme-squat") is first
    again = [r for r in fake_index.requests if r.path == path]
    assert len(again) == 2
    assert again[0].headers.get("If-None-Match") is None
    assert again[1].headers.get("If-None-Match")
    clock.now += 100  # a 304 made it fresh again
    assert await lookups.project("acme-squat") is first
    assert asked(fake_index, path) == 2

    fake_index.add_release("acme-squat", "2.0")
    clock.now += 300  # changed: the new details replace the old
    assert (await lookups.project("acme-squat")).latest_version == "2.0"
    assert asked(fake_index, path) == 3

    fake_index.remove_project("acme-squat")
    clock.now += 300  # gone: a 404 is raised, and the stale details are not kept
    with pytest.raises(ProjectNotFound):
        await lookups.project("acme-squat")
    with pytest.raises(ProjectNotFound):
        await lookups.project("acme-squat")
