"""The findings page (``/ui/``) served for real (aiohttp's TestServer) on a migrated
database: the login and its cookie, CSRF on every form, escaping of package text, the
list's filters and pages, one finding and its actions, the overview and the name check."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, date, datetime, timedelta
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
from watcher.store import Database, findings
from watcher.store.base import utcnow
from watcher.store.findings import RiskRecord
from watcher.web import create_app
from watcher.web.ui.diff import Segment, name_diff
from watcher.web.ui.timeline import timeline

TOKEN = "s3cret-api-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
Client = TestClient[web.Request, web.Application]
ClientFactory = Callable[[Database], AbstractAsyncContextManager[Client]]
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
LOGIN_FORM = 'action="/ui/login"'


@pytest.fixture
def make_client(
    http: aiohttp.ClientSession, fake_index: FakeIndex, catalog_file: Path
) -> ClientFactory:
    checker = NameChecker(
        LiveCatalog.of(load_catalog_file(catalog_file)), IndexClient(http, fake_index.base_url)
    )

    @asynccontextmanager
    async def build(database: Database) -> AsyncIterator[Client]:
        app = create_app(checker, database, TOKEN, index_url=fake_index.base_url)
        async with TestClient(TestServer(app)) as client:
            yield client

    return build


@pytest.fixture
async def ui(make_client: ClientFactory, db: Database) -> AsyncIterator[Client]:
    async with make_client(db) as client:
        yield client


async def seed(
    db: Database,
    public: str,
    internal: str,
    kind: str,
    risk: str | None,
    minutes: int = 0,
    detail: str | None = None,
) -> int:
    async with db.transaction() as session:
        await findings.add_finding(
            session,
            public_name=public,
            internal_name=internal,
            kind=kind,
            detail=detail or f"{public} collides with {internal}",
            now=utcnow() - timedelta(hours=2) + timedelta(minutes=minutes),
            risk=RiskRecord.of(risk, "seeded", None) if risk else None,
        )
        return next(f.id for f in await findings.findings_for(session, public) if f.kind == kind)


async def login(client: Client, name: str = "Ada Analyst") -> str:
    """Log in; the CSRF token of the session."""
    async with client.post(
        "/ui/login", data={"token": TOKEN, "name": name, "next": "/ui/findings"}
    ) as resp:
        assert resp.status == 200, await resp.text()  # followed the redirect
        assert resp.url.path == "/ui/findings"
        found = CSRF.search(await resp.text())
    assert found is not None
    return found.group(1)


async def page(client: Client, path: str, expect: int = 200, **params: Any) -> str:
    async with client.get(path, params=params) as resp:
        body = await resp.text()
        assert resp.status == expect, body
        return body


async def api_finding(client: Client, finding_id: int) -> Any:
    async with client.get(f"/v1/findings/{finding_id}", headers=AUTH) as resp:
        assert resp.status == 200
        return await resp.json()


def ids_shown(body: str) -> list[int]:
    return [int(v) for v in re.findall(r'name="id" value="(\d+)"', body)]


async def test_without_a_session_every_page_is_the_login_form_only(
    ui: Client, db: Database
) -> None:
    finding_id = await seed(db, "acme-billing", "acme-billing", "exact", "critical")
    for path in ("/ui/", "/ui/findings", f"/ui/findings/{finding_id}", "/ui/check"):
        body = await page(ui, path, 401)
        assert LOGIN_FORM in body
        assert "acme-billing" not in body
        assert "Log out" not in body
    # The bearer token is not a session: /ui/ is behind the cookie, not the header.
    async with ui.get("/ui/findings", headers=AUTH) as resp:
        assert resp.status == 401
        assert LOGIN_FORM in await resp.text()
    # /v1/ is unchanged: the header still, the cookie never.
    await login(ui)
    async with ui.get("/v1/findings") as resp:
        assert resp.status == 401


async def test_wrong_token_shows_the_form_again_and_sets_no_cookie(ui: Client) -> None:
    async with ui.post("/ui/login", data={"token": "guess", "name": "Mallory"}) as resp:
        assert resp.status == 401
        body = await resp.text()
    assert LOGIN_FORM in body
    assert "not the API token" in body
    assert "watcher_ui" not in resp.cookies
    assert LOGIN_FORM in await page(ui, "/ui/", 401)


async def test_login_sets_a_strict_http_only_cookie_and_logout_ends_it(ui: Client) -> None:
    async with ui.post(
        "/ui/login", data={"token": TOKEN, "name": "Ada"}, allow_redirects=False
    ) as resp:
        assert resp.status == 303
        assert resp.headers["Location"] == "/ui/"
        cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Path=/ui/" in cookie
    assert "Secure" not in cookie  # plain http here: a Secure cookie would never come back
    assert TOKEN not in cookie
    body = await page(ui, "/ui/")
    assert "Signed in as Ada" in body
    assert "Open findings" in body
    csrf = CSRF.search(body)
    assert csrf is not None
    async with ui.post("/ui/logout", data={"csrf": csrf.group(1)}) as resp:
        assert resp.url.path == "/ui/login"
    assert LOGIN_FORM in await page(ui, "/ui/", 401)


async def test_an_altered_cookie_is_no_session(ui: Client) -> None:
    await login(ui, "Ada")
    cookie = next(c for c in ui.session.cookie_jar if c.key == "watcher_ui")
    sid, actor, expires, signature = cookie.value.split(".")
    forged = f"{sid}.{actor}.{int(expires) + 10**6}.{signature}"
    ui.session.cookie_jar.update_cookies({"watcher_ui": forged}, ui.make_url("/ui/"))
    assert LOGIN_FORM in await page(ui, "/ui/", 401)


@pytest.mark.parametrize("csrf", [None, "", "0" * 64])
async def test_a_forged_post_changes_nothing(ui: Client, db: Database, csrf: str | None) -> None:
    finding_id = await seed(db, "acme-billing", "acme-billing", "exact", "critical")
    await login(ui)
    form = {"reason": "quiet please"} if csrf is None else {"reason": "quiet", "csrf": csrf}
    async with ui.post(f"/ui/findings/{finding_id}/suppress", data=form) as resp:
        assert resp.status == 403
    bulk = {**form, "action": "suppress", "id": str(finding_id)}
    async with ui.post("/ui/findings/bulk", data=bulk) as resp:
        assert resp.status == 403
    async with ui.post("/ui/logout", data=form) as resp:
        assert resp.status == 403
    shown = await api_finding(ui, finding_id)
    assert (shown["status"], len(shown["history"])) == ("open", 1)
    assert "Log out" in await page(ui, "/ui/")  # still logged in


async def test_a_post_without_a_session_changes_nothing(
    ui: Client, make_client: ClientFactory, db: Database
) -> None:
    finding_id = await seed(db, "acme-billing", "acme-billing", "exact", "critical")
    csrf = await login(ui)
    async with make_client(db) as stranger:  # a valid token of another session, no cookie
        data = {"csrf": csrf, "reason": "x"}
        async with stranger.post(f"/ui/findings/{finding_id}/acknowledge", data=data) as resp:
            assert resp.status == 403
    assert (await api_finding(ui, finding_id))["status"] == "open"


async def test_package_text_is_escaped(ui: Client, db: Database) -> None:
    hostile = "<script>alert(1)</script>"
    finding_id = await seed(
        db,
        hostile,
        "acme-billing",
        "typo",
        "high",
        detail=f'"><img src=x onerror=alert(2)>{hostile}',
    )
    await login(ui, name="<b>Eve</b>")
    for body in (
        await page(ui, "/ui/findings"),
        await page(ui, f"/ui/findings/{finding_id}"),
        await page(ui, "/ui/"),
    ):
        assert "<script>" not in body
        assert "<img" not in body
        assert "<b>Eve" not in body
        assert "&lt;script&gt;" in body


async def test_the_list_filters_sorts_and_pages(ui: Client, db: Database) -> None:
    low = await seed(db, "acme-bilin", "acme-billing", "typo", "low", minutes=5)
    exact = await seed(db, "acme-billing", "acme-billing", "exact", "critical", minutes=1)
    newer = await seed(db, "payments-core", "payments-core", "exact", "critical", minutes=2)
    legacy = await seed(db, "acme-tools", "acme", "prefix", None, minutes=3)  # kind: high
    await login(ui)

    async def ids(**params: str) -> list[int]:
        async with ui.get("/ui/findings", params=params) as resp:
            assert resp.status == 200
            return ids_shown(await resp.text())

    assert await ids() == [newer, exact, legacy, low]
    assert await ids(risk="high") == [legacy]
    assert await ids(kind="exact") == [newer, exact]
    assert await ids(internal="Acme_Billing") == [exact, low]
    assert await ids(q="PAYMENTS") == [newer]
    assert await ids(q="billing") == [exact, low]
    assert await ids(q="%") == []  # a wildcard is a character to find, not a pattern
    assert await ids(status="open", risk="critical") == [newer, exact]
    assert await ids(status="suppressed") == []
    body = await page(ui, "/ui/findings", 400, risk="severe")
    assert "risk: &#39;severe&#39; is not one of" in body

    for n in range(52):
        await seed(db, f"bulk-{n:02d}", "acme-billing", "typo", "medium", minutes=10 + n)
    first = await page(ui, "/ui/findings", risk="medium")
    assert len(ids_shown(first)) == 50
    following = re.search(r'href="/ui/findings\?([^"]+)" rel="next"', first)
    assert following is not None
    query = following.group(1).replace("&amp;", "&")
    second = ids_shown(await page(ui, f"/ui/findings?{query}"))
    assert len(second) == 2
    assert not set(second) & set(ids_shown(first))


async def test_bulk_acknowledge_with_a_reason(ui: Client, db: Database) -> None:
    one = await seed(db, "acme-bilin", "acme-billing", "typo", "low")
    two = await seed(db, "acme-billing", "acme-billing", "exact", "critical")
    three = await seed(db, "payments-core", "payments-core", "exact", "critical")
    csrf = await login(ui, "Ada")
    data = [("csrf", csrf), ("action", "acknowledge"), ("reason", "baseline review")]
    data += [("id", str(one)), ("id", str(two)), ("back", "/ui/findings?status=open")]
    async with ui.post("/ui/findings/bulk", data=data) as resp:
        assert resp.status == 200
        assert resp.url.path == "/ui/findings"
        body = await resp.text()
    assert "2 changed" in body
    assert ids_shown(body) == [three]  # the list it came from: open only
    shown = await api_finding(ui, one)
    assert shown["status"] == "acknowledged"
    last = shown["history"][-1]
    assert (last["actor"], last["reason"], last["action"]) == (
        "Ada",
        "baseline review",
        "acknowledge",
    )
    # No reason: nothing changes.
    data = [("csrf", csrf), ("action", "suppress"), ("reason", " "), ("id", str(three))]
    async with ui.post("/ui/findings/bulk", data=data) as resp:
        assert resp.status == 400
    assert (await api_finding(ui, three))["status"] == "open"


async def test_one_finding_its_diff_and_its_actions(ui: Client, db: Database) -> None:
    finding_id = await seed(db, "acme-bi11ing", "acme-billing", "confusable", "high")
    csrf = await login(ui, "Ada")
    body = await page(ui, f"/ui/findings/{finding_id}")
    assert "<mark" in body
    assert ">ll</mark>" in body
    assert ">11</mark>" in body
    assert "/project/acme-bi11ing/" in body  # the index's project page
    assert f'formaction="/ui/findings/{finding_id}/acknowledge"' in body
    assert "/reopen" not in body  # not allowed while open
    data = {"csrf": csrf, "reason": "looked at it"}
    async with ui.post(f"/ui/findings/{finding_id}/acknowledge", data=data) as resp:
        assert resp.status == 200
        assert resp.url.path == f"/ui/findings/{finding_id}"
        body = await resp.text()
    assert "looked at it" in body
    assert "status-acknowledged" in body
    shown = await api_finding(ui, finding_id)
    assert shown["status"] == "acknowledged"
    assert (shown["history"][-1]["actor"], shown["history"][-1]["via"]) == ("Ada", "api")
    # Acknowledged twice: refused (409), nothing more in the history.
    async with ui.post(f"/ui/findings/{finding_id}/acknowledge", data=data) as resp:
        assert resp.status == 409
    assert len((await api_finding(ui, finding_id))["history"]) == 2
    for verb in ("resolve", "reopen"):
        async with ui.post(f"/ui/findings/{finding_id}/{verb}", data=data) as resp:
            assert resp.status == 200
    assert (await api_finding(ui, finding_id))["status"] == "open"
    assert "finding 99999" in (await page(ui, "/ui/findings/99999", 404)).lower()


async def test_the_overview_counts_and_the_name_check(ui: Client, db: Database) -> None:
    await seed(db, "acme-bilin", "acme-billing", "typo", "low")
    await seed(db, "acme-billing", "acme-billing", "exact", "critical")
    await login(ui)
    body = await page(ui, "/ui/")
    assert "Open findings: 2" in body
    assert 'href="/ui/findings?status=open&amp;risk=critical&amp;kind=exact">1</a>' in body
    assert "<svg" in body
    assert "2 findings first seen" in body
    assert "acme-bilin" in body  # changed in the last 24 h
    body = await page(ui, "/ui/check", name="acme-billing")
    assert "The full verdict" in body
    assert "acme-billing" in body
    assert "invalid project name" in (await page(ui, "/ui/check", 400, name="not a name")).lower()


async def test_the_stylesheet_is_served_from_the_package(ui: Client) -> None:
    async with ui.get("/ui/static/ui.css") as resp:
        assert resp.status == 200
        assert resp.content_type == "text/css"
        assert "mark" in await resp.text()


def test_name_diff_marks_swapped_added_and_missing_characters() -> None:
    diff = name_diff("acme-billing", "acme-bi11ing")
    assert Segment("replaced", "ll") in diff.ours
    assert Segment("replaced", "11") in diff.theirs
    diff = name_diff("acme-billing", "acme-billings")
    assert diff.theirs[-1] == Segment("added", "s")
    assert not diff.identical
    diff = name_diff("acme-billing", "acme-biling")
    assert Segment("missing", "l") in diff.ours
    assert name_diff("same", "same").identical


def test_timeline_stacks_days_by_risk() -> None:
    start = date(2026, 5, 1)
    chart = timeline(
        {(start, "critical"): 2, (start, "low"): 2, (date(2026, 5, 3), "low"): 1}, start, 7
    )
    assert (chart.total, chart.peak) == (5, 4)
    first = [b for b in chart.bars if b.day == start]
    assert [b.risk for b in first] == ["critical", "low"]
    assert first[0].y > first[1].y  # the highest risk at the bottom
    assert sum(b.height for b in first) == pytest.approx(chart.baseline - 10, abs=0.2)
    assert datetime(2026, 5, 1, tzinfo=UTC).date() == chart.bars[0].day


async def test_over_https_the_cookie_is_secure(ui: Client) -> None:
    headers = {"X-Forwarded-Proto": "https"}  # TLS ended by the ingress in front
    data = {"token": TOKEN, "name": "Ada"}
    async with ui.post("/ui/login", data=data, headers=headers, allow_redirects=False) as resp:
        assert resp.status == 303
        cookie = resp.headers["Set-Cookie"]
    assert "Secure" in cookie
    assert "HttpOnly" in cookie


async def test_without_a_configured_token_the_login_asks_a_name_only(
    http: aiohttp.ClientSession, fake_index: FakeIndex, catalog_file: Path, db: Database
) -> None:
    checker = NameChecker(
        LiveCatalog.of(load_catalog_file(catalog_file)), IndexClient(http, fake_index.base_url)
    )
    async with TestClient(TestServer(create_app(checker, db, None))) as client:
        body = await page(client, "/ui/findings", 401)
        assert 'name="token"' not in body
        assert 'name="name"' in body
        async with client.post("/ui/login", data={"name": "  "}) as resp:
            assert resp.status == 400
        async with client.post("/ui/login", data={"name": "Ada"}) as resp:
            assert resp.status == 200
            assert "Signed in as Ada" in await resp.text()
        assert "project" not in await page(client, "/ui/findings")  # no index URL, no link
