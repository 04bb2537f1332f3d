"""``watcher.logs``: text or JSON lines on stderr, chatty libraries kept at WARNING."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from watcher.logs import JsonFormatter, setup_logging


@contextmanager
def bare_root() -> Iterator[logging.Logger]:
    """The root logger without pytest's handlers (as in a fresh process), restored after.

    A context manager, not a fixture: pytest attaches its handlers for each test phase.
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    quiet = {name: logging.getLogger(name).level for name in ("alembic", "apscheduler")}
    for handler in handlers:
        root.removeHandler(handler)
    try:
        yield root
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        for name, old in quiet.items():
            logging.getLogger(name).setLevel(old)


def json_lines(err: str) -> list[dict[str, Any]]:
    documents = [json.loads(line) for line in err.splitlines()]
    assert all(isinstance(d, dict) for d in documents)
    return documents


def test_text_lines(capsys: pytest.CaptureFixture[str]) -> None:
    with bare_root():
        setup_logging("info", "text")
        logging.getLogger("watcher.test").info("polled %d feeds", 2)
        logging.getLogger("watcher.test").debug("not shown")

    (line,) = capsys.readouterr().err.splitlines()
    assert line.endswith(" INFO watcher.test: polled 2 feeds")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}", line[:23])  # asctime, as before


def test_index_text_cannot_forge_lines_or_drive_the_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    version = "1.0\n2026-11-29 10:00:00,000 INFO watcher: all clear\x1b[2J"
    with bare_root():
        setup_logging("info", "text")
        logging.getLogger("watcher.test").warning("release %s refused", version)
        try:
            raise ValueError("ours")
        except ValueError:
            logging.getLogger("watcher.test").exception("failed on %s", version)

    lines = capsys.readouterr().err.splitlines()
    assert lines[0].endswith(
        " WARNING watcher.test: release 1.0\\n2026-11-29 10:00:00,000 INFO watcher: all clear"
        "\\x1b[2J refused"
    )
    assert lines[1].endswith(
        "failed on 1.0\\n2026-11-29 10:00:00,000 INFO watcher: all clear\\x1b[2J"
    )
    assert lines[2] == "Traceback (most recent call last):"  # our traceback keeps its lines
    assert not any("\x1b" in line for line in lines)


def test_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    before = datetime.now(UTC)
    with bare_root():
        setup_logging("INFO", "json")
        logging.getLogger("watcher.test").warning('a "quoted"\nmulti-line %s', "message")

    (document,) = json_lines(capsys.readouterr().err)
    assert set(document) == {"time", "level", "logger", "message"}
    assert document["level"] == "WARNING"
    assert document["logger"] == "watcher.test"
    assert document["message"] == 'a "quoted"\nmulti-line message'
    assert document["time"].endswith("+00:00")
    logged = datetime.fromisoformat(document["time"])
    assert before - timedelta(seconds=1) <= logged <= datetime.now(UTC)


def test_json_carries_the_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    with bare_root():
        setup_logging("INFO", "json")
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logging.getLogger("watcher.test").exception("poll failed")

    (document,) = json_lines(capsys.readouterr().err)
    assert document["level"] == "ERROR"
    assert document["message"] == "poll failed"
    assert document["exc_info"].startswith("Traceback (most recent call last):")
    assert document["exc_info"].endswith("RuntimeError: boom")


def test_formatter_on_its_own() -> None:
    record = logging.LogRecord("x.y", logging.ERROR, __file__, 1, "n=%s", ("é",), None)
    record.created = 0.0

    document = json.loads(JsonFormatter().format(record))

    assert document == {
        "time": "1970-01-01T00:00:00.000+00:00",
        "level": "ERROR",
        "logger": "x.y",
        "message": "n=é",
    }


def test_quiet_shows_warnings_only(capsys: pytest.CaptureFixture[str]) -> None:
    with bare_root():
        setup_logging("DEBUG", "text", quiet=True)
        logging.getLogger("watcher.test").info("hidden")
        logging.getLogger("watcher.test").warning("shown")

    (line,) = capsys.readouterr().err.splitlines()
    assert line.endswith(" WARNING watcher.test: shown")


def test_alembic_and_apscheduler_are_kept_at_warning(capsys: pytest.CaptureFixture[str]) -> None:
    with bare_root():
        setup_logging("DEBUG", "text")
        logging.getLogger("alembic.runtime.migration").info("Context impl SQLiteImpl.")
        logging.getLogger("apscheduler.executors.default").info("Job executed successfully")
        logging.getLogger("alembic.runtime.migration").warning("kept")

    (line,) = capsys.readouterr().err.splitlines()
    assert line.endswith(" WARNING alembic.runtime.migration: kept")


def test_a_second_call_replaces_the_first(capsys: pytest.CaptureFixture[str]) -> None:
    with bare_root() as root:
        setup_logging("INFO", "text")
        setup_logging("INFO", "json")
        logging.getLogger("watcher.test").info("once")
        assert len(root.handlers) == 1

    (document,) = json_lines(capsys.readouterr().err)
    assert document["message"] == "once"


def test_someone_elses_handlers_are_left_alone() -> None:
    with bare_root() as root:
        theirs = logging.NullHandler()
        root.addHandler(theirs)
        root.setLevel(logging.ERROR)

        setup_logging("DEBUG", "json")

        assert root.handlers == [theirs]
        assert root.level == logging.ERROR
        assert logging.getLogger("alembic").level == logging.WARNING


@pytest.mark.parametrize(("level", "fmt"), [("LOUD", "text"), ("INFO", "xml")])
def test_unknown_level_or_format(level: str, fmt: str) -> None:
    with bare_root() as root:
        with pytest.raises(ValueError, match="unknown log"):
            setup_logging(level, fmt)

        assert root.handlers == []


# -- through the command line, in a real process ------------------------------------------


def run_watcher(tmp_path: Path, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WATCHER_")}
    return subprocess.run(
        [sys.executable, "-m", "watcher", *argv],
        env={**clean, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_db_upgrade_logs_no_alembic_chatter(tmp_path: Path) -> None:
    done = run_watcher(
        tmp_path,
        "db",
        "upgrade",
        WATCHER_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'w.db'}",
        WATCHER_LOG_LEVEL="INFO",
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("database at revision ")
    assert "Context impl" not in done.stderr
    assert "non-transactional DDL" not in done.stderr
    assert done.stderr == ""


def test_json_log_format_from_the_environment(tmp_path: Path) -> None:
    # The settings' WATCHER_LOG_FORMAT and WATCHER_LOG_LEVEL, as every command applies them.
    code = (
        "import logging, sys\n"
        "from watcher.config import load_settings\n"
        "from watcher.cli import _setup_logging\n"
        "_setup_logging(load_settings())\n"
        "logging.getLogger('watcher.app').info('started %s', 'ok')\n"
        "logging.getLogger('alembic.runtime.migration').info('Context impl SQLiteImpl.')\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WATCHER_")}
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, "WATCHER_LOG_FORMAT": "json", "WATCHER_LOG_LEVEL": "info"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    (document,) = json_lines(done.stderr)
    assert (document["level"], document["logger"], document["message"]) == (
        "INFO",
        "watcher.app",
        "started ok",
    )


def test_secrets_are_masked_in_every_line_and_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    # The safety net: whatever a library or our own code logs, credentials in a URL, a Slack
    # token and a registered secret (the API token) never reach the log.
    from watcher.redaction import register_secret

    register_secret("api-token-0123456789")
    with bare_root():
        setup_logging("info", "json")
        log = logging.getLogger("watcher.test")
        log.warning("retrying %s", "https://bot:hunter22@mirror.example/simple/x/")
        try:
            raise RuntimeError("token xoxb-1234-5678-abcdefgh refused; api-token-0123456789")
        except RuntimeError:
            log.exception("failed")

    err = capsys.readouterr().err
    for secret in ("hunter22", "bot:", "xoxb-1234", "api-token-0123456789"):
        assert secret not in err
    first, second = json_lines(err)
    assert first["message"] == "retrying https://***@mirror.example/simple/x/"
    assert "RuntimeError: token *** refused; ***" in second["exc_info"]


def test_a_wrong_format_string_does_not_raise_into_the_caller(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with bare_root():
        setup_logging("info", "text")
        logging.getLogger("watcher.test").warning("value %d", "x")  # must not raise
        logging.getLogger("watcher.test").warning("still logging")
    assert "still logging" in capsys.readouterr().err
