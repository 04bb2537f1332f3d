"""Hostile input within the size limits answers a JSON 4xx, never a 500: deeply nested JSON
and TOML (their parsers recurse), times at the ends of the calendar, file names out of
bounds, an action body over the app's limit. Found while fuzzing the API against its
OpenAPI document (``tests/integration/test_api_contract.py``)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.unit.web.test_web_api import TOKEN, ClientFactory, index, make_client, sqlite_db
from watcher.store import Database

__all__ = ["index", "make_client", "sqlite_db"]

Client = TestClient[web.Request, web.Application]
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DEEP = 100_000  # far past the interpreter's recursion limit, far under the body limit


@pytest.fixture
async def api(make_client: ClientFactory, sqlite_db: Database) -> AsyncIterator[Client]:
    async with make_client(sqlite_db, TOKEN) as client:
        yield client


async def answer(
    api: Client, method: str, path: str, body: str | bytes | None = None, **kwargs: Any
) -> tuple[int, Any]:
    headers = {**AUTH, "Content-Type": kwargs.pop("content_type", "application/json")}
    async with api.request(method, path, data=body, headers=headers, **kwargs) as resp:
        assert resp.content_type == "application/json"
        return resp.status, await resp.json()


@pytest.mark.parametrize(
    "body",
    [
        "[" * DEEP,
        '{"files": {"requirements.txt": ""}, "entry": ' + "[" * DEEP + "]" * DEEP + "}",
    ],
    ids=["body", "entry"],
)
async def test_a_deeply_nested_json_body_is_400(api: Client, body: str) -> None:
    status, error = await answer(api, "POST", "/v1/check", body)
    assert (status, error) == (400, {"error": "the body is nested too deeply", "status": 400})


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("pyproject.toml", "a = " + "[" * DEEP),
        ("Pipfile.lock", "[" * DEEP),
    ],
)
async def test_a_deeply_nested_file_is_400(api: Client, name: str, text: str) -> None:
    status, error = await answer(api, "POST", "/v1/check", json.dumps({"files": {name: text}}))
    assert (status, error["error"]) == (400, f"{name}: nested too deeply")


@pytest.mark.parametrize("filename", ["", "x" * 256])
async def test_a_plain_text_file_name_out_of_bounds_is_400(api: Client, filename: str) -> None:
    status, error = await answer(
        api,
        "POST",
        "/v1/check",
        "requests\n",
        content_type="text/plain",
        params={"filename": filename},
    )
    assert (status, error["error"]) == (400, "'filename' is 1 to 255 characters")


async def test_a_deeply_nested_action_body_is_400(api: Client) -> None:
    status, error = await answer(api, "POST", "/v1/findings/1/acknowledge", "[" * 30_000)
    assert (status, error["error"]) == (400, "the body must be a JSON object")


async def test_an_action_body_over_the_app_limit_is_413(api: Client) -> None:
    body = json.dumps({"actor": "alice", "reason": "x" * 70_000})
    status, error = await answer(api, "POST", "/v1/findings/1/acknowledge", body)
    assert (status, error["status"]) == (413, 413)


@pytest.mark.parametrize("since", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+14:00"])
async def test_a_time_past_the_calendar_in_utc_is_400(api: Client, since: str) -> None:
    status, error = await answer(api, "GET", "/v1/findings", params={"since": since})
    assert (status, error["error"]) == (400, f"since: {since!r} is not an ISO 8601 time")


async def test_a_time_at_the_ends_of_the_calendar_in_utc_is_fine(api: Client) -> None:
    for since in ("9999-12-31T23:59:59+00:00", "0001-01-01T00:00:00", "2026-05-01T11:00:00+02:00"):
        status, page = await answer(api, "GET", "/v1/findings", params={"since": since})
        assert (status, page) == (200, {"findings": [], "next_cursor": None}), since
