"""The findings page in a real browser: headless Chromium from the system's packages (never
a downloaded one), driven by Playwright, against the real service (the fake index, fake
Slack) on a random port with a seeded database.

Without Chromium (``WATCHER_TEST_CHROMIUM``, default the Debian package's path) or
Playwright these skip, saying why; with ``WATCHER_TEST_REQUIRE_BROWSER=1`` (CI) they fail
instead. Screenshots go to the test's temporary directory (printed), or to
``WATCHER_TEST_ARTIFACTS`` when set.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from tests.conftest import SettingsFactory, running
from tests.fakes.pypi import FakeIndex
from tests.fakes.slack import FakeSlack
from watcher.store import Database, findings
from watcher.store.base import utcnow
from watcher.store.findings import RiskRecord
from watcher.store.models import Finding

TOKEN = "browser-test-token"
CHROMIUM = os.environ.get("WATCHER_TEST_CHROMIUM", "/usr/bin/chromium")
pytestmark = pytest.mark.timeout(60)


def _unavailable(reason: str) -> None:
    if os.environ.get("WATCHER_TEST_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser tests required (WATCHER_TEST_REQUIRE_BROWSER=1): {reason}")
    pytest.skip(reason)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """A headless system Chromium (skipped, or failed in CI, without one)."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed (pip install playwright)")
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable(
            f"no Chromium at {CHROMIUM} (apt-get install chromium, or set WATCHER_TEST_CHROMIUM)"
        )
    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def artifacts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    where = Path(os.environ.get("WATCHER_TEST_ARTIFACTS") or tmp_path / "screenshots")
    where.mkdir(parents=True, exist_ok=True)
    with capsys.disabled():
        print(f"\n[browser] screenshots in {where}")
    return where


async def seed(db: Database) -> dict[str, int]:
    """A baseline: findings of every risk, over the last days."""
    now = utcnow()
    seeded = [
        ("acme-bi11ing", "acme-billing", "confusable", "critical", 1),
        ("acme-billing-utils", "acme-billing", "affix", "high", 2),
        ("payment-core", "payments-core", "typo", "medium", 3),
        ("acme-tols", "acme-tools", "typo", "low", 5),
        ("<script>x</script>", "acme-tools", "typo", "low", 6),
    ]
    async with db.transaction() as session:
        for public, internal, kind, risk, days in seeded:
            await findings.add_finding(
                session,
                public_name=public,
                internal_name=internal,
                kind=kind,
                detail=f"{public} looks like {internal}",
                now=now - timedelta(days=days),
                risk=RiskRecord.of(risk, "seeded", None),
            )
        rows = await session.scalars(select(Finding))
        return {f.public_name: f.id for f in rows}


async def _until_found(db: Database, public_name: str, within: float = 20) -> int:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        async with db.transaction() as session:
            found = await findings.findings_for(session, public_name)
        if found:
            return found[0].id
        await asyncio.sleep(0.2)
    raise AssertionError(f"no finding for {public_name} within {within}s")


async def test_log_in_filter_open_acknowledge_and_the_api_agrees(
    browser: Any,
    make_settings: SettingsFactory,
    fake_index: FakeIndex,
    fake_slack: FakeSlack,
    db: Database,
    http: aiohttp.ClientSession,
    artifacts: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ids = await seed(db)
    async with running(make_settings(api_token=TOKEN)) as service:
        base = f"http://127.0.0.1:{service.port}"
        context = await browser.new_context(viewport={"width": 1366, "height": 900})
        page = await context.new_page()

        # No session: the login form only.
        await page.goto(f"{base}/ui/")
        assert await page.locator("form.login").count() == 1
        assert await page.locator("text=acme-bi11ing").count() == 0
        await page.keyboard.press("Tab")  # keyboard first: the skip link
        assert await page.evaluate("document.activeElement.textContent") == "Skip to content"
        await page.screenshot(path=str(artifacts / "1-login.png"))
        await page.get_by_label("API token").fill("wrong")
        await page.get_by_label("Your name").fill("Ada Analyst")
        await page.get_by_role("button", name="Log in").click()
        assert "not the API token" in await page.locator("p.error").inner_text()
        await page.get_by_label("API token").fill(TOKEN)
        await page.get_by_label("Your name").fill("Ada Analyst")
        await page.get_by_role("button", name="Log in").click()
        await page.wait_for_url(f"{base}/ui/")

        # The overview, its weight (every response's body) and a squat detected live.
        fake_index.add_release("payments.core", "99.0")
        squat = await _until_found(db, "payments-core")
        sizes: list[int] = []

        async def weigh(response: Any) -> None:
            sizes.append(len(await response.body()))

        page.on("response", weigh)
        await page.reload()
        await page.wait_for_load_state("networkidle")
        page.remove_listener("response", weigh)
        with capsys.disabled():
            print(f"[browser] overview page weight: {sum(sizes)} bytes in {len(sizes)} responses")
        assert 0 < sum(sizes) < 200_000
        overview = await page.locator("main").inner_text()
        assert "payments-core" in overview  # one refresh after its detection
        assert await page.locator("svg.timeline rect").count() >= 5
        # A laptop's width: nothing scrolls sideways.
        assert await page.evaluate("document.documentElement.scrollWidth") <= 1366
        await page.screenshot(path=str(artifacts / "2-overview.png"), full_page=True)

        # The list, filtered; package text shown as text, never run.
        await page.get_by_role("link", name="Findings", exact=True).click()
        assert "<script>x</script>" in await page.locator("table.findings").inner_text()
        await page.get_by_label("Risk").select_option("critical")
        await page.get_by_label("Search").fill("bi11")
        await page.get_by_role("button", name="Filter").click()
        rows = page.locator("table.findings tbody tr")
        assert await rows.count() == 1
        assert "acme-bi11ing" in await rows.first.inner_text()
        await page.screenshot(path=str(artifacts / "3-findings-filtered.png"), full_page=True)

        # One finding: the names compared, acknowledged with a reason.
        await page.get_by_role("link", name="acme-bi11ing").click()
        assert await page.locator("#ours mark").inner_text() == "ll"
        assert await page.locator("#theirs mark").inner_text() == "11"
        await page.get_by_label("Reason").fill("reviewed: reported to the index")
        await page.get_by_role("button", name="Acknowledge").click()
        await page.wait_for_url(f"{base}/ui/findings/{ids['acme-bi11ing']}")
        assert await page.locator(".status-acknowledged").count() >= 1
        await page.screenshot(path=str(artifacts / "4-finding-acknowledged.png"), full_page=True)

        auth = {"Authorization": f"Bearer {TOKEN}"}
        async with http.get(f"{base}/v1/findings/{ids['acme-bi11ing']}", headers=auth) as resp:
            shown = await resp.json()
        assert shown["status"] == "acknowledged"
        last = shown["history"][-1]
        assert (last["actor"], last["reason"]) == ("Ada Analyst", "reviewed: reported to the index")

        # A post without the CSRF token, with the session's cookie: 403, nothing changes.
        forged = await page.request.post(
            f"{base}/ui/findings/{squat}/suppress", form={"reason": "quiet"}
        )
        assert forged.status == 403
        async with http.get(f"{base}/v1/findings/{squat}", headers=auth) as resp:
            assert (await resp.json())["status"] == "open"

        # The live squat was alerted to Slack: acknowledged on the page, its message says so
        # (the seeded finding acknowledged above had no alert: no message was touched).
        await fake_slack.wait_for_messages(1, timeout=10)
        [alert] = [
            m
            for m in fake_slack.messages
            for b in m["blocks"]
            if b["type"] == "actions" and b["elements"][0]["value"] == str(squat)
        ]
        assert fake_slack.updates == []
        await page.goto(f"{base}/ui/findings/{squat}")
        await page.get_by_label("Reason").fill("on it")
        await page.get_by_role("button", name="Acknowledge").click()
        await page.wait_for_url(f"{base}/ui/findings/{squat}")
        [update] = fake_slack.updates
        assert update["ts"] == alert["ts"]
        assert not [b for b in update["blocks"] if b["type"] == "actions"]
        note = update["blocks"][-1]["elements"][0]["text"]
        assert note.startswith("Acknowledged by Ada Analyst at ")
        assert note.endswith(f"(findings {squat})")

        # The name check: the verdict of the check API.
        await page.get_by_role("link", name="Check a name").click()
        await page.get_by_label("Package name").fill("acme-billing")
        await page.get_by_role("button", name="Check").click()
        assert "acme-billing" in await page.locator("#verdict-h").inner_text()
        await page.screenshot(path=str(artifacts / "5-check.png"), full_page=True)
        await context.close()


def test_without_a_browser_it_skips_or_fails_when_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("WATCHER_TEST_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no Chromium"):
        _unavailable("no Chromium at /nowhere")
    monkeypatch.setenv("WATCHER_TEST_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="required"):
        _unavailable("no Chromium at /nowhere")
