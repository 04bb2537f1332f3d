"""``watcher --version``, ``watcher db upgrade`` and start-up errors in a real process."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from tests.support import closed_port
from watcher import __version__
from watcher.cli import main
from watcher.store.session import alembic_config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {row[0] for row in rows}


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])

    assert info.value.code == 0
    assert capsys.readouterr().out == f"watcher {__version__}\n"


def test_a_command_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([])

    assert info.value.code == 2
    assert "usage: watcher" in capsys.readouterr().err


def test_db_upgrade_creates_the_schema(
    clean_env: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db_file = tmp_path / "watcher.db"
    monkeypatch.setenv("WATCHER_DATABASE_URL", f"sqlite+aiosqlite:///{db_file}")
    # Neither WATCHER_PYPI_URL nor WATCHER_CATALOG is needed to migrate.

    assert main(["db", "upgrade"]) == 0

    assert capsys.readouterr().out == f"database at revision {head_revision()}\n"
    assert {
        "alembic_version",
        "feed_states",
        "public_projects",
        "releases",
        "findings",
        "alert_outbox",
        "catalog_checks",
    } <= tables(db_file)
    with sqlite3.connect(db_file) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (head_revision(),)
        ]


def test_db_upgrade_twice_is_harmless(
    clean_env: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db_file = tmp_path / "watcher.db"
    monkeypatch.setenv("WATCHER_DATABASE_URL", f"sqlite+aiosqlite:///{db_file}")
    assert main(["db", "upgrade"]) == 0
    first = tables(db_file)

    assert main(["db", "upgrade"]) == 0

    assert tables(db_file) == first
    assert capsys.readouterr().out.splitlines() == [f"database at revision {head_revision()}"] * 2


def test_db_upgrade_takes_the_url_from_the_config_file(
    clean_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db_file = tmp_path / "from-file.db"
    config = tmp_path / "watcher.toml"
    config.write_text(f'database_url = "sqlite+aiosqlite:///{db_file.as_posix()}"\n')

    assert main(["db", "upgrade", "--config", str(config)]) == 0

    assert "alembic_version" in tables(db_file)
    assert capsys.readouterr().out == f"database at revision {head_revision()}\n"


def test_db_upgrade_with_a_bad_config_file_exits_2(
    clean_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.toml"

    assert main(["db", "upgrade", "--config", str(missing)]) == 2

    assert capsys.readouterr().err == f"watcher: config file {missing} does not exist\n"


# -- a real process --------------------------------------------------------------


def _env_without_watcher(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHER_")}
    env.update(extra)
    return env


@pytest.mark.parametrize("argv", [["run"], ["check", "acme"]])
def test_missing_pypi_url_in_a_real_process(
    tmp_path: Path, catalog_file: Path, argv: list[str]
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "watcher", *argv],
        env=_env_without_watcher(WATCHER_CATALOG=str(catalog_file)),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("watcher: WATCHER_PYPI_URL is not set: ")
    # Nothing was started: no database file appeared in the working directory.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["catalog.toml"]


def test_bad_catalog_in_a_real_process(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.toml"
    catalog.write_text('names = ["ok", "bad name"]\n')

    result = subprocess.run(
        [sys.executable, "-m", "watcher", "run"],
        env=_env_without_watcher(
            WATCHER_CATALOG=str(catalog), WATCHER_PYPI_URL="http://127.0.0.1:9"
        ),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"watcher: catalog {catalog}: line 1: names: invalid project name")


def test_status_prints_where_each_source_stands(
    clean_env: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db_file = tmp_path / "watcher.db"
    monkeypatch.setenv("WATCHER_DATABASE_URL", f"sqlite+aiosqlite:///{db_file}")
    assert main(["db", "upgrade"]) == 0
    capsys.readouterr()
    with sqlite3.connect(db_file) as conn:
        conn.execute("INSERT INTO feed_states (feed, seen_keys, gaps) VALUES ('updates', '[]', 3)")
        conn.execute("INSERT INTO index_state (id, serial, projects) VALUES (1, 42, 7)")

    assert main(["status"]) == 0

    status = json.loads(capsys.readouterr().out)
    assert status["feeds"]["updates"]["gaps"] == 3
    assert status["index"] == {"serial": 42, "projects": 7, "reconciled_at": None}
    assert status["journal"] is None
    assert status["pending_index_events"] == 0


def test_status_does_not_create_a_database(
    clean_env: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db_file = tmp_path / "none.db"
    monkeypatch.setenv("WATCHER_DATABASE_URL", f"sqlite+aiosqlite:///{db_file}")

    assert main(["status"]) == 1

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"watcher: no database at {db_file} (WATCHER_DATABASE_URL): run `watcher db upgrade`"
        " or start the service (`watcher run`) to create it\n"
    )
    assert not db_file.exists()


@pytest.mark.parametrize("scheme", ["sqlite", "sqlite+aiosqlite"])
def test_status_names_a_relative_database_file_in_full(
    clean_env: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    scheme: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WATCHER_DATABASE_URL", f"{scheme}:///watcher.db")

    assert main(["status"]) == 1

    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"watcher: no database at {tmp_path / 'watcher.db'} ")
    assert list(tmp_path.iterdir()) == []


def test_status_does_not_create_a_database_in_a_real_process(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "watcher", "status"],
        env=_env_without_watcher(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"watcher: no database at {tmp_path / 'watcher.db'} ")
    assert len(result.stderr.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_status_on_an_empty_database_file_says_to_migrate(
    clean_env: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db_file = tmp_path / "empty.db"
    db_file.touch()
    monkeypatch.setenv("WATCHER_DATABASE_URL", f"sqlite+aiosqlite:///{db_file}")

    assert main(["status"]) == 1

    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("watcher: database schema is at nothing")
    assert "run `watcher db upgrade`" in line
    assert tables(db_file) == set()


def test_an_unreachable_database_is_one_line_and_exit_1(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = closed_port()
    url = f"postgresql+asyncpg://postgres:s3cret-pw@127.0.0.1:{port}/none"
    monkeypatch.setenv("WATCHER_DATABASE_URL", url)

    assert main(["status"]) == 1
    assert main(["db", "upgrade"]) == 1

    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2
    where = f"postgres@127.0.0.1:{port}/none"
    assert err[0].startswith(f"watcher: cannot read the database {where}: ")
    assert err[1].startswith(f"watcher: cannot migrate the database {where}: ")
    assert all("Connect call failed" in line for line in err)
    assert all("s3cret-pw" not in line for line in err)
