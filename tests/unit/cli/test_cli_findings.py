"""``watcher findings list | show | ack | suppress | resolve | reopen`` on a real SQLite
database: every finding listed, details, changes kept with ``via: cli``, exit codes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from watcher.cli import main
from watcher.store import Database, findings
from watcher.store.findings import RiskRecord

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
async def db(
    clean_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Database]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'w.db'}"
    monkeypatch.setenv("WATCHER_DATABASE_URL", url)
    database = Database(url)
    await database.upgrade()
    try:
        yield database
    finally:
        await database.close()


async def seed(db: Database, count: int) -> None:
    async with db.transaction() as session:
        for n in range(count):
            await findings.add_finding(
                session,
                public_name=f"acme-squat-{n}",
                internal_name="acme",
                kind="prefix",
                detail="inside the internal prefix acme",
                now=T0 + timedelta(seconds=n),
                risk=RiskRecord.of("critical" if n % 2 else "medium", "seeded", None),
            )


async def cli(*args: str) -> int:
    return await asyncio.to_thread(main, list(args))


async def test_list_shows_all_200_findings(
    db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    await seed(db, 200)
    assert await cli("findings", "list", "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["count"] == 200
    ids = [f["id"] for f in document["findings"]]
    assert len(set(ids)) == 200
    risks = [f["risk"] for f in document["findings"]]
    assert risks == ["critical"] * 100 + ["medium"] * 100  # highest risk first

    assert await cli("findings", "list") == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 200
    assert "acme-squat-199  vs acme (prefix)" in lines[0]  # newest critical first
    assert err.strip() == "200 findings"

    assert (
        await cli("findings", "list", "--risk", "medium", "--public", "acme-squat-2,Acme_Squat_4")
        == 0
    )
    assert len(capsys.readouterr().out.splitlines()) == 2


async def test_changes_are_kept_with_via_cli_and_refused_ones_exit_1(
    db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    await seed(db, 1)
    async with db.transaction() as session:
        [row] = await findings.findings_for(session, "acme-squat-0")
    finding = str(row.id)
    assert await cli("findings", "ack", finding, "--reason", "SEC-7", "--actor", "dana") == 0
    assert "acknowledged" in capsys.readouterr().out
    assert await cli("findings", "ack", finding, "--reason", "again", "--actor", "dana") == 1
    assert "cannot acknowledge it" in capsys.readouterr().err
    assert await cli("findings", "suppress", finding, "--reason", "ours", "--json") == 0
    assert json.loads(capsys.readouterr().out)["status"] == "suppressed"

    assert await cli("findings", "show", finding, "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert [(e["action"], e["via"], e["reason"]) for e in shown["history"]] == [
        ("open", "service", None),
        ("acknowledge", "cli", "SEC-7"),
        ("suppress", "cli", "ours"),
    ]
    assert shown["history"][1]["actor"] == "dana"
    assert shown["history"][2]["actor"]  # the login name by default

    assert await cli("findings", "show", finding) == 0
    out = capsys.readouterr().out
    assert "acknowledge open -> acknowledged  by dana via cli: SEC-7" in out

    assert await cli("findings", "resolve", finding, "--reason", "gone", "--actor", "dana") == 0
    assert await cli("findings", "reopen", finding, "--reason", "back", "--actor", "dana") == 0
    capsys.readouterr()
    assert await cli("findings", "show", "424242") == 1
    assert capsys.readouterr().err.strip() == "watcher: no finding 424242"


async def test_bad_options_exit_2(db: Database, capsys: pytest.CaptureFixture[str]) -> None:
    assert await cli("findings", "list", "--status", "ignored") == 2
    assert "--status: 'ignored' is not one of" in capsys.readouterr().err
    assert await cli("findings", "list", "--since", "yesterday") == 2
    assert await cli("findings", "ack", "1", "--reason", "r", "--actor", "a\x1b[2Jb") == 2
    assert "--actor" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        await cli("findings", "ack", "1")  # no --reason
    assert exited.value.code == 2


async def test_without_a_database_nothing_is_created(
    clean_env: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("WATCHER_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'none.db'}")
    assert await cli("findings", "list") == 1
    assert "no database at" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()
