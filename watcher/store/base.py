"""Declarative base with explicit constraint names, and a UTC datetime type for both dialects."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from sqlalchemy import DateTime, MetaData, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from watcher.redaction import redact

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

R = TypeVar("R", bound="DataclassInstance")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on PostgreSQL (timestamptz) and SQLite (naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Base of every table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def record(cls: type[R], row: object, **overrides: Any) -> R:
    """A typed record (a dataclass) of a row: each field from the row's attribute of the
    same name, unless given in ``overrides`` (conversions: enums, copies of JSON lists)."""
    values = {
        f.name: getattr(row, f.name) for f in dataclasses.fields(cls) if f.name not in overrides
    }
    return cls(**values, **overrides)


def upsert_insert(session: AsyncSession, table: Table) -> Any:
    """``INSERT`` of the session's dialect, so ``on_conflict_do_*`` works on both."""
    dialect = session.get_bind().dialect.name
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


# -- bounding what the index says before it reaches a column -------------------------

# PostgreSQL refuses NUL in text, and no driver can encode a lone surrogate (JSON's
# "\ud800" decodes to one): both are dropped from every text the index supplies.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# A text cut to fit its column ends with this marker and a digest of the whole value, so
# two long values that share a prefix stay distinct (a version is part of a unique key).
_CUT = "...#"
_DIGEST = 12
# Free text (summaries, authors, errors) is capped too: a megabyte "summary" is noise.
TEXT_LIMIT = 4000


def clean_text(value: str | None, limit: int = TEXT_LIMIT) -> str | None:
    """``value`` made storable in a column of ``limit`` characters: characters a database
    refuses dropped; when still too long, cut and marked with a digest of the whole."""
    if value is None:
        return None
    value = _UNSTORABLE.sub("", value)
    if len(value) <= limit:
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:_DIGEST]
    return value[: limit - len(_CUT) - _DIGEST] + _CUT + digest


ERROR_LIMIT = 2000


def error_text(error: str) -> str:
    """An error message as stored (and shown by ``/healthz`` and ``/v1/status``): secrets
    redacted (a URL's credentials, tokens), made storable and bounded."""
    return clean_text(redact(error), ERROR_LIMIT) or ""


def clean_list(values: list[str] | None, limit: int = TEXT_LIMIT) -> list[str] | None:
    """Each text of a list cleaned with :func:`clean_text`."""
    if values is None:
        return None
    return [clean_text(v, limit) or "" for v in values]
