"""The catalog read from private indexes, through the running service: a real pypiserver
(HTML, basic auth) and the simulator as a JSON index that mirrors public projects.

Issue 11's acceptance: versions decide the risk of an exact squat; the last good load
protects the names while the index is down, also across a restart; a package added to
the private index that already exists publicly is alerted within one reload interval; a
mirror of public projects does not turn them into internal names; credentials never show.
"""

from __future__ import annotations

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
from tests.support import build_sdist, build_wheel, pypiserver, until, write_htpasswd, write_raw
from watcher.app import Service

USER, PASSWORD = "ci-reader", "s3cret-Pa55-word"


@pytest.fixture
def index_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_INDEX_USER", USER)
    monkeypatch.setenv("ACME_INDEX_PASSWORD", PASSWORD)


def private_catalog(path: Path, url: str, *, auth: bool = True, names: str = "") -> None:
    credentials = (
        'username_env = "ACME_INDEX_USER"\npassword_env = "ACME_INDEX_PASSWORD"\n' if auth else ""
    )
    write_raw(
        path,
        f'{names}owners = ["acme-corp"]\n\n[[indexes]]\nurl = "{url}"\n{credentials}',
    )


def publish(folder: Path, name: str, *versions: str) -> None:
    for version in versions:
        build_wheel(folder, name, version)
        build_sdist(folder, name, version)


async def status(http: aiohttp.ClientSession, service: Service) -> dict[str, Any]:
    async with http.get(f"http://127.0.0.1:{service.port}/v1/status") as resp:
        assert resp.status == 200
        body: dict[str, Any] = await resp.json()
        return body


async def index_state(http: aiohttp.ClientSession, service: Service, url: str) -> dict[str, Any]:
    """The status of the private index ``url`` (empty before its first load or failure)."""
    entries = [c for c in (await status(http, service))["catalog"] if c["source"] == url]
    assert len(entries) <= 1
    return dict(entries[0]) if entries else {"names": 0, "last_error": None, "mirrored": 0}


@asynccontextmanager
async def private_index(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    """pypiserver with basic auth, holding acme-billing 1.0 and 4.2.0 (wheel and sdist)."""
    packages = tmp_path / "packages"
    packages.mkdir()
    publish(packages, "acme-billing", "1.0", "4.2.0")
    htpasswd = tmp_path / "htpasswd"
    write_htpasswd(htpasswd, {USER: PASSWORD})
    async with pypiserver(packages, htpasswd=htpasswd) as url:
        yield url, packages


async def loaded(
    http: aiohttp.ClientSession, service: Service, url: str, names: int = 1, mirrored: int = 0
) -> None:
    """Wait until the service has loaded the private index ``url`` with that many names."""

    async def done() -> bool:
        state = await index_state(http, service, url)
        return bool(state["names"] == names and state["mirrored"] == mirrored)

    await until(done, 30, f"the private index's load of {names} names")


def squat_texts(slack: FakeSlack, name: str) -> list[str]:
    return [str(m.get("text", "")) for m in slack.messages if name in str(m.get("text", ""))]


async def test_versions_on_the_private_index_decide_the_risk_of_an_exact_squat(
    index_env: None,
    tmp_path: Path,
    make_settings: SettingsFactory,
    catalog_file: Path,
    fake_index: FakeIndex,
    fake_slack: FakeSlack,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with private_index(tmp_path) as (url, _):
        private_catalog(catalog_file, url)
        async with running(make_settings(index_reload_interval=1.0)) as service:
            await loaded(http, service, url)
            fake_index.add_release("acme-billing", "99.0", owners=("mallory",))
            await fake_slack.wait_for_messages(1, timeout=20)
            [text] = squat_texts(fake_slack, "acme-billing")
            blocks = str(fake_slack.messages[0].get("blocks"))
            assert "99.0" in text
            assert "critical" in blocks
            assert "4.2.0" in blocks  # our highest, next to theirs
            document = await status(http, service)
    logged = caplog.text
    assert PASSWORD not in logged
    assert PASSWORD not in str(document)
    assert PASSWORD not in str(fake_slack.messages)


async def test_a_public_version_below_ours_is_high_not_critical(
    index_env: None,
    tmp_path: Path,
    make_settings: SettingsFactory,
    catalog_file: Path,
    fake_index: FakeIndex,
    fake_slack: FakeSlack,
    http: aiohttp.ClientSession,
) -> None:
    async with private_index(tmp_path) as (url, _):
        private_catalog(catalog_file, url)
        async with running(make_settings(index_reload_interval=1.0)) as service:
            await loaded(http, service, url)
            fake_index.add_release("acme-billing", "0.0.1", owners=("mallory",))
            await fake_slack.wait_for_messages(1, timeout=20)
    blocks = str(fake_slack.messages[0].get("blocks"))
    assert "0.0.1" in str(fake_slack.messages[0].get("text"))
    assert "high" in blocks
    assert "critical" not in blocks


async def test_the_last_good_load_protects_across_a_restart_while_the_index_is_down(
    index_env: None,
    tmp_path: Path,
    make_settings: SettingsFactory,
    catalog_file: Path,
    fake_index: FakeIndex,
    fake_slack: FakeSlack,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = make_settings(index_reload_interval=1.0)
    async with private_index(tmp_path) as (url, _):
        private_catalog(catalog_file, url)
        async with running(settings) as service:
            await loaded(http, service, url)
    # The index is gone (its port closed); the service starts again all the same.
    caplog.clear()
    caplog.set_level(logging.DEBUG)
    async with running(settings) as service:

        async def failing() -> bool:
            state = await index_state(http, service, url)
            return bool(state["last_error"] is not None)

        await until(failing, 30, "the private index's failure to show in the status")
        state = await index_state(http, service, url)
        assert state["names"] == 1  # still protected
        assert state["failing_since"] is not None
        assert "still protecting its 1 names" in caplog.text
        fake_index.add_release("Acme_Billing", "99.0", owners=("mallory",))
        await fake_slack.wait_for_messages(1, timeout=20)
        assert squat_texts(fake_slack, "Acme_Billing")
        document = await status(http, service)
    assert PASSWORD not in caplog.text
    assert USER not in caplog.text  # the user name is a credential too
    assert PASSWORD not in str(document)


async def test_a_package_added_privately_that_exists_publicly_is_alerted_on_reload(
    index_env: None,
    tmp_path: Path,
    make_settings: SettingsFactory,
    catalog_file: Path,
    fake_index: FakeIndex,
    fake_slack: FakeSlack,
    http: aiohttp.ClientSession,
) -> None:
    fake_index.add_release("acme-ledger", "0.1", owners=("mallory",))  # public first
    async with private_index(tmp_path) as (url, packages):
        private_catalog(catalog_file, url)
        async with running(make_settings(index_reload_interval=1.0)) as service:
            await loaded(http, service, url)
            assert not squat_texts(fake_slack, "acme-ledger")
            publish(packages, "acme-ledger", "2.0")  # our new package, its name taken
            await fake_slack.wait_for_messages(1, timeout=20)
            assert squat_texts(fake_slack, "acme-ledger")


async def test_a_mirror_of_public_projects_does_not_make_them_internal(
    tmp_path: Path,
    make_settings: SettingsFactory,
    catalog_file: Path,
    fake_index: FakeIndex,
    fake_slack: FakeSlack,
    http: aiohttp.ClientSession,
) -> None:
    # The public index and a private repository that proxies it (the simulator, JSON).
    for version in ("2.30.0", "2.31.0"):
        fake_index.add_release("requests", version)
    fake_index.add_release("acme-core", "1.0", owners=("mallory",))
    async with FakeIndex() as private:
        for version in ("2.30.0", "2.31.0"):
            private.add_release("requests", version)  # byte for byte the public files
        private.add_release("acme-core", "1.0", variant="ours")  # same version, other files
        private.add_release("acme-billing", "4.2.0")  # ours alone
        url = f"{private.base_url}/simple/"
        private_catalog(catalog_file, url, auth=False)
        async with running(make_settings(index_reload_interval=1.0)) as service:
            await loaded(http, service, url, names=2, mirrored=1)
            # acme-core exists publicly with other files than ours: protected and alerted.
            await fake_slack.wait_for_messages(1, timeout=20)
            assert squat_texts(fake_slack, "acme-core")
            fake_index.add_release("requests", "2.32.0")
            before, start = len(fake_slack.messages), len(fake_index.requests)
            await until(lambda: _polls_since(fake_index, start, 2), 20, "two polls")
            await until(lambda: _idle(http, service), 10, "no pending index events")
    assert len(fake_slack.messages) == before
    assert not squat_texts(fake_slack, "requests")


async def _polls_since(index: FakeIndex, start: int, count: int) -> bool:
    """True once the updates feed was fetched ``count`` times since request ``start``."""
    return sum(r.path == "/rss/updates.xml" for r in index.requests[start:]) >= count


async def _idle(http: aiohttp.ClientSession, service: Service) -> bool:
    return bool((await status(http, service))["pending_index_events"] == 0)


async def test_an_outage_is_alerted_once_after_the_delay_and_its_recovery_once(
    make_settings: SettingsFactory,
    catalog_file: Path,
    fake_slack: FakeSlack,
    http: aiohttp.ClientSession,
) -> None:
    async with FakeIndex() as private:
        private.add_release("acme-billing", "4.2.0")
        url = f"{private.base_url}/simple/"
        private_catalog(catalog_file, url, auth=False)
        settings = make_settings(index_reload_interval=0.3, source_alert_after=1.0)
        async with running(settings) as service:
            await loaded(http, service, url)
            private.fail("/simple/", 503, times=None)

            async def alerted(kind: str) -> bool:
                return any(kind in str(m.get("text")) for m in fake_slack.messages)

            await until(lambda: alerted("private index unreadable since"), 30, "the outage alert")
            assert (await index_state(http, service, url))["names"] == 1  # still protected
            reads = len(private.requests)
            await until(lambda: _reads_since(private, reads, 3), 20, "three more failed reads")
            private.clear_failures()
            await until(lambda: alerted("private index readable again"), 30, "the recovery")
            reads = len(private.requests)
            await until(lambda: _reads_since(private, reads, 3), 20, "three more good reads")
    texts = [str(m.get("text")) for m in fake_slack.messages]
    assert sum("private index unreadable since" in t for t in texts) == 1
    assert sum("private index readable again" in t for t in texts) == 1
    assert all("acme-billing" not in t for t in texts)  # no squat: the index was only down


async def _reads_since(index: FakeIndex, start: int, count: int) -> bool:
    return sum(r.path == "/simple/" for r in index.requests[start:]) >= count
