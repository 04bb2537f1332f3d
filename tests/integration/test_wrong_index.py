"""A wrong index URL is never a silent wrong answer: ``watcher run`` refuses it (exit 2, one
line naming the likely right URL); an index that cannot be reached at start does not stop
the service, and is confirmed before anything is asked of it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import SettingsFactory, running
from tests.fakes.pypi import FakeIndex
from tests.fakes.slack import FakeSlack
from tests.support import Daemon, until
from watcher.app import Service
from watcher.errors import ConfigError, NotAnIndex


class Gate:
    """A TCP port in front of the fake index that drops every connection until opened:
    an index that cannot be reached, then comes back."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.is_open = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            if not self.is_open:
                return  # dropped: the client sees the connection closed
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
            try:
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            finally:
                up_writer.close()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            self._tasks.discard(task)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while chunk := await reader.read(64 * 1024):
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()


@asynccontextmanager
async def gate_to(fake: FakeIndex) -> AsyncIterator[tuple[Gate, str]]:
    gate = Gate(int(fake.base_url.rsplit(":", 1)[1]))
    port = await gate.start()
    try:
        yield gate, f"http://127.0.0.1:{port}"
    finally:
        await gate.close()


async def get(http: aiohttp.ClientSession, service: Service, path: str) -> tuple[int, Any]:
    async with http.get(f"http://127.0.0.1:{service.port}{path}") as resp:
        return resp.status, await resp.json()


def said(caplog: pytest.LogCaptureFixture, level: int = logging.WARNING) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("watcher") and r.levelno >= level
    ]


# -- refused at start ------------------------------------------------------------------


async def test_run_refuses_the_simple_index_url_and_names_its_parent(
    make_settings: SettingsFactory, fake_index: FakeIndex, fake_slack: FakeSlack
) -> None:
    fake_index.add_release("payments-core", "1.0")
    settings = make_settings(pypi_url=fake_index.base_url + "/simple")

    with pytest.raises(NotAnIndex) as caught:
        async with running(settings):
            pytest.fail("the service started on a URL that is not an index")

    assert isinstance(caught.value, ConfigError)
    assert str(caught.value) == (
        f"no package index answers at {fake_index.base_url}/simple: /simple/ gave HTTP 404 "
        f'(text/plain): "404 Not Found"; this looks like the simple index; use its parent '
        f"{fake_index.base_url}"
    )
    # Nothing was asked of it: no name looked free, nothing was recorded or posted.
    assert [r.path for r in fake_index.requests] == ["/simple/simple/"]
    assert fake_slack.messages == []


async def test_watcher_run_exits_2_with_one_line(
    make_settings: SettingsFactory, fake_index: FakeIndex, tmp_path: Path
) -> None:
    settings = make_settings(pypi_url=fake_index.base_url + "/pypi")
    log = tmp_path / "daemon.log"
    process = Daemon(settings, log)
    await process.start()
    assert process.proc is not None
    code = await asyncio.wait_for(process.proc.wait(), timeout=30)
    output = log.read_text()
    assert code == 2, output
    last = output.strip().splitlines()[-1]
    assert last == (
        f"watcher: no package index answers at {fake_index.base_url}/pypi: /simple/ gave HTTP "
        '404 (text/plain): "404: Not Found"; this looks like the index\'s JSON/XML-RPC API '
        f"path; use its parent {fake_index.base_url}"
    )


# -- unreachable at start --------------------------------------------------------------


async def test_unreachable_at_start_starts_anyway_and_confirms_when_it_answers(
    make_settings: SettingsFactory,
    fake_index: FakeIndex,
    fake_slack: FakeSlack,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="watcher")
    fake_index.add_release("payments-core", "0.1")  # squatted before we ever ran
    async with gate_to(fake_index) as (gate, url):
        settings = make_settings(pypi_url=url, poll_interval=0.2, reconcile_interval=3600)
        async with running(settings) as service:
            [start] = said(caplog)
            assert start.startswith(
                "cannot confirm the index at start-up, starting anyway (it is confirmed before"
                f" anything is asked of it): index unavailable for {url}/simple/: "
            )
            status, body = await get(http, service, "/healthz")
            assert (status, body["status"]) == (200, "ok")  # alive; not failing for long yet

            # A verdict now would be a guess: the API says it cannot tell.
            status, body = await get(http, service, "/v1/names/payments-core")
            assert (status, body["risk"]) == (503, "unknown")
            assert body["reason"].startswith(f"index unavailable for {url}/simple/: ")

            async def degraded() -> bool:
                return bool((await get(http, service, "/healthz"))[1]["status"] == "degraded")

            await until(degraded, 15, "/healthz to say degraded")
            assert fake_index.requests == []
            # Not one catalog entry claimed checked while the index could not be asked.
            assert not [m for m in said(caplog, logging.INFO) if "catalog entries" in m]
            warnings = said(caplog)
            assert len(warnings) == len(set(warnings)), warnings  # nothing said twice
            assert sum(m.startswith("feed poll failed") for m in warnings) == 1

            gate.is_open = True
            messages = await fake_slack.wait_for_messages(1, timeout=10)
            assert "payments-core" in messages[0]["text"]

            async def healthy() -> bool:
                return bool((await get(http, service, "/healthz"))[1]["status"] == "ok")

            await until(healthy, 10, "/healthz to say ok")
            status, body = await get(http, service, "/v1/names/payments-core")
            assert (status, body["risk"], body["public_exists"]) == (200, "critical", True)

    infos = said(caplog, logging.INFO)
    assert f"index at {url} confirmed: it answers as a package index" in infos
    assert any(m.startswith("feed poll works again after ") for m in infos)
    checks = [m for m in infos if "new catalog entries" in m]
    assert checks == ["checked 4 of 4 new catalog entries against the index: 1 events"]
    paths = [r.path for r in fake_index.requests]
    assert paths[:2] == ["/simple/", "/rss/updates.xml"]  # confirmed before anything else


async def test_unreachable_at_start_then_not_an_index_is_never_asked_a_name(
    make_settings: SettingsFactory,
    fake_index: FakeIndex,
    fake_slack: FakeSlack,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="watcher")
    fake_index.add_release("payments-core", "0.1")
    async with gate_to(fake_index) as (gate, url):
        base = f"{url}/simple"  # wrong, but nobody can tell while it is unreachable
        settings = make_settings(pypi_url=base, poll_interval=0.2, reconcile_interval=3600)
        async with running(settings) as service:
            gate.is_open = True

            async def refused() -> bool:
                feeds = (await get(http, service, "/healthz"))[1]["sources"]["feeds"]
                return feeds["state"] == "failing" and "no package index" in feeds["last_error"]

            await until(refused, 15, "the feeds to fail with the reason")
            _, body = await get(http, service, "/healthz")
            assert body["status"] == "degraded"
            assert body["sources"]["feeds"]["last_error"].endswith(f"use its parent {url}")

            status, body = await get(http, service, "/v1/names/payments-core")
            assert (status, body["risk"]) == (503, "unknown")
            assert body["reason"].startswith(f"no package index answers at {base}: ")
            await asyncio.sleep(0.5)

    # Only ever asked whether it is an index: no name, no feed, no listing.
    assert {r.path for r in fake_index.requests} == {"/simple/simple/"}
    assert fake_slack.messages == []
    # Said once: not by every job that needed the index, nor once per poll.
    assert [m for m in said(caplog) if "no package index answers" in m and "check" not in m] == [
        "the index URL does not answer as an index; nothing is asked of it until it does (fix"
        f" WATCHER_PYPI_URL and restart): no package index answers at {base}: /simple/ gave"
        f' HTTP 404 (text/plain): "404 Not Found"; this looks like the simple index; use its'
        f" parent {url}"
    ]
