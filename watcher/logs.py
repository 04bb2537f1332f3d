"""Logging set-up for the command line: plain text lines, or one JSON object per line.

Kept free of heavy imports: the CLI calls it before the service's modules are loaded.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

from watcher.redaction import RedactingFilter
from watcher.text import printable

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# Libraries that are chatty at INFO: keep their warnings only. APScheduler logs every job
# run; Alembic logs "Context impl SQLiteImpl." and "Will assume non-transactional DDL."
# on every migration check.
_QUIET_LOGGERS = ("apscheduler", "alembic")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``time`` (ISO-8601, UTC), ``level``, ``logger``,
    ``message``, and ``exc_info`` / ``stack_info`` (the formatted text) when present."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            document["exc_info"] = record.exc_text
        if record.stack_info:
            document["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(document)


class TextFormatter(logging.Formatter):
    """``TEXT_FORMAT`` lines whose message has its non-printable characters escaped.

    Messages quote what the index said (names, versions, error reasons): a line break in a
    version would forge a second log line, an ANSI sequence would rewrite the reader's
    terminal. Tracebacks keep their line breaks: they are ours.
    """

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = printable(record.message, None)
        return super().formatMessage(record)


class _Handler(logging.StreamHandler[TextIO]):
    """The handler :func:`setup_logging` installs (and replaces when called again)."""


def setup_logging(level: str, fmt: str, *, quiet: bool = False) -> None:
    """Log to stderr at ``level`` (``quiet``: warnings and errors only) as ``fmt``
    (``text`` or ``json``), with secrets masked (:mod:`watcher.redaction`).

    Like :func:`logging.basicConfig`, the root logger is left alone when something else
    (a test runner, an embedding program) already gave it handlers; calling this again
    replaces what an earlier call installed. Raises :class:`ValueError` for an unknown
    level or format.
    """
    name = level.upper()
    if name not in LOG_LEVELS:
        raise ValueError(f"unknown log level {level!r}: use one of {', '.join(LOG_LEVELS)}")
    if fmt not in LOG_FORMATS:
        raise ValueError(f"unknown log format {fmt!r}: use text or json")
    for logger_name in _QUIET_LOGGERS:
        logging.getLogger(logger_name).setLevel(logging.WARNING)
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h, _Handler)]
    if len(ours) != len(root.handlers):
        return
    for old in ours:
        root.removeHandler(old)
        old.close()
    handler = _Handler(sys.stderr)
    # On the handler, not the root logger: a logger's filters skip records that propagate
    # from its children, and this must see every library's lines.
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    numeric = logging.getLevelNamesMapping()[name]
    root.setLevel(max(numeric, logging.WARNING) if quiet else numeric)
