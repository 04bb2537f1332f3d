"""``watcher catalog show`` and ``watcher catalog check``: what the catalog holds, by source,
and whether every private index answers now."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from packaging.utils import NormalizedName

from tests.fakes.pypi import FakeIndex
from tests.support import closed_port, write_raw
from watcher.catalog.model import InternalPackage
from watcher.cli import main
from watcher.pypi.models import DistFile
from watcher.store import Database
from watcher.store import catalog as catalog_store
from watcher.store.catalog import CatalogStatus

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
PASSWORD = "hunter2-index-secret"


def catalog(path: Path, url: str) -> Path:
    write_raw(
        path,
        'names = ["Payments_Core"]\nprefixes = ["acme"]\nowners = ["acme-corp"]\n\n'
        f'[[indexes]]\nurl = "{url}"\nusername_env = "IDX_USER"\npassword_env = "IDX_PASS"\n',
    )
    return path


@pytest.fixture
def index_env(clean_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDX_USER", "reader")
    monkeypatch.setenv("IDX_PASS", PASSWORD)


def test_show_without_a_database_lists_the_file_and_creates_nothing(
    index_env: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = "http://127.0.0.1:9/simple/"
    monkeypatch.setenv("WATCHER_CATALOG", str(catalog(tmp_path / "c.toml", url)))
    monkeypatch.setenv("WATCHER_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    assert main(["catalog", "show"]) == 0
    out = capsys.readouterr().out
    assert "Payments_Core  [file]  versions unknown" in out
    assert f"index {url}: 0 names; loaded never; ERROR: never loaded" in out
    assert "prefixes: acme" in out
    assert not (tmp_path / "w.db").exists()


async def test_show_json_gives_the_stored_loads_versions_and_mirrors(
    index_env: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = "http://127.0.0.1:9/simple/"
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'w.db'}"
    db = Database(db_url)
    await db.upgrade()
    billing = InternalPackage(
        "Acme_Billing", url, ("1.0", "4.2.0"), (DistFile("acme_billing-4.2.0.tar.gz", "a" * 64),)
    )
    async with db.transaction() as session:
        await catalog_store.save_index(
            session,
            url,
            {NormalizedName("acme-billing"): billing},
            {NormalizedName("requests"): "same files as the public project (2 of 2 by sha256)"},
            {},
            T0,
        )
        await catalog_store.save_loaded(
            session, CatalogStatus(url, None, T0, 1, 0, 0, 0, None, None, mirrored=1)
        )
        await catalog_store.save_error(session, url, "HTTP 503 (after 4 attempts)", T0)
    await db.close()
    monkeypatch.setenv("WATCHER_CATALOG", str(catalog(tmp_path / "c.toml", url)))
    monkeypatch.setenv("WATCHER_DATABASE_URL", db_url)

    assert await asyncio.to_thread(main, ["catalog", "show", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)

    names = {n["name"]: n for n in document["names"]}
    assert names["acme-billing"] == {
        "name": "acme-billing",
        "display": "Acme_Billing",
        "sources": [url],
        "versions": ["1.0", "4.2.0"],
        "highest": "4.2.0",
    }
    assert names["payments-core"]["sources"] == ["file"]
    assert names["payments-core"]["versions"] is None
    assert document["mirrored"] == [
        {
            "name": "requests",
            "reason": f"same files as the public project (2 of 2 by sha256) (on {url})",
        }
    ]
    [index] = [s for s in document["sources"] if s["kind"] == "index"]
    assert index["names"] == 1
    assert index["mirrored"] == 1
    assert index["error"] == "HTTP 503 (after 4 attempts)"
    assert index["failing_since"] == T0.isoformat()


async def test_check_reads_every_index_and_says_which_failed(
    index_env: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with FakeIndex() as private:
        private.add_release("acme-billing", "1.0")
        private.add_release("acme-billing", "4.2.0")
        good = f"{private.base_url}/simple/"
        path = catalog(tmp_path / "c.toml", good)
        monkeypatch.setenv("WATCHER_CATALOG", str(path))
        monkeypatch.setenv("WATCHER_HTTP_RETRIES", "0")
        assert await asyncio.to_thread(main, ["catalog", "check"]) == 0
        out = capsys.readouterr().out
        assert "catalog file" in out
        assert f"index {good}: 1 projects, 2 versions" in out
        # The index's requests carried the credentials from the environment.
        assert any("Authorization" in r.headers for r in private.requests)

    down = f"http://127.0.0.1:{closed_port()}/simple/"
    catalog(path, down)
    assert await asyncio.to_thread(main, ["catalog", "check"]) == 1
    err = capsys.readouterr().err
    assert f"index {down}: FAILED" in err
    assert PASSWORD not in err


def test_check_refuses_a_bad_file_with_exit_2(
    clean_env: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = tmp_path / "c.toml"
    write_raw(bad, '[[indexes]]\nurl = "https://reader:hunter2@host/simple/"\n')
    monkeypatch.setenv("WATCHER_CATALOG", str(bad))
    assert main(["catalog", "check"]) == 2
    err = capsys.readouterr().err
    assert "url must not hold credentials" in err
    assert "hunter2" not in err
