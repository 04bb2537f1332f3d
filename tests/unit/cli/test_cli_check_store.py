"""``watcher check NAME`` answered from the service's database, as ``GET /v1/names/{name}``
answers from the same store (watcher.cli_check, watcher.checks, watcher.store.known)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from packaging.utils import NormalizedName

from tests.fakes.pypi import FakeIndex
from tests.unit.cli.test_cli_check import cli_env, json_out, run_cli
from watcher.catalog.model import InternalPackage
from watcher.checks import NameChecker
from watcher.matching.live import LiveCatalog, load_view
from watcher.matching.public_names import PublicNames
from watcher.pypi import IndexClient
from watcher.sources.known_names import KnownNames
from watcher.store import Database, listing
from watcher.store import catalog as catalog_store
from watcher.store.models import Finding, JournalState, PublicProject, Release
from watcher.web import create_app
from watcher.web.lookups import IndexLookups

__all__ = ["cli_env"]

Client = TestClient[web.Request, web.Application]
# The public index as the store lists it: a squat of ours, look-alikes of an internal name,
# our own public project, and names unlike any of ours.
LISTED = ["payments-core", "acme-biling", "acmebilling", "acme-public-sdk", "requests"]
FILLER = [f"project-{i}" for i in range(2000)]
NAMES = {
    "internal-tool": "internal, free",
    "some-free-name": "free",
    "payments-core": "squatted, stored with a finding",
    "acme-billing": "internal, with public look-alikes",
    "acme-biling": "a look-alike of ours, public",
    "acme-public-sdk": "ours (allowlisted)",
}
RECONCILED = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
JOURNAL = datetime(2026, 11, 29, 5, 30, tzinfo=UTC)


def row(name: str, serial: int) -> dict[str, Any]:
    return {"normalized_name": name, "name": name, "last_serial": serial, "removed_at": None}


async def seed_squat(db: Database) -> None:
    """The feeds' record of the squat: the project, its first upload, an open finding."""
    async with db.transaction() as session:
        project = PublicProject(
            normalized_name="payments-core",
            name="Payments.Core",
            latest_version="99.0",
            owners=["mallory\x1b[31m"],  # package-supplied: shown escaped
        )
        session.add(project)
        await session.flush()
        session.add(
            Release(
                project_id=project.id,
                version="99.0",
                upload_time=datetime(2026, 11, 1, tzinfo=UTC),
                source="index",
            )
        )
        session.add(
            Finding(
                public_name="payments-core",
                internal_name="payments-core",
                kind="exact",
                detail="d",
                risk="critical",
            )
        )


@pytest.fixture
async def store(db: Database, fake_index: FakeIndex) -> Database:
    """The service's database (SQLite and PostgreSQL): a reconciled listing, the change
    log's cursor and a stored squat."""
    await seed_squat(db)
    async with db.transaction() as session:
        rows = [row(name, serial) for serial, name in enumerate([*LISTED, *FILLER], start=1)]
        await listing.upsert_rows(session, rows)
        await listing.save_state(
            session, serial=len(rows), etag=None, projects=len(rows), now=RECONCILED
        )
        session.add(JournalState(id=1, serial=len(rows), updated_at=JOURNAL))
    for name in LISTED:
        fake_index.add_release(name, "1.0")
    return db


@pytest.fixture
def cli_store(
    cli_env: None, monkeypatch: pytest.MonkeyPatch, store: Database, database_url: str
) -> None:
    monkeypatch.setenv("WATCHER_DATABASE_URL", database_url)


@pytest.fixture
async def api(
    http: aiohttp.ClientSession, fake_index: FakeIndex, catalog_file: Path, store: Database
) -> AsyncIterator[Client]:
    """The service's check API over the same store, wired as the service wires it."""
    known = KnownNames(store, PublicNames())
    await known.refresh()
    lookups = IndexLookups(
        IndexClient(http, fake_index.base_url, retries=1, backoff=0.01), concurrency=8
    )
    checker = NameChecker(
        LiveCatalog(load_view(catalog_file, datetime.now(UTC))),
        lookups,
        confirm_index=True,
        known=known.names,
        details=known,
    )
    async with TestClient(TestServer(create_app(checker, store, None))) as client:
        yield client


def without_read_time(document: dict[str, Any]) -> dict[str, Any]:
    """The verdict without when the store was read (each read its own), which must be
    given exactly when the answer came from the store."""
    basis = document["basis"]
    assert (basis["as_of"] is not None) == (basis["source"] == "store"), basis
    return {**document, "basis": {**basis, "as_of": "read"}}


@pytest.mark.parametrize("name", sorted(NAMES))
async def test_json_is_the_apis_answer_from_the_same_store(
    cli_store: None, api: Client, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    async with api.get(f"/v1/names/{name}") as resp:
        assert resp.status == 200, await resp.text()
        expected = await resp.json()

    assert await run_cli("check", name, "--json") == 0

    answer = json_out(capsys)
    assert without_read_time(answer) == without_read_time(expected)
    # What the store said is in it, not only what the index said.
    assert answer["public_lookalikes"] == expected["public_lookalikes"]
    assert answer["basis"]["source"] == ("store" if name in LISTED else "index")


async def test_json_of_the_store_says_what_it_knows(
    cli_store: None, fake_index: FakeIndex, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run_cli("check", "acme-billing", "--json") == 0
    billing = json_out(capsys)
    assert [(m["public_name"], m["kind"]) for m in billing["public_lookalikes"]] == [
        ("acme-biling", "typo"),
        ("acmebilling", "separator"),
    ]
    assert billing["public_lookalikes_total"] == 2

    assert await run_cli("check", "payments-core", "--json") == 0
    squat = json_out(capsys)
    assert squat["basis"]["source"] == "store"
    assert squat["public_project"]["latest_version"] == "99.0"
    assert squat["public_project"]["first_release"].startswith("2026-11-01T00:00:00")
    assert [(f["kind"], f["status"], f["risk"]) for f in squat["findings"]] == [
        ("exact", "open", "critical")
    ]
    # A listed name is answered from the store: the index is never asked about it.
    assert not any("payments-core" in r.path for r in fake_index.requests)


async def test_human_output_shows_the_store(
    cli_store: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run_cli("check", "acme-billing") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[3] == "  public project exists: no (asked the index just now)"
    start = lines.index("  public look-alikes: 2")
    assert lines[start + 1].split()[:2] == ["typo", "acme-biling"]
    assert lines[start + 1].endswith("(score 0.92)")
    assert lines[start + 2].split()[:2] == ["separator", "acmebilling"]
    assert "index would refuse it: " in lines[start + 3]  # acmebilling, once glued

    before = basis_line()
    assert await run_cli("check", "payments-core") == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[3] in {before, basis_line()}  # an hour may have turned meanwhile
    assert "  public look-alikes: none" in lines
    assert "  stored public project: Payments.Core" in lines
    assert "    latest version:      99.0" in lines
    assert "    first upload:        2026-11-01" in lines
    # An escape sequence from the index never reaches the terminal as one.
    assert "    owners:              mallory\\x1b[31m" in lines
    assert "\x1b" not in out
    assert "  open findings:" in lines
    finding = lines[lines.index("  open findings:") + 1].split()
    assert finding[1:] == ["open", "critical", "exact", "payments-core"]


def basis_line() -> str:
    return (
        f"  public project exists: yes (stored listing, reconciled {ago(RECONCILED)};"
        f" change log applied {ago(JOURNAL)})"
    )


def ago(then: datetime) -> str:
    hours = int((datetime.now(UTC) - then).total_seconds()) // 3600
    when = then.strftime("%Y-%m-%d %H:%M UTC")
    return f"{hours} h ago, {when}" if hours < 48 else f"{hours // 24} days ago, {when}"


@pytest.fixture
async def unreconciled(cli_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A database the feeds wrote to, but no listing was ever applied to."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'new.db'}"
    db = Database(url)
    await db.upgrade()
    try:
        await seed_squat(db)
        async with db.transaction() as session:
            await listing.upsert_rows(session, [row("acme-biling", 1)])  # the change log's
    finally:
        await db.close()
    monkeypatch.setenv("WATCHER_DATABASE_URL", url)


async def test_before_any_listing_the_look_alikes_are_unknown_not_none(
    unreconciled: None, fake_index: FakeIndex, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_index.add_release("payments-core", "99.0")

    assert await run_cli("check", "acme-billing", "--json") == 0
    billing = json_out(capsys)
    assert "public_lookalikes" not in billing  # unknown: never an empty list
    assert billing["basis"] == {"source": "index", "as_of": None}

    assert await run_cli("check", "payments-core", "--json") == 0
    squat = json_out(capsys)
    assert squat["basis"] == {"source": "index", "as_of": None}  # asked, not assumed
    assert squat["public_exists"] is True
    assert squat["findings"][0]["risk"] == "critical"  # what the store keeps is still said

    assert await run_cli("check", "acme-billing") == 0
    lines = capsys.readouterr().out.splitlines()
    assert "  public look-alikes: unknown (no listing of the index stored yet)" in lines


async def test_a_database_that_cannot_be_used_exits_1(
    cli_env: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    fake_index: FakeIndex,
    capsys: pytest.CaptureFixture[str],
) -> None:
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"not a database" * 100)
    monkeypatch.setenv("WATCHER_DATABASE_URL", f"sqlite+aiosqlite:///{broken}")

    assert await run_cli("check", "acme-billing") == 1

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("watcher: cannot use the database ")
    assert fake_index.requests == []  # nothing asked for a verdict that cannot be given


def test_the_read_time_is_checked() -> None:
    with pytest.raises(AssertionError):
        without_read_time({"basis": {"source": "store", "as_of": None}})
    stamp = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    with pytest.raises(AssertionError):
        without_read_time({"basis": {"source": "index", "as_of": stamp}})


async def test_the_catalog_includes_the_private_indexes_last_loads_as_the_service_does(
    cli_store: None,
    store: Database,
    catalog_file: Path,
    fake_index: FakeIndex,
    capsys: pytest.CaptureFixture[str],
) -> None:
    index_url = "http://127.0.0.1:9/simple/"  # never asked: its last good load is stored
    text = await asyncio.to_thread(catalog_file.read_text)
    await asyncio.to_thread(catalog_file.write_text, text + f'\n[[indexes]]\nurl = "{index_url}"\n')
    package = InternalPackage(name="Acme_Private_Lib", source=index_url, versions=("1.0", "2.0"))
    async with store.transaction() as session:
        await catalog_store.save_index(
            session,
            index_url,
            {NormalizedName("acme-private-lib"): package},
            {},
            {},
            datetime(2026, 11, 29, 4, 0, tzinfo=UTC),
        )

    assert await run_cli("check", "acme-private-lib", "--json") == 0

    verdict = json_out(capsys)
    assert verdict["internal"] is True
    assert verdict["our_versions"] == ["1.0", "2.0"]
