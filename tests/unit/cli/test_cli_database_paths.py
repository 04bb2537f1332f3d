"""``watcher.store.paths``: which file a SQLite URL opens, and how a database is named in
messages (never with its password). Used by ``watcher status`` and ``watcher db upgrade``."""

from __future__ import annotations

from pathlib import Path

import pytest

from watcher.store.paths import database_label, sqlite_path


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite+aiosqlite:///watcher.db", Path("watcher.db")),
        ("sqlite:///watcher.db", Path("watcher.db")),
        ("sqlite+aiosqlite:////srv/data/watcher.db", Path("/srv/data/watcher.db")),
        ("sqlite+aiosqlite:///file:w.db?mode=ro&uri=true", Path("w.db")),
        ("sqlite+aiosqlite://", None),
        ("sqlite+aiosqlite:///:memory:", None),
        ("sqlite+aiosqlite:///file:mem?mode=memory&uri=true", None),
        ("postgresql+asyncpg://u:p@db.example/watcher", None),
        ("not a url", None),
    ],
)
def test_sqlite_path(url: str, path: Path | None) -> None:
    assert sqlite_path(url) == path


@pytest.mark.parametrize(
    ("url", "label"),
    [
        (
            "postgresql+asyncpg://watcher:s3cret@db.example:5433/prod",
            "watcher@db.example:5433/prod",
        ),
        ("postgresql://db.example/prod", "db.example/prod"),
        ("postgresql+asyncpg:///prod", "localhost/prod"),
        ("sqlite+aiosqlite:////srv/watcher.db", "/srv/watcher.db"),
        ("sqlite+aiosqlite://", "SQLite in memory"),
        ("nonsense", "(unparseable database URL)"),
    ],
)
def test_database_label(url: str, label: str) -> None:
    assert database_label(url) == label


def test_a_relative_sqlite_file_is_named_in_full(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)

    assert database_label("sqlite+aiosqlite:///watcher.db") == str(tmp_path / "watcher.db")
