"""``GET /v1/names/{name}`` answered from what the store knows: no index request for a known
name, public look-alikes, whether the index would accept the name (watcher.checks)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.fakes.pypi import FakeIndex
from tests.unit.web.test_web_api import sqlite_db
from watcher.catalog import load_catalog_file
from watcher.checks import NameChecker
from watcher.matching.live import LiveCatalog
from watcher.matching.public_index import PublicIndex
from watcher.matching.public_names import PublicNames
from watcher.pypi import IndexClient
from watcher.store import Database
from watcher.store.base import utcnow
from watcher.store.known import FindingBrief, StoredProject
from watcher.web import create_app
from watcher.web.lookups import IndexLookups

__all__ = ["sqlite_db"]

Client = TestClient[web.Request, web.Application]
PUBLIC = ["payments-core", "acme-biling", "acmebilling", "requests", "reqeusts"]


class Details:
    """What the store keeps: one squat of ours with an open finding."""

    def project(self, name: str) -> StoredProject | None:
        if name != "payments-core":
            return None
        return StoredProject(
            name="Payments.Core",
            latest_version="99.0",
            first_release=datetime(2026, 11, 1, tzinfo=UTC),
            owners=("mallory",),
            ours=False,
            findings=(FindingBrief(7, "payments-core", "exact", "open", "critical"),),
        )


@pytest.fixture
async def api(
    http: aiohttp.ClientSession, fake_index: FakeIndex, catalog_file: Path, sqlite_db: Database
) -> AsyncIterator[tuple[Client, PublicNames]]:
    for name in PUBLIC:
        fake_index.add_release(name, "1.0")
    known = PublicNames()
    known.replace(PublicIndex(sorted(PUBLIC)), utcnow())
    # The API's own look-ups (limited, shared, reused), as the service wires them.
    client = IndexLookups(
        IndexClient(http, fake_index.base_url, retries=1, backoff=0.01), concurrency=8
    )
    checker = NameChecker(
        LiveCatalog.of(load_catalog_file(catalog_file)),
        client,
        confirm_index=True,
        known=known,
        details=Details(),
    )
    async with TestClient(TestServer(create_app(checker, sqlite_db, None))) as test_client:
        yield test_client, known


async def verdict(client: Client, name: str) -> dict[str, Any]:
    async with client.get(f"/v1/names/{name}") as resp:
        assert resp.status == 200, await resp.text()
        answer: dict[str, Any] = await resp.json()
        return answer


def project_requests(index: FakeIndex, name: str) -> int:
    return sum(1 for r in index.requests if name in r.path)


async def test_a_known_name_is_answered_without_asking_the_index(
    api: tuple[Client, PublicNames], fake_index: FakeIndex
) -> None:
    client, known = api
    answer = await verdict(client, "payments_core")
    assert answer["public_exists"] is True
    assert answer["basis"]["source"] == "store"
    assert answer["basis"]["as_of"] == known.as_of.isoformat()  # type: ignore[union-attr]
    assert answer["risk"] == "critical"
    assert project_requests(fake_index, "payments") == 0
    assert answer["index_would_accept"] == {
        "accepted": False,
        "reason": "the name is taken: the project exists",
    }


async def test_an_unknown_name_is_asked_and_a_new_name_gets_its_public_look_alikes(
    api: tuple[Client, PublicNames], fake_index: FakeIndex
) -> None:
    client, _ = api
    answer = await verdict(client, "acme-billing")
    assert answer["basis"]["source"] == "index"  # not known: asked, never assumed free
    assert answer["public_exists"] is False
    assert project_requests(fake_index, "acme-billing") >= 1
    lookalikes = {m["public_name"]: m["kind"] for m in answer["public_lookalikes"]}
    assert set(lookalikes) == {"acme-biling", "acmebilling"}
    assert answer["public_lookalikes_total"] == 2
    # "acmebilling" is the same name once separators are dropped: the index would refuse it.
    assert answer["index_would_accept"]["accepted"] is False
    assert "acmebilling" in answer["index_would_accept"]["reason"]


async def test_standard_library_names_and_free_names(api: tuple[Client, PublicNames]) -> None:
    client, _ = api
    answer = await verdict(client, "os.path")
    assert answer["index_would_accept"]["accepted"] is False
    assert "os.path" in answer["index_would_accept"]["reason"]
    answer = await verdict(client, "totally-new-name-2026")
    assert answer["index_would_accept"]["accepted"] is True
    assert answer["public_lookalikes"] == []


async def test_a_squat_we_stored_comes_with_its_project_findings_and_what_to_do(
    api: tuple[Client, PublicNames],
) -> None:
    client, _ = api
    answer = await verdict(client, "payments-core")
    assert answer["public_project"] == {
        "name": "Payments.Core",
        "latest_version": "99.0",
        "first_release": "2026-11-01T00:00:00+00:00",
        "owners": ["mallory"],
        "ours": False,
    }
    assert answer["findings"] == [
        {
            "id": 7,
            "internal_name": "payments-core",
            "kind": "exact",
            "status": "open",
            "risk": "critical",
        }
    ]
    assert answer["our_versions"] == []  # internal, no private index lists versions
    assert answer["remediation"].startswith("Someone else holds our internal name publicly")
    free = await verdict(client, "internal-tool")
    assert free["reason"] == "internal, not on the public index (anyone could register it)"
    assert "placeholder" in free["remediation"]
    assert "public_project" not in free


async def test_an_unknown_name_while_the_index_is_down_says_what_the_store_knows(
    api: tuple[Client, PublicNames], fake_index: FakeIndex
) -> None:
    client, known = api
    fake_index.fail("/simple/", 500, times=None)
    async with client.get("/v1/names/acme-never-seen") as resp:
        assert resp.status == 503
        body = await resp.json()
    assert body["risk"] == "unknown"  # never "free"
    assert body["stored_listing"] == {"listed": False, "as_of": known.as_of.isoformat()}  # type: ignore[union-attr]
    async with client.get("/v1/names/payments-core") as resp:  # known: no need to ask
        assert resp.status == 200


async def test_details_of_a_project_the_store_does_not_keep_are_asked_once_and_reused(
    api: tuple[Client, PublicNames], fake_index: FakeIndex
) -> None:
    client, _ = api
    plain = await verdict(client, "requests")
    assert "public_project" not in plain  # not asked unless wanted
    assert project_requests(fake_index, "/pypi/requests/") == 0

    async def detailed() -> dict[str, Any]:
        async with client.get("/v1/names/requests?details=true") as resp:
            assert resp.status == 200
            answer: dict[str, Any] = await resp.json()
            return answer

    answers = await asyncio.gather(*(detailed() for _ in range(5)))
    answers.append(await detailed())
    assert project_requests(fake_index, "/pypi/requests/") == 1  # shared, then reused
    assert {a["public_project"]["latest_version"] for a in answers} == {"1.0"}
    assert answers[0]["public_project"]["name"] == "requests"
    assert answers[0]["public_project"]["ours"] is False
