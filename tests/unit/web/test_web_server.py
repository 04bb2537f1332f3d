"""The API's server answers requests aiohttp cannot even parse: JSON, quietly.

aiohttp answers a malformed request line or header before any middleware runs; by itself
it answers plain text that repeats the request and logs an ERROR with a traceback, which
anyone who can reach the port can trigger at will.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from watcher.catalog import load_catalog_file
from watcher.checks import NameChecker
from watcher.matching.live import LiveCatalog
from watcher.pypi import IndexClient
from watcher.store import Database
from watcher.web import create_app
from watcher.web.server import bound_port, start_api

MALFORMED = {
    "request line": b"GET /<script>EVIL</script> HTTP/1.1 extra\r\nHost: x\r\n\r\n",
    "header": b"GET /healthz HTTP/1.1\r\nHost: x\r\nEVIL header without colon\r\n\r\n",
    "second request": b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nEVIL\x00 / HTTP/1.1\r\n\r\n",
}


@pytest.fixture
async def port(
    tmp_path: Path, http: aiohttp.ClientSession, catalog_file: Path
) -> AsyncIterator[int]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'web.db'}")
    checker = NameChecker(
        LiveCatalog.of(load_catalog_file(catalog_file)),
        IndexClient(http, "http://127.0.0.1:9", retries=0),
    )
    runner = await start_api(create_app(checker, database, None), "127.0.0.1", 0)
    try:
        yield bound_port(runner, 0)
    finally:
        await runner.cleanup()
        await database.close()


async def exchange(port: int, raw: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout=5)
    finally:
        writer.close()


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
async def test_a_malformed_request_gets_json_and_one_warning_line(
    port: int, raw: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    answer = await exchange(port, raw)

    # The answer to the malformed request (after the good one's, for the second request).
    (start,) = [m.start() for m in re.finditer(rb"HTTP/1\.[01] 400 ", answer)]
    head, _, body = answer[start:].partition(b"\r\n\r\n")
    assert b"Content-Type: application/json" in head
    assert json.loads(body) == {"error": "malformed HTTP request", "status": 400}
    assert b"EVIL" not in answer
    noted = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(noted) == 1, [r.getMessage() for r in noted]
    (record,) = noted
    assert record.levelno == logging.WARNING
    assert record.exc_info is None
    assert "EVIL" not in record.getMessage()
    assert not any(r.exc_info for r in caplog.records)
