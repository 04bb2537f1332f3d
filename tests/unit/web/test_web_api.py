"""The HTTP API served for real (aiohttp's TestServer) against the fake index and a database."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.fakes.pypi import FakeIndex
from tests.support import closed_port, new_event
from watcher.catalog import load_catalog_file
from watcher.checks import NameChecker
from watcher.health import SourceHealth
from watcher.matching.live import LiveCatalog
from watcher.pypi import IndexClient
from watcher.store import Database, events
from watcher.store.base import utcnow
from watcher.web import create_app

TOKEN = "s3cret-api-token"
Client = TestClient[web.Request, web.Application]
ClientFactory = Callable[..., AbstractAsyncContextManager[Client]]


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated SQLite database (``/healthz`` counts dead-lettered events)."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'web.db'}")
    await database.upgrade()
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
def index(fake_index: FakeIndex) -> FakeIndex:
    fake_index.add_release("payments-core", "99.0")  # squats Payments_Core
    fake_index.add_release("acme-billing", "2.0")  # squats acme-billing, inside acme-*
    fake_index.add_release("acme-tools", "1.0")  # inside acme-*
    fake_index.add_release("acme-public-sdk", "1.0")  # ours, allowlisted
    fake_index.add_release("requests-extra", "1.0")  # unrelated
    return fake_index


@pytest.fixture
def make_client(http: aiohttp.ClientSession, index: FakeIndex, catalog_file: Path) -> ClientFactory:
    catalog = load_catalog_file(catalog_file)
    client = IndexClient(http, index.base_url, retries=1, backoff=0.01)
    checker = NameChecker(LiveCatalog.of(catalog), client)

    @asynccontextmanager
    async def build(database: Database, token: str | None = None) -> AsyncIterator[Client]:
        async with TestClient(TestServer(create_app(checker, database, token))) as test_client:
            yield test_client

    return build


@pytest.fixture
async def api(make_client: ClientFactory, sqlite_db: Database) -> AsyncIterator[Client]:
    async with make_client(sqlite_db) as client:
        yield client


async def get_json(
    client: Client, path: str, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    async with client.get(path, headers=headers) as resp:
        assert resp.content_type == "application/json", path
        return resp.status, await resp.json()


async def raw_get(client: Client, target: str) -> tuple[int, Any]:
    """Send ``target`` byte for byte, without any client-side path normalization."""
    server = client.server
    assert server.host is not None
    assert server.port is not None
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(f"GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        answer = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"application/json" in head.lower()
    return status, json.loads(body)


def simple_requests(index: FakeIndex) -> list[str]:
    return [r.path for r in index.requests]


# --- health -----------------------------------------------------------------------------


async def test_healthz_ok(make_client: ClientFactory, db: Database) -> None:
    async with make_client(db) as client:
        status, body = await get_json(client, "/healthz")
    assert status == 200
    assert body["status"] == "ok"


async def test_healthz_says_degraded_while_an_event_is_dead_lettered(
    make_client: ClientFactory, db: Database
) -> None:
    now = utcnow()
    async with db.transaction() as session:
        await events.add_events(session, [new_event("acme-poison")], now)
        [claimed] = await events.claim_events(session, "w", now, timedelta(seconds=15), 1)
        await events.fail_events(
            session, [claimed.id], "w", "ValueError: boom", now, max_attempts=1
        )
    async with make_client(db) as client:
        status, body = await get_json(client, "/healthz")
    assert (status, body["status"], body["dead_index_events"]) == (200, "degraded", 1)


async def test_healthz_says_degraded_once_a_source_failed_three_runs_in_a_row(
    http: aiohttp.ClientSession, index: FakeIndex, catalog_file: Path, sqlite_db: Database
) -> None:
    checker = NameChecker(
        LiveCatalog.of(load_catalog_file(catalog_file)), IndexClient(http, index.base_url)
    )
    since = utcnow()
    sources = {
        "feeds": SourceHealth("feeds"),
        "reconcile": SourceHealth("reconcile"),
        "dispatch": SourceHealth("dispatch", failures=2, since=since, last_error="Slack 503"),
    }
    app = create_app(checker, sqlite_db, TOKEN, sources=lambda: sources)
    async with TestClient(TestServer(app)) as client:
        status, body = await get_json(client, "/healthz")
        assert (status, body["status"]) == (200, "ok")  # two failures: not yet
        assert body["sources"] == {
            "feeds": {"state": "ok"},
            "reconcile": {"state": "ok"},
            "dispatch": {
                "state": "ok",
                "since": since.isoformat(),
                "failures": 2,
                "last_error": "Slack 503",
            },
        }

        sources["reconcile"] = SourceHealth(
            "reconcile", failures=3, since=since, last_error="index unavailable for ..."
        )
        status, body = await get_json(client, "/healthz")
        assert (status, body["status"]) == (200, "degraded")  # alive, but not all is well
        assert body["sources"]["reconcile"] == {
            "state": "failing",
            "since": since.isoformat(),
            "failures": 3,
            "last_error": "index unavailable for ...",
        }
        assert body["sources"]["feeds"] == {"state": "ok"}

        sources["reconcile"] = SourceHealth("reconcile")
        status, body = await get_json(client, "/healthz")
        assert (status, body["status"]) == (200, "ok")


async def test_healthz_503_when_database_never_answers(make_client: ClientFactory) -> None:
    # A server that accepts the connection and then says nothing (a hung database).
    accepted: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    database = Database(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/watcher")
    loop = asyncio.get_running_loop()
    try:
        async with make_client(database) as client:
            started = loop.time()
            status, body = await get_json(client, "/healthz")
            elapsed = loop.time() - started
    finally:
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()
        await database.close()
    assert status == 503
    assert body["status"] == "unhealthy"
    assert accepted  # the probe really connected and waited
    assert elapsed < 10


@pytest.mark.parametrize("where", ["postgresql", "sqlite"])
async def test_healthz_503_when_database_unreachable(
    make_client: ClientFactory, tmp_path: Path, where: str
) -> None:
    url = (
        f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/watcher"
        if where == "postgresql"
        else f"sqlite+aiosqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}"
    )
    database = Database(url)
    try:
        async with make_client(database) as client:
            status, body = await get_json(client, "/healthz")
    finally:
        await database.close()
        # aiosqlite's worker thread of the failed connection reports back to this loop a
        # moment later; let it, or it finds the loop closed and the next test inherits the
        # thread's error.
        for _ in range(200):
            if not any("_connection_worker_thread" in t.name for t in threading.enumerate()):
                break
            await asyncio.sleep(0.01)
    assert status == 503
    assert body["status"] == "unhealthy"


# --- verdicts ---------------------------------------------------------------------------


async def test_squatted_internal_name_is_critical(api: Client, index: FakeIndex) -> None:
    status, body = await get_json(api, "/v1/names/Payments_Core")
    assert status == 200
    assert body == {
        "name": "payments-core",
        "internal": True,
        "allowlisted": False,
        "public_exists": True,
        "basis": {"source": "index", "as_of": None},
        "risk": "critical",
        # The risk model's reasons (no private index lists the name: versions unknown).
        "risk_reason": "our versions are unknown: no private index lists this name with a version",
        "our_highest": None,
        "public_highest": None,  # not asked: our versions decide it
        "predates": None,
        "matches": [
            {
                "kind": "exact",
                "internal_name": "payments-core",
                "public_name": "payments-core",
                "detail": "same name as internal 'Payments_Core' after PEP 503 normalization",
                "severity": "critical",
                "score": 1.0,
            }
        ],
        "index_would_accept": {
            "accepted": False,
            "reason": "the name is taken: the project exists",
        },
        "reason": "our versions are unknown: no private index lists this name with a version",
        "remediation": (
            "Someone else holds our internal name publicly: install ours only through one"
            " index endpoint that serves ours first, with hashes pinned (never"
            " --extra-index-url), and report the public project to the index's security"
            " contact."
        ),
        "our_versions": [],
    }
    assert simple_requests(index) == ["/simple/payments-core/"]


async def test_squatted_name_inside_a_prefix_lists_both_matches(api: Client) -> None:
    status, body = await get_json(api, "/v1/names/acme.billing")
    assert status == 200
    assert (body["name"], body["risk"], body["public_exists"]) == ("acme-billing", "critical", True)
    assert [(m["kind"], m["internal_name"], m["severity"]) for m in body["matches"]] == [
        ("exact", "acme-billing", "critical"),
        ("prefix", "acme", "high"),
    ]


async def test_prefix_squat_is_high(api: Client) -> None:
    status, body = await get_json(api, "/v1/names/ACME_Tools")
    assert status == 200
    assert body["name"] == "acme-tools"
    assert (body["internal"], body["public_exists"], body["risk"]) == (False, True, "high")
    assert [(m["kind"], m["internal_name"], m["public_name"]) for m in body["matches"]] == [
        ("prefix", "acme", "acme-tools")
    ]


async def test_free_internal_name_is_medium(api: Client, index: FakeIndex) -> None:
    status, body = await get_json(api, "/v1/names/internal-tool")
    assert status == 200
    assert (body["internal"], body["public_exists"], body["risk"]) == (True, False, "medium")
    assert [m["kind"] for m in body["matches"]] == ["exact"]
    assert simple_requests(index) == ["/simple/internal-tool/"]


async def test_free_unrelated_name_is_none(api: Client) -> None:
    status, body = await get_json(api, "/v1/names/nothing-to-see")
    assert status == 200
    assert body == {
        "name": "nothing-to-see",
        "internal": False,
        "allowlisted": False,
        "public_exists": False,
        "basis": {"source": "index", "as_of": None},
        "risk": "none",
        "matches": [],
        "index_would_accept": {
            "accepted": True,
            "reason": "free, unless the index's administrators prohibited it",
        },
        "reason": "free, and unlike any of our names",
        "remediation": "Nothing of ours at stake.",
    }


async def test_existing_unrelated_name_is_none(api: Client) -> None:
    status, body = await get_json(api, "/v1/names/requests-extra")
    assert status == 200
    assert (body["public_exists"], body["risk"], body["matches"]) == (True, "none", [])


async def test_allowlisted_name_is_none(api: Client) -> None:
    status, body = await get_json(api, "/v1/names/acme-public-sdk")
    assert status == 200
    assert (body["allowlisted"], body["public_exists"], body["risk"]) == (True, True, "none")
    assert body["matches"] == []


@pytest.mark.parametrize(
    "path",
    [
        "/v1/names/..%2Fx",
        "/v1/names/",
        "/v1/names/" + "a" * 300,
        "/v1/names/" + "a" * 201,
        "/v1/names/" + quote("éclair"),
        "/v1/names/" + quote("пакет"),
        "/v1/names/a%20b",
        "/v1/names/a/b",
        "/v1/names/-acme",
        "/v1/names/acme%00",
        "/v1/names/acme%0D%0AX-Injected:%201",
    ],
)
async def test_invalid_names_are_400_without_asking_the_index(
    api: Client, index: FakeIndex, path: str
) -> None:
    status, body = await get_json(api, path)
    assert status == 400
    assert isinstance(body["error"], str)
    assert "invalid project name" in body["error"]
    assert index.requests == []


@pytest.mark.parametrize("target", ["/v1/names/../x", "/v1/names/%2e%2e/x", "/v1/names/.."])
async def test_raw_dot_segments_are_400_without_asking_the_index(
    api: Client, index: FakeIndex, target: str
) -> None:
    status, body = await raw_get(api, target)
    assert status == 400
    assert "invalid project name" in body["error"]
    assert index.requests == []


async def test_client_normalized_dot_segments_do_not_reach_the_index(
    api: Client, index: FakeIndex
) -> None:
    # The client resolves /v1/names/../x to /v1/x before sending it: no such route.
    status, body = await get_json(api, "/v1/names/../x")
    assert status == 404
    assert "error" in body
    assert index.requests == []


async def test_longest_valid_name_is_accepted(api: Client) -> None:
    status, body = await get_json(api, "/v1/names/" + "a" * 200)
    assert status == 200
    assert body["risk"] == "none"


# --- the index failing ------------------------------------------------------------------


async def test_index_down_is_503(api: Client, index: FakeIndex) -> None:
    index.fail("/simple/", 500, times=None)
    status, body = await get_json(api, "/v1/names/ACME_Tools")
    assert status == 503
    assert "index" in body["error"]
    # Nothing that could pass for a verdict: the risk is unknown, and why.
    assert (body["name"], body["risk"]) == ("acme-tools", "unknown")
    assert "public_exists" not in body
    assert body["reason"].startswith(f"index unavailable for {index.base_url}/simple/acme-tools/")
    assert "HTTP 500 (after 2 attempts)" in body["reason"]
    assert len(index.requests) == 2  # asked, retried once, gave up
    # What the store could say instead (here: no view of the listing built).
    assert body["stored_listing"] == {"listed": False, "as_of": None}


async def test_a_base_url_that_is_not_an_index_is_503_with_the_reason(
    http: aiohttp.ClientSession, index: FakeIndex, catalog_file: Path, sqlite_db: Database
) -> None:
    # The service could not confirm the index at start (unreachable); when it answers,
    # it turns out to be the simple index's URL, where every name would look free.
    catalog = LiveCatalog.of(load_catalog_file(catalog_file))
    client = IndexClient(http, index.base_url + "/simple", retries=0)
    checker = NameChecker(catalog, client, confirm_index=True)
    async with TestClient(TestServer(create_app(checker, sqlite_db, None))) as api:
        status, body = await get_json(api, "/v1/names/payments-core")
    assert status == 503
    assert body["risk"] == "unknown"
    assert body["reason"].startswith(f"no package index answers at {index.base_url}/simple: ")
    assert body["reason"].endswith(f"use its parent {index.base_url}")
    assert simple_requests(index) == ["/simple/simple/"]  # the name was never asked


async def test_the_index_is_confirmed_once_before_the_first_name(
    http: aiohttp.ClientSession, index: FakeIndex, catalog_file: Path, sqlite_db: Database
) -> None:
    catalog = LiveCatalog.of(load_catalog_file(catalog_file))
    checker = NameChecker(catalog, IndexClient(http, index.base_url), confirm_index=True)
    async with TestClient(TestServer(create_app(checker, sqlite_db, None))) as api:
        assert (await get_json(api, "/v1/names/..%2Fx"))[0] == 400
        assert index.requests == []  # an invalid name asks nothing, not even that
        for name in ("payments-core", "acme-tools"):
            status, body = await get_json(api, f"/v1/names/{name}")
            assert status == 200
            assert body["risk"] in ("critical", "high")
    assert simple_requests(index) == [
        "/simple/",
        "/rss/updates.xml",
        "/simple/payments-core/",
        "/simple/acme-tools/",
    ]


async def test_index_refusing_is_503(api: Client, index: FakeIndex) -> None:
    index.fail("/simple/", 403)
    status, body = await get_json(api, "/v1/names/acme-tools")
    assert status == 503
    assert "error" in body


async def test_index_unreachable_is_503(
    make_client: ClientFactory, sqlite_db: Database, http: aiohttp.ClientSession, catalog_file: Path
) -> None:
    catalog = load_catalog_file(catalog_file)
    client = IndexClient(http, f"http://127.0.0.1:{closed_port()}", retries=0)
    checker = NameChecker(LiveCatalog.of(catalog), client)
    async with TestClient(TestServer(create_app(checker, sqlite_db, None))) as api:
        status, body = await get_json(api, "/v1/names/acme-tools")
    assert status == 503
    assert "error" in body
    assert body["risk"] == "unknown"
    assert "ClientConnectorError" in body["reason"]


# --- routing ----------------------------------------------------------------------------


async def test_unknown_route_is_json_404(api: Client) -> None:
    for path in ("/nope", "/v1/nope", "/v1/names"):
        status, body = await get_json(api, path)
        assert status == 404, path
        assert body == {"error": "Not Found", "status": 404}


async def test_wrong_method_is_json_405(api: Client) -> None:
    async with api.post("/healthz") as resp:
        assert resp.status == 405
        assert resp.content_type == "application/json"
        assert (await resp.json())["status"] == 405


# --- bearer token -----------------------------------------------------------------------


@pytest.fixture
async def secured(make_client: ClientFactory, sqlite_db: Database) -> AsyncIterator[Client]:
    async with make_client(sqlite_db, TOKEN) as client:
        yield client


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
        {"Authorization": "Bearer "},
    ],
)
async def test_missing_or_wrong_token_is_401(
    secured: Client, index: FakeIndex, headers: dict[str, str]
) -> None:
    async with secured.get("/v1/names/acme-tools", headers=headers) as resp:
        assert resp.status == 401
        assert resp.content_type == "application/json"
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        body = await resp.json()
    assert body["status"] == 401
    assert "token" in body["error"]
    assert index.requests == []


async def test_right_token_is_200(secured: Client) -> None:
    for scheme in ("Bearer", "bearer"):
        headers = {"Authorization": f"{scheme} {TOKEN}"}
        status, body = await get_json(secured, "/v1/names/acme-tools", headers)
        assert status == 200
        assert body["risk"] == "high"


async def test_token_is_checked_before_the_name(secured: Client, index: FakeIndex) -> None:
    status, _ = await get_json(secured, "/v1/names/..%2Fx")
    assert status == 401
    status, _ = await get_json(secured, "/v1/nope")
    assert status == 401
    assert index.requests == []


async def test_healthz_needs_no_token(secured: Client) -> None:
    status, body = await get_json(secured, "/healthz")
    assert status == 200
    assert body["status"] == "ok"


async def test_no_token_configured_means_open(
    make_client: ClientFactory, sqlite_db: Database
) -> None:
    async with make_client(sqlite_db, "") as client:
        status, _ = await get_json(client, "/v1/names/acme-tools")
    assert status == 200
