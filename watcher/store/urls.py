"""Database URLs: which ones the store can open, spelt the way its engine needs them."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

# Every scheme accepted (compared in lower case) -> the one the store's engine opens.
_ACCEPTED = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgres+asyncpg": "postgresql+asyncpg",
}
_SUPPORTED = (
    "only SQLite (sqlite:///PATH or sqlite+aiosqlite:///PATH) and PostgreSQL"
    " (postgresql://... or postgresql+asyncpg://...) are supported"
)


def normalize_database_url(url: str) -> str:
    """``url`` with the async driver the store needs; :class:`ValueError` if it cannot be used.

    ``postgresql://`` and ``postgres://`` become ``postgresql+asyncpg://``, ``sqlite://``
    becomes ``sqlite+aiosqlite://``; the rest of the URL is kept exactly as written. Any other
    backend or driver is refused. Messages never repeat the URL: it may hold a password.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ValueError(
            "not a database URL (expected e.g. sqlite+aiosqlite:///watcher.db or"
            " postgresql+asyncpg://USER:PASSWORD@HOST/DB)"
        ) from None
    except ValueError:
        # The only value make_url converts is the port.
        raise ValueError("not a valid database URL: its port must be a number") from None
    scheme = parsed.drivername
    driver = _ACCEPTED.get(scheme.lower())
    if driver is None:
        raise ValueError(f"unsupported database {scheme!r}: {_SUPPORTED}")
    # make_url only parses text that starts with "<drivername>://": swap that prefix rather
    # than re-rendering the URL, which could re-quote a password or reorder the query.
    return driver + url[len(scheme) :]
