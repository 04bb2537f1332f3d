"""Where a database URL points, without connecting (so nothing is created by asking)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError


def _parse(url: str) -> URL | None:
    try:
        return make_url(url)
    except ArgumentError:
        return None


def sqlite_path(url: str) -> Path | None:
    """The file a SQLite URL opens (relative paths as written), or ``None`` for an
    in-memory SQLite database or a URL of another database."""
    parsed = _parse(url)
    if parsed is None or parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database
    if str(parsed.query.get("uri", "")).lower() in ("true", "1") and database:
        if parsed.query.get("mode") == "memory":
            return None
        database = database.removeprefix("file:")
    if not database or database == ":memory:":
        return None
    return Path(database)


def database_label(url: str) -> str:
    """The database ``url`` names, for messages: the SQLite file, or ``user@host:port/db``
    (never the password)."""
    parsed = _parse(url)
    if parsed is None:
        return "(unparseable database URL)"
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_path(url)
        return str(path.absolute()) if path is not None else "SQLite in memory"
    user = f"{parsed.username}@" if parsed.username else ""
    port = f":{parsed.port}" if parsed.port else ""
    return f"{user}{parsed.host or 'localhost'}{port}/{parsed.database or ''}"
