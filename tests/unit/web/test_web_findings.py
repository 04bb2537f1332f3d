"""``/v1/findings`` served for real (aiohttp's TestServer) on a migrated database: filters,
sort, cursor pages, detail, actions with their history, auth and JSON errors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.fakes.pypi import FakeIndex
from watcher.catalog import load_catalog_file
from watcher.checks import NameChecker
from watcher.matching.live import LiveCatalog
from watcher.pypi import IndexClient
from watcher.store import Database, findings, history
from watcher.store.findings import RiskRecord
from watcher.web import create_app

TOKEN = "s3cret-api-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
Client = TestClient[web.Request, web.Application]
ClientFactory = Callable[[Database], AbstractAsyncContextManager[Client]]


@pytest.fixture
def make_client(
    http: aiohttp.ClientSession, fake_index: FakeIndex, catalog_file: Path
) -> ClientFactory:
    checker = NameChecker(
        LiveCatalog.of(load_catalog_file(catalog_file)), IndexClient(http, fake_index.base_url)
    )

    @asynccontextmanager
    async def build(database: Database) -> AsyncIterator[Client]:
        async with TestClient(TestServer(create_app(checker, database, TOKEN))) as client:
            yield client

    return build


@pytest.fixture
async def api(make_client: ClientFactory, db: Database) -> AsyncIterator[Client]:
    async with make_client(db) as client:
        yield client


async def seed(
    db: Database, public: str, internal: str, kind: str, risk: str | None, minutes: int = 0
) -> int:
    async with db.transaction() as session:
        await findings.add_finding(
            session,
            public_name=public,
            internal_name=internal,
            kind=kind,
            detail=f"{public} collides with {internal}",
            now=T0 + timedelta(minutes=minutes),
            risk=RiskRecord.of(risk, "seeded", None) if risk else None,
        )
        return next(f.id for f in await findings.findings_for(session, public) if f.kind == kind)


async def get(client: Client, path: str, **params: Any) -> tuple[int, Any]:
    async with client.get(path, params=params, headers=AUTH) as resp:
        return resp.status, await resp.json()


async def post(client: Client, path: str, body: Any, headers: dict[str, str] = AUTH) -> Any:
    async with client.post(path, json=body, headers=headers) as resp:
        return resp.status, await resp.json()


async def test_findings_need_the_bearer_token(api: Client, db: Database) -> None:
    finding_id = await seed(db, "acme-billing", "acme-billing", "exact", "critical")
    for path in ("/v1/findings", f"/v1/findings/{finding_id}"):
        async with api.get(path) as resp:
            assert resp.status == 401
    body = {"actor": "mallory", "reason": "make it quiet"}
    status, answer = await post(api, f"/v1/findings/{finding_id}/suppress", body, headers={})
    assert (status, answer["error"]) == (401, "missing or wrong bearer token")
    status, shown = await get(api, f"/v1/findings/{finding_id}")
    assert (status, shown["status"], len(shown["history"])) == (200, "open", 1)


async def test_list_sorts_by_risk_then_time_and_filters(api: Client, db: Database) -> None:
    low = await seed(db, "acme-bilin", "acme-billing", "typo", "low", minutes=5)
    exact = await seed(db, "acme-billing", "acme-billing", "exact", "critical", minutes=1)
    newer = await seed(db, "payments-core", "payments-core", "exact", "critical", minutes=2)
    legacy = await seed(db, "acme-tools", "acme", "prefix", None, minutes=3)  # kind: high

    status, page = await get(api, "/v1/findings")
    assert status == 200
    assert [f["id"] for f in page["findings"]] == [newer, exact, legacy, low]
    assert page["next_cursor"] is None
    shown = page["findings"][2]
    assert (shown["risk"], shown["stored_risk"], shown["status"]) == ("high", None, "open")
    assert shown["first_seen_at"] == (T0 + timedelta(minutes=3)).isoformat()

    async def ids(**params: Any) -> list[int]:
        status, page = await get(api, "/v1/findings", **params)
        assert status == 200, page
        return [f["id"] for f in page["findings"]]

    assert await ids(risk="high") == [legacy]
    assert await ids(risk="LOW,critical") == [newer, exact, low]
    assert await ids(kind="exact") == [newer, exact]
    assert await ids(internal="Acme_Billing") == [exact, low]  # any spelling of the name
    assert await ids(public="acme-tools") == [legacy]
    assert await ids(since=(T0 + timedelta(minutes=2)).isoformat()) == [newer, legacy, low]
    assert await ids(since="2026-05-01T09:04:00") == [low]  # no zone: UTC
    assert await ids(status="open") == [newer, exact, legacy, low]
    assert await ids(status="suppressed") == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"status": "ignored"}, "status: 'ignored' is not one of"),
        ({"risk": "severe"}, "risk: 'severe' is not one of"),
        ({"limit": "0"}, "limit: between 1 and 500"),
        ({"limit": "many"}, "limit: not a number"),
        ({"since": "yesterday"}, "since: 'yesterday' is not an ISO 8601 time"),
        ({"cursor": "bm90LWEtY3Vyc29y"}, "cursor: not a cursor this service handed out"),
        ({"public": "not a name"}, "public: invalid project name"),
    ],
)
async def test_bad_list_parameters_are_json_400(
    api: Client, params: dict[str, str], message: str
) -> None:
    status, answer = await get(api, "/v1/findings", **params)
    assert status == 400
    assert answer["error"].startswith(message)


async def test_200_findings_come_through_the_cursor_pages(api: Client, db: Database) -> None:
    async with db.transaction() as session:
        for n in range(200):
            await findings.add_finding(
                session,
                public_name=f"acme-squat-{n}",
                internal_name="acme",
                kind="prefix",
                detail="d",
                now=T0 + timedelta(seconds=n % 3),
            )
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": "30", **({"cursor": cursor} if cursor else {})}
        status, page = await get(api, "/v1/findings", **params)
        assert status == 200
        pages += 1
        seen += [f["id"] for f in page["findings"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 7
    assert len(seen) == len(set(seen)) == 200


async def test_detail_has_history_releases_and_owners(api: Client, db: Database) -> None:
    finding_id = await seed(db, "acme-billing", "acme-billing", "exact", "critical")
    async with db.transaction() as session:
        project, _ = await history.upsert_project(
            session,
            "acme-billing",
            "acme-billing",
            T0,
            history.ProjectDetails(owners=["mallory"], latest_version="99.0"),
        )
        await history.add_release(
            session, project, history.ReleaseRecord("99.0", "feed:updates", T0)
        )
    status, shown = await get(api, f"/v1/findings/{finding_id}")
    assert status == 200
    assert shown["project"]["owners"] == ["mallory"]
    assert [r["version"] for r in shown["project"]["releases"]] == ["99.0"]
    assert shown["history"] == [
        {
            "at": T0.isoformat(),
            "actor": "watcher",
            "via": "service",
            "action": "open",
            "reason": None,
            "from_status": None,
            "to_status": "open",
        }
    ]
    assert await get(api, "/v1/findings/999999") == (
        404,
        {"error": "no finding 999999", "status": 404},
    )
    # Beyond the id column's range (PostgreSQL's integer): none, not a database error.
    status, answer = await get(api, "/v1/findings/99999999999")
    assert (status, answer["error"]) == (404, "no finding 99999999999")
    status, answer = await post(
        api, "/v1/findings/99999999999/resolve", {"actor": "alice", "reason": "r"}
    )
    assert status == 404
    status, answer = await get(api, "/v1/findings/abc")
    assert (status, answer["error"]) == (400, "a finding id is a positive number")


async def test_actions_are_recorded_with_actor_via_and_reason(api: Client, db: Database) -> None:
    finding_id = await seed(db, "acme-billing", "acme-billing", "exact", "critical")
    path = f"/v1/findings/{finding_id}"
    body = {"actor": "alice", "reason": "ticket SEC-12"}
    status, answer = await post(api, f"{path}/acknowledge", body)
    assert (status, answer["finding"]["status"]) == (200, "acknowledged")

    status, answer = await post(api, f"{path}/acknowledge", body)
    assert status == 409
    assert answer["finding_status"] == "acknowledged"
    assert "cannot acknowledge" in answer["error"]

    status, answer = await post(api, f"{path}/suppress", {"actor": "bob", "reason": "ours"})
    assert (status, answer["finding"]["suppressed_risk"]) == (200, "critical")
    status, answer = await post(api, f"{path}/resolve", {"actor": "bob", "reason": "taken down"})
    assert (status, answer["finding"]["resolution"]) == (200, "resolved by hand")
    status, answer = await post(api, f"{path}/reopen", {"actor": "carol", "reason": "back"})
    assert (status, answer["finding"]["status"]) == (200, "open")
    status, answer = await post(api, f"{path}/reopen", {"actor": "carol", "reason": "again"})
    assert status == 409

    _, shown = await get(api, path)
    assert [(e["action"], e["actor"], e["via"], e["reason"]) for e in shown["history"]] == [
        ("open", "watcher", "service", None),
        ("acknowledge", "alice", "api", "ticket SEC-12"),
        ("suppress", "bob", "api", "ours"),
        ("resolve", "bob", "api", "taken down"),
        ("reopen", "carol", "api", "back"),
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"reason": "no actor"}, "actor: a non-empty string is required"),
        ({"actor": "alice"}, "reason: a non-empty string is required"),
        ({"actor": "  ", "reason": "r"}, "actor: a non-empty string is required"),
        ({"actor": 7, "reason": "r"}, "actor: a non-empty string is required"),
        (
            {"actor": "alice\nINFO forged", "reason": "r"},
            "actor: control characters are not allowed",
        ),
        ({"actor": "a" * 201, "reason": "r"}, "actor: at most 200 characters"),
        (["alice", "r"], "the body must be a JSON object"),
    ],
)
async def test_a_bad_action_body_is_json_400_and_changes_nothing(
    api: Client, db: Database, body: Any, message: str
) -> None:
    finding_id = await seed(db, "acme-billing", "acme-billing", "exact", "critical")
    status, answer = await post(api, f"/v1/findings/{finding_id}/acknowledge", body)
    assert (status, answer["error"]) == (400, message)
    _, shown = await get(api, f"/v1/findings/{finding_id}")
    assert (shown["status"], len(shown["history"])) == ("open", 1)


async def test_unknown_findings_and_actions(api: Client) -> None:
    body = {"actor": "alice", "reason": "r"}
    status, answer = await post(api, "/v1/findings/424242/acknowledge", body)
    assert (status, answer["error"]) == (404, "no finding 424242")
    status, answer = await post(api, "/v1/findings/1/delete", body)
    assert status == 404
    async with api.post("/v1/findings/1/acknowledge", data=b"{not json", headers=AUTH) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"] == "the body must be a JSON object"
