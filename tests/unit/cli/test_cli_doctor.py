"""``watcher doctor``: one line per check against the real fakes and a real database; exit 0
when every check passed, 1 when one failed, 2 for settings that do not load; no secret and
no raw control character in what it prints."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from tests.fakes.pypi import FakeIndex
from tests.fakes.slack import FakeSlack
from tests.fakes.webhook import SECRET, FakeWebhook
from tests.support import closed_port, run_python, write_raw
from watcher.cli import main
from watcher.leader import LOCK_KEY
from watcher.store import Database
from watcher.store.advisory import LockSession
from watcher.store.session import alembic_config

PASSWORD = "hunter2-private-index"
BAD_TOKEN = "xoxb-refused-0123456789"
CHECKS = [
    "configuration",
    "catalog",
    "database",
    "index",
    "private index",
    "slack",
    "webhook",
]


@dataclass
class Setup:
    """The fakes the doctor's environment points at."""

    index: FakeIndex
    private: FakeIndex
    slack: FakeSlack
    hook: FakeWebhook
    catalog: Path
    monkeypatch: pytest.MonkeyPatch

    def set(self, **env: str) -> None:
        for key, value in env.items():
            self.monkeypatch.setenv(key, value)

    def private_index(self, url: str) -> None:
        write_raw(
            self.catalog,
            'names = ["Payments_Core", "acme-billing"]\nprefixes = ["acme"]\n\n'
            f'[[indexes]]\nurl = "{url}"\nusername_env = "IDX_USER"\npassword_env = "IDX_PASS"\n',
        )


@pytest.fixture
async def setup(
    clean_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Setup]:
    async with (
        FakeIndex() as index,
        FakeIndex() as private,
        FakeSlack() as slack,
        FakeWebhook() as hook,
    ):
        index.add_release("requests", "2.32.0")
        private.add_release("acme-billing", "1.0")
        private.add_release("acme-billing", "4.2.0")
        found = Setup(index, private, slack, hook, tmp_path / "catalog.toml", monkeypatch)
        found.private_index(f"{private.base_url}/simple/")
        found.set(
            IDX_USER="reader",
            IDX_PASS=PASSWORD,
            WATCHER_PYPI_URL=index.base_url,
            WATCHER_CATALOG=str(found.catalog),
            WATCHER_SLACK_TOKEN=slack.token,
            WATCHER_SLACK_CHANNEL="C0SECURITY",
            WATCHER_SLACK_API_URL=slack.base_url,
            WATCHER_WEBHOOK_URL=hook.url,
            WATCHER_WEBHOOK_SECRET=SECRET,
            WATCHER_HTTP_RETRIES="0",
        )
        yield found


async def doctor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    """Exit code, output lines and standard error of ``watcher doctor ARGS``."""
    code = await asyncio.to_thread(main, ["doctor", *args])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err


def line_of(lines: list[str], check: str) -> str:
    [found] = [line for line in lines if line[5:].startswith(f"{check}")]
    return found


def head() -> str:
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None
    return revision


async def test_all_ok_exits_0_with_one_line_per_check(
    setup: Setup, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    setup.set(WATCHER_DATABASE_URL=db.url, WATCHER_JOURNAL="true")

    code, lines, err = await doctor(capsys)

    assert code == 0, lines
    assert [line[5:].split(":")[0].split(" http")[0] for line in lines] == CHECKS
    assert all(line.startswith("ok   ") for line in lines), lines
    assert "2 names, 1 prefixes, 0 allowlisted, 1 private indexes" in line_of(lines, "catalog")
    database = line_of(lines, "database")
    assert f"{db.dialect} " in database
    assert f"schema at revision {head()} (newest)" in database
    if db.dialect == "postgresql":
        assert "no replica holds the leader lock now" in database
    else:
        assert "SQLite: one process leads" in database
    index = line_of(lines, "index")
    serial, _ = setup.index.listing()
    assert f"{setup.index.base_url} answers as a package index" in index
    assert f"simple index JSON (PEP 691), serial {serial} (X-PyPI-Last-Serial)" in index
    assert f"change log serial {setup.index.serial}" in index
    private = line_of(lines, "private index")
    assert private.startswith(f"ok   private index {setup.private.base_url}/simple/: ")
    assert "1 projects, 2 versions, authenticated ($IDX_USER, $IDX_PASS)" in private
    assert "token valid (team Fake T0FAKE, bot fakebot B0FAKEBOT); channel C0SECURITY" in (
        line_of(lines, "slack")
    )
    assert "answered HTTP 405 to a HEAD request" in line_of(lines, "webhook")
    # Nothing was posted anywhere: no message, no webhook request.
    assert setup.slack.messages == []
    assert setup.hook.requests == []
    assert [method for method, _ in setup.slack.calls] == ["auth.test", "conversations.history"]
    output = "\n".join(lines) + err
    for secret in (PASSWORD, setup.slack.token, SECRET):
        assert secret not in output
    assert err == ""


@pytest.mark.postgres
async def test_a_leader_holding_the_lock_is_reported(
    setup: Setup, postgres_db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    setup.set(WATCHER_DATABASE_URL=postgres_db.url)
    lock = await LockSession.open(postgres_db)
    try:
        assert await lock.try_lock(LOCK_KEY)
        code, lines, _ = await doctor(capsys)
    finally:
        await lock.release()

    assert code == 0, lines
    assert "a leader holds the lock (server process " in line_of(lines, "database")

    # pg_locks shows every database's locks: a leader on another database is not ours.
    elsewhere = Database(make_url(postgres_db.url).set(database="postgres").render_as_string(False))
    lock = await LockSession.open(elsewhere)
    try:
        assert await lock.try_lock(LOCK_KEY)
        code, lines, _ = await doctor(capsys)
    finally:
        await lock.release()
        await elsewhere.close()
    assert code == 0, lines
    assert "no replica holds the leader lock now" in line_of(lines, "database")


async def test_a_database_not_migrated_fails(
    setup: Setup, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = Database(database_url)
    await empty.ping()  # it exists (a SQLite file too), with no schema in it
    await empty.close()
    setup.set(WATCHER_DATABASE_URL=database_url)

    code, lines, _ = await doctor(capsys)

    assert code == 1
    database = line_of(lines, "database")
    assert database.startswith("FAIL database: ")
    assert f"schema is at nothing, code needs {head()}: run `watcher db upgrade`" in database
    assert sum(line.startswith("FAIL") for line in lines) == 1, lines


async def test_a_missing_sqlite_file_fails_and_is_not_created(
    setup: Setup, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "none.db"
    setup.set(WATCHER_DATABASE_URL=f"sqlite+aiosqlite:///{path}")

    code, lines, _ = await doctor(capsys)

    assert code == 1
    assert "no database at" in line_of(lines, "database")
    assert not path.exists()


async def test_wrong_index_url_refused_token_and_unreachable_private_index_each_fail(
    setup: Setup, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    down = f"http://127.0.0.1:{closed_port()}/simple/"
    setup.private_index(down)
    setup.set(
        WATCHER_DATABASE_URL=db.url,
        WATCHER_PYPI_URL=f"{setup.index.base_url}/simple",
        WATCHER_SLACK_TOKEN=BAD_TOKEN,
    )

    code, lines, err = await doctor(capsys)

    assert code == 1
    assert len(lines) == len(CHECKS)
    index = line_of(lines, "index")
    assert index.startswith(f"FAIL index: no package index answers at {setup.index.base_url}")
    assert f"use its parent {setup.index.base_url}" in index
    private = line_of(lines, "private index")
    assert private.startswith(f"FAIL private index {down}: ")
    assert "Connect" in private  # what failed: the connection
    assert line_of(lines, "slack") == (
        "FAIL slack: Slack refused the token (auth.test): HTTP 200 invalid_auth"
    )
    for check in ("configuration", "catalog", "database", "webhook"):
        assert line_of(lines, check).startswith("ok   ")
    output = "\n".join(lines) + err
    assert BAD_TOKEN not in output
    assert PASSWORD not in output
    assert "Traceback" not in output


async def test_closed_ports_fail_with_a_reason_and_no_traceback(
    setup: Setup, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = closed_port()
    setup.set(
        WATCHER_DATABASE_URL=f"postgresql+asyncpg://watcher:dbsecret-42@127.0.0.1:{port}/w",
        WATCHER_PYPI_URL=f"http://mirror:pw-secret-7@127.0.0.1:{port}",
        WATCHER_SLACK_API_URL=f"http://127.0.0.1:{port}/api/",
        WATCHER_WEBHOOK_URL=f"http://127.0.0.1:{port}/hook?token=receiver-token-9",
    )

    code, lines, err = await doctor(capsys)

    assert code == 1
    assert f"; index http://***@127.0.0.1:{port}" in line_of(lines, "configuration")
    database = line_of(lines, "database")
    assert database.startswith(f"FAIL database: cannot use watcher@127.0.0.1:{port}/w: ")
    index = line_of(lines, "index")
    assert index.startswith(f"FAIL index: index unavailable for http://127.0.0.1:{port}/simple/")
    assert "ClientConnectorError" in index
    assert line_of(lines, "slack").startswith("FAIL slack: Slack unreachable: ")
    webhook = line_of(lines, "webhook")
    assert webhook.startswith(f"FAIL webhook: receiver at 127.0.0.1:{port}: ")
    assert "the webhook is unreachable" in webhook
    output = "\n".join(lines) + err
    for secret in ("dbsecret-42", "pw-secret-7", "receiver-token-9", setup.slack.token):
        assert secret not in output
    assert "Traceback" not in output


async def test_slack_channel_unreadable_and_an_index_refusing_credentials_fail(
    setup: Setup, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    setup.set(WATCHER_DATABASE_URL=db.url)
    setup.slack.fail_app("not_in_channel", method="conversations.history")
    setup.private.fail("/simple/", 401, times=None)

    code, lines, _ = await doctor(capsys)

    assert code == 1
    assert line_of(lines, "slack") == (
        "FAIL slack: cannot read channel C0SECURITY: HTTP 200 not_in_channel"
    )
    private = line_of(lines, "private index")
    assert private.startswith("FAIL private index ")
    assert "401" in private


async def test_server_text_is_escaped(
    setup: Setup, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    setup.set(WATCHER_DATABASE_URL=db.url)
    setup.slack.fail_app("bad\x1b[2J\nok   forged: line", method="auth.test")

    code, lines, _ = await doctor(capsys)

    assert code == 1
    slack = line_of(lines, "slack")
    assert "\x1b" not in "\n".join(lines)
    assert "bad\\x1b[2J\\nok   forged: line" in slack
    assert not any(line.startswith("ok   forged") for line in lines)


async def test_webhook_post_sends_a_signed_test_body(
    setup: Setup, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    setup.set(WATCHER_DATABASE_URL=db.url)

    code, lines, _ = await doctor(capsys, "--webhook-post")

    assert code == 0, lines
    assert "answered HTTP 202 to a signed test POST" in line_of(lines, "webhook")
    [request] = setup.hook.requests
    assert request["valid"]  # signed as a delivery is
    body = json.loads(request["body"])
    assert body["event"] == "doctor"
    assert body["schema"] == "watcher.doctor/1"
    assert "alert" not in body


async def test_webhook_post_refused_signature_fails(
    setup: Setup, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    setup.set(WATCHER_DATABASE_URL=db.url, WATCHER_WEBHOOK_SECRET="another-secret-0123456789")

    code, lines, _ = await doctor(capsys, "--webhook-post")

    assert code == 1
    assert line_of(lines, "webhook").endswith("the webhook answered HTTP 401 to a signed test POST")
    assert "another-secret-0123456789" not in "\n".join(lines)


async def test_what_is_not_configured_is_skipped(
    setup: Setup, db: Database, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("SLACK_TOKEN", "SLACK_CHANNEL", "SLACK_API_URL", "WEBHOOK_URL", "WEBHOOK_SECRET"):
        monkeypatch.delenv(f"WATCHER_{name}")
    write_raw(setup.catalog, 'names = ["acme-billing"]\n')
    setup.set(WATCHER_DATABASE_URL=db.url)

    code, lines, _ = await doctor(capsys)

    assert code == 0, lines
    assert line_of(lines, "private indexes") == "skip private indexes: none in the catalog"
    assert line_of(lines, "slack") == "skip slack: not configured"
    assert line_of(lines, "webhook") == "skip webhook: not configured"


async def test_a_bad_catalog_fails_and_its_indexes_are_skipped(
    setup: Setup, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    write_raw(setup.catalog, "names = [\n")
    setup.set(WATCHER_DATABASE_URL=db.url)

    code, lines, _ = await doctor(capsys)

    assert code == 1
    assert line_of(lines, "catalog").startswith(f"FAIL catalog: catalog {setup.catalog}: ")
    assert line_of(lines, "private indexes") == (
        "skip private indexes: the catalog file could not be read"
    )


def test_settings_that_do_not_load_exit_2_in_a_real_process(tmp_path: Path) -> None:
    done = run_python(
        "-m",
        "watcher",
        "doctor",
        cwd=tmp_path,
        env={
            "WATCHER_CATALOG": str(tmp_path / "c.toml"),
            "WATCHER_SLACK_TOKEN": BAD_TOKEN,
            "WATCHER_SLACK_CHANNEL": "C0SECURITY",
        },
    )

    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("watcher: WATCHER_PYPI_URL is not set")
    assert BAD_TOKEN not in done.stderr
    assert "Traceback" not in done.stderr
