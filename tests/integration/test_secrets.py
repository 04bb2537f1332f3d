"""Secrets stay secret in the running service: the mirror's credentials in WATCHER_PYPI_URL,
the Slack token and the API token appear in no log line and no API answer."""

from __future__ import annotations

import logging

import aiohttp
import pytest

from tests.conftest import SettingsFactory, running
from tests.fakes.pypi import FakeIndex
from tests.support import until

PASSWORD = "m1rror-Pa55word"
API_TOKEN = "api-token-for-the-test"


async def test_credentials_in_the_index_url_are_never_logged_or_shown(
    make_settings: SettingsFactory,
    fake_index: FakeIndex,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    scheme, _, rest = fake_index.base_url.partition("://")
    settings = make_settings(
        pypi_url=f"{scheme}://mirror-bot:{PASSWORD}@{rest}",
        api_token=API_TOKEN,
        poll_interval=0.2,
        reconcile_interval=3600,
    )
    fake_index.fail("/rss/", 503, times=None)  # every poll fails, naming the feed's URL
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    async with running(settings) as service:
        url = f"http://127.0.0.1:{service.port}"

        async def feeds_failed_twice() -> bool:
            async with http.get(f"{url}/healthz") as resp:
                feeds = (await resp.json())["sources"]["feeds"]
            return int(feeds.get("failures", 0)) >= 2

        await until(feeds_failed_twice, 15, "two failed polls")
        async with http.get(f"{url}/healthz") as resp:
            health = await resp.text()
        async with http.get(f"{url}/v1/status", headers=headers) as resp:
            status = await resp.text()
        fake_index.fail("/simple/", 503, times=None)
        async with http.get(f"{url}/v1/names/acme-billing", headers=headers) as resp:
            assert resp.status == 503
            verdict = await resp.text()

    for shown in (health, status, verdict):
        assert PASSWORD not in shown
        assert "mirror-bot:" not in shown
    assert "index unavailable for" in verdict  # the reason is still given, masked
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert f"watching {scheme}://***@{rest}" in logged
    assert settings.slack_token is not None
    for secret in (PASSWORD, "mirror-bot:", API_TOKEN, settings.slack_token.get_secret_value()):
        assert secret not in logged
