"""``POST /v1/check`` served for real against the fake index (watcher.web.depcheck)."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.fakes.pypi import FakeIndex
from tests.unit.web.test_web_api import TOKEN, ClientFactory, index, make_client, sqlite_db
from watcher.store import Database
from watcher.web.depcheck import BODY_LIMIT

__all__ = ["index", "make_client", "sqlite_db"]

Client = TestClient[web.Request, web.Application]
HASH = "--hash=sha256:" + "b" * 64


@pytest.fixture
async def api(make_client: ClientFactory, sqlite_db: Database) -> AsyncIterator[Client]:
    async with make_client(sqlite_db, TOKEN) as client:
        yield client


AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def post(api: Client, body: Any, status: int = 200, **kwargs: Any) -> dict[str, Any]:
    data: bytes | str | io.BytesIO = body if isinstance(body, bytes | str) else json.dumps(body)
    if isinstance(data, bytes) and len(data) > 1024 * 1024:
        data = io.BytesIO(data)  # aiohttp warns about a large raw bytes body
    headers = {**AUTH, "Content-Type": "application/json", **kwargs.pop("headers", {})}
    async with api.post("/v1/check", data=data, headers=headers, **kwargs) as resp:
        assert resp.status == status, await resp.text()
        answer: dict[str, Any] = await resp.json()
        return answer


async def test_an_extra_index_and_a_squatted_internal_name_are_both_named(
    api: Client, index: FakeIndex
) -> None:
    text = "--extra-index-url https://pkgs.acme.example/simple\npayments-core==1.0\n"
    answer = await post(api, {"files": {"requirements.txt": text}})
    assert answer["risky"] is True
    assert "extra-index-url" in [p["code"] for p in answer["problems"]]
    [dep] = answer["dependencies"]
    assert (dep["canonical"], dep["risk"], dep["internal"], dep["public_exists"]) == (
        "payments-core",
        "critical",
        True,
        True,
    )


async def test_a_clean_file_with_an_uploaded_include_is_not_risky(
    api: Client, index: FakeIndex
) -> None:
    files = {
        "requirements.txt": f"-r ci/base.txt\nrequests-extra==1.0 {HASH}\n",
        "ci/base.txt": f"internal-tool==2.0 {HASH}\n",
    }
    answer = await post(api, {"files": files, "entry": ["requirements.txt"]})
    assert answer["risky"] is False, answer
    names = {d["canonical"]: d["risk"] for d in answer["dependencies"]}
    assert names == {"internal-tool": "medium", "requests-extra": "none"}


async def test_a_missing_include_is_a_problem_and_the_disk_is_never_read(
    api: Client, index: FakeIndex, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("payments-core==1.0\n")
    answer = await post(api, {"files": {"requirements.txt": f"-r {secret}\n-r other.txt\n"}})
    assert answer["risky"] is True
    codes = [p["code"] for p in answer["problems"]]
    assert codes == ["include-outside-root", "missing-include"]
    assert answer["dependencies"] == []  # the file on disk was not read


async def test_a_plain_text_body_is_one_requirements_file(api: Client, index: FakeIndex) -> None:
    answer = await post(
        api, b"acme-tools>=1\n", headers={"Content-Type": "text/plain"}, params={"filename": "r.in"}
    )
    assert answer["files"] == [{"name": "r.in", "kind": "requirements", "files": ["r.in"]}]
    assert answer["dependencies"][0]["risk"] in ("high", "critical")


async def test_sarif_on_request(api: Client, index: FakeIndex) -> None:
    answer = await post(
        api, {"files": {"requirements.txt": "payments-core>=1\n"}, "format": "sarif"}
    )
    assert answer["version"] == "2.1.0"
    rules = {r["ruleId"] for r in answer["runs"][0]["results"]}
    assert "unpinned-internal" in rules


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        json.dumps([1, 2]),
        json.dumps({"files": {}}),
        json.dumps({"files": {"a.txt": 3}}),
        json.dumps({"files": {"a.txt": "x\n"}, "entry": ["b.txt"]}),
        json.dumps({"files": {"a.txt": "x\n"}, "format": "xml"}),
        json.dumps({"files": {"pyproject.toml": "[project\n"}}),
        json.dumps({"files": {"a.txt": "-r a.txt\n"}}),
    ],
)
async def test_unusable_input_is_a_json_400(api: Client, index: FakeIndex, body: bytes) -> None:
    answer = await post(api, body, status=400)
    assert answer["status"] == 400
    assert answer["error"]


async def test_too_much_is_413_and_no_token_is_401(api: Client) -> None:
    answer = await post(api, b"x" * (BODY_LIMIT + 1), status=413)
    assert answer["status"] == 413
    many = "\n".join(f"pkg{n}==1.0" for n in range(6000))
    answer = await post(api, {"files": {"requirements.txt": many}}, status=413)
    async with api.post("/v1/check", data=b"{}") as resp:
        assert resp.status == 401
