"""``watcher doctor``: is everything the service needs there and answering? One line per
check, as it completes:

- ``configuration``: the settings load (which catalog, database and index);
- ``catalog``: the catalog file parses (names, prefixes, private indexes);
- ``database``: it connects and its schema is at the newest migration (on PostgreSQL,
  also whether a replica leads now: holds the advisory lock);
- ``index``: the index's base URL answers as a package index (its simple index format,
  its serial; the change log's serial when the service follows it);
- ``private index URL``: each private index of the catalog, read as the service reads it;
- ``slack``: the token (``auth.test``) and the channel (its history, which the sender reads
  before retrying a post); nothing is posted;
- ``webhook``: a HEAD request (no alert delivered); ``--webhook-post`` sends a signed
  test POST (``"event": "doctor"``) instead.

Each line is ``ok   CHECK: facts``, ``FAIL CHECK: reason`` or ``skip CHECK: why``; no
secret is shown (:mod:`watcher.redaction`) and what a server said is escaped
(:func:`watcher.text.printable`). Exit 0 when nothing failed, 1 when a check failed, 2 when
the settings themselves cannot be loaded (nothing can be checked then).

The parser is built at every start of ``watcher``: nothing heavy is imported at the top.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from watcher.catalog.model import Catalog, IndexSpec
    from watcher.config import Settings

EXIT_OK, EXIT_FAILED = 0, 1
# No single check may hang the command (a database host that drops packets).
CHECK_TIMEOUT = 60.0

DESCRIPTION = """Check everything the service needs, one line each (ok, FAIL or skip): the
settings, the catalog file, the database and its schema (on PostgreSQL, also whether a
leader holds the lock now), the index (its simple index format and serial), each private
index of the catalog, Slack (auth.test and reading the channel's history: nothing is
posted) and the webhook (a HEAD request unless --webhook-post). No secret is printed. Exit
0 all ok, 1 a check failed, 2 the settings do not load."""
HELP = """check the configuration, database, index, private indexes, Slack and webhook
(one line each; exit 0 all ok, 1 a check failed, 2 bad settings)"""
WEBHOOK_POST_HELP = """test the webhook with a signed POST of a test body
({"event": "doctor", "schema": "watcher.doctor/1"}, no alert in it), which must be
answered 2xx: this also proves the receiver takes our signature, but a receiver that
treats every POST as an alert may page someone. By default only a HEAD request is
sent: nothing is delivered, and any answer but a 5xx shows the receiver is there"""


@dataclass(frozen=True)
class Result:
    """One check's outcome: its line is ``status check: text``."""

    status: Literal["ok", "FAIL", "skip"]
    check: str
    text: str

    def line(self) -> str:
        """The line shown: secrets masked, outside text escaped, on one line."""
        from watcher.redaction import redact
        from watcher.text import printable

        return f"{self.status:<4} {printable(self.check, 200)}: {printable(redact(self.text), 600)}"


def add_parser(
    sub: Any, with_config: Callable[[argparse.ArgumentParser], argparse.ArgumentParser]
) -> None:
    """Add ``doctor`` to the top-level sub-parsers ``sub``."""
    doctor = with_config(sub.add_parser("doctor", help=HELP, description=DESCRIPTION))
    doctor.add_argument("--webhook-post", action="store_true", help=WEBHOOK_POST_HELP)


def doctor_command(args: argparse.Namespace) -> int:
    """Load the settings (a :class:`~watcher.errors.ConfigError` exits 2), run the checks."""
    from watcher.config import load_settings
    from watcher.logs import setup_logging

    settings = load_settings(args.config, require=("pypi_url", "catalog"))
    setup_logging(settings.log_level, settings.log_format, quiet=True)
    return asyncio.run(run(settings, webhook_post=args.webhook_post))


async def run(settings: Settings, *, webhook_post: bool = False) -> int:
    """Print one line per check; :data:`EXIT_FAILED` if any failed."""
    from watcher.redaction import register_secret, split_credentials

    for secret in (settings.slack_token, settings.webhook_secret, settings.api_token):
        register_secret(secret.get_secret_value() if secret is not None else None)
    register_secret(split_credentials(settings.database_url)[2])  # its password, if any
    results: list[Result] = []

    def show(result: Result) -> None:
        results.append(result)
        print(result.line(), flush=True)

    show(_configuration(settings))
    catalog = _catalog(settings, show)
    show(await _bounded("database", _database(settings)))
    show(await _bounded("index", _index(settings, journal=settings.journal)))
    if catalog is None:
        show(Result("skip", "private indexes", "the catalog file could not be read"))
    elif not catalog.indexes:
        show(Result("skip", "private indexes", "none in the catalog"))
    for spec in catalog.indexes if catalog is not None else ():
        show(await _private_index(settings, spec))
    show(await _bounded("slack", _slack(settings)))
    show(await _bounded("webhook", _webhook(settings, post=webhook_post)))
    return EXIT_FAILED if any(r.status == "FAIL" for r in results) else EXIT_OK


async def _bounded(check: str, work: Awaitable[Result]) -> Result:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            return await work
    except TimeoutError:
        return Result("FAIL", check, f"no answer within {CHECK_TIMEOUT:.0f} s")


def _configuration(settings: Settings) -> Result:
    from watcher.redaction import redact_url
    from watcher.store.paths import database_label

    dialect = settings.database_url.partition(":")[0].partition("+")[0]
    return Result(
        "ok",
        "configuration",
        f"catalog {settings.catalog_path}; database {dialect} "
        f"{database_label(settings.database_url)}; index {redact_url(settings.index_url)}",
    )


def _catalog(settings: Settings, show: Callable[[Result], None]) -> Catalog | None:
    from watcher.catalog.files import read_catalog_file
    from watcher.errors import CatalogError

    try:
        file, _ = read_catalog_file(settings.catalog_path)
    except CatalogError as exc:
        show(Result("FAIL", "catalog", str(exc)))
        return None
    show(
        Result(
            "ok",
            "catalog",
            f"{len(file.names)} names, {len(file.prefixes)} prefixes, {len(file.allow)}"
            f" allowlisted, {len(file.indexes)} private indexes",
        )
    )
    return file


async def _database(settings: Settings) -> Result:
    from watcher.errors import SchemaNotCurrent, WatcherError
    from watcher.leader import LOCK_KEY
    from watcher.store import Database, DatabaseError
    from watcher.store.advisory import lock_holder
    from watcher.store.paths import database_label, sqlite_path

    url = settings.database_url
    where = database_label(url)
    path = sqlite_path(url)
    if path is not None and not path.exists():  # opening it would create an empty file
        return Result("FAIL", "database", f"no database at {where}: run `watcher db upgrade`")
    db = Database(url)
    try:
        try:
            await db.require_current()
        except SchemaNotCurrent as exc:
            return Result("FAIL", "database", f"{db.dialect} {where}: {exc}")
        facts = f"{db.dialect} {where}, schema at revision {await db.current_revision()} (newest)"
        if db.dialect == "postgresql":
            holder = await lock_holder(db, LOCK_KEY)
            facts += (
                "; no replica holds the leader lock now (is the service running?)"
                if holder is None
                else f"; a leader holds the lock (server process {holder})"
            )
        else:
            facts += "; SQLite: one process leads, no leader lock"
        return Result("ok", "database", facts)
    except (OSError, DatabaseError, WatcherError) as exc:
        return Result("FAIL", "database", f"cannot use {where}: {_first_line(exc)}")
    finally:
        await db.close()


async def _index(settings: Settings, *, journal: bool) -> Result:
    from watcher.errors import ConfigError, IndexClientError
    from watcher.pypi import open_index_client
    from watcher.redaction import redact_url

    url = redact_url(settings.index_url)
    async with open_index_client(settings.index, connections=2) as client:
        try:
            await client.confirm_index()
            kind, serial = client.simple_root or ("unknown", None)
            facts = f"{url} answers as a package index; simple index {kind}, " + (
                f"serial {serial} (X-PyPI-Last-Serial)"
                if serial is not None
                else "no X-PyPI-Last-Serial header (serial not checked)"
            )
            if journal:
                facts += f"; change log serial {await client.journal_last_serial()}"
            else:
                facts += "; change log not followed (WATCHER_JOURNAL off)"
        except (IndexClientError, ConfigError) as exc:  # NotAnIndex is a ConfigError
            return Result("FAIL", "index", str(exc))
    return Result("ok", "index", facts)


async def _private_index(settings: Settings, spec: IndexSpec) -> Result:
    from watcher.catalog.private import load_private_index
    from watcher.errors import IndexClientError, PrivateIndexError
    from watcher.redaction import redact_url

    check = f"private index {redact_url(spec.url)}"
    credentials = [v for v in (spec.username_env, spec.password_env, spec.token_env) if v]
    auth = (
        f"authenticated ({', '.join(f'${v}' for v in credentials)})" if credentials else "anonymous"
    )
    indexes = settings.indexes
    started = time.monotonic()
    try:
        loaded = await load_private_index(spec, indexes)
    except PrivateIndexError as exc:
        return Result("FAIL", check, exc.reason)  # its message repeats the URL
    except IndexClientError as exc:
        return Result("FAIL", check, str(exc))
    versions = sum(len(p.versions) for p in loaded.packages.values())
    return Result(
        "ok",
        check,
        f"{len(loaded.packages)} projects, {versions} versions, {auth},"
        f" read in {time.monotonic() - started:.1f} s",
    )


async def _slack(settings: Settings) -> Result:
    slack = settings.slack
    if slack is None:
        return Result("skip", "slack", "not configured")
    from watcher.alerts.slack import DeliveryError, open_slack_sender

    async with open_slack_sender(slack) as sender:
        try:
            facts = await sender.diagnose()
        except DeliveryError as exc:
            return Result("FAIL", "slack", str(exc))
    return Result(
        "ok",
        "slack",
        f"token valid (team {facts.team or '?'} {facts.team_id}, bot {facts.bot or '?'}"
        f" {facts.bot_id}); channel {facts.channel}: history readable (nothing posted)",
    )


async def _webhook(settings: Settings, *, post: bool) -> Result:
    webhook = settings.webhook
    if webhook is None:
        return Result("skip", "webhook", "not configured")
    from urllib.parse import urlsplit

    from watcher.alerts.delivery import DeliveryError
    from watcher.alerts.webhook import open_webhook_sender

    # The URL itself may hold the receiver's token (it is masked as a secret): its host only.
    parts = urlsplit(webhook.url)
    host = f"{parts.hostname}{f':{parts.port}' if parts.port else ''}"
    async with open_webhook_sender(webhook) as sender:
        try:
            answered = await sender.probe(post=post)
        except DeliveryError as exc:
            return Result("FAIL", "webhook", f"receiver at {host}: {exc}")
    return Result("ok", "webhook", f"receiver at {host} {answered}")


def _first_line(exc: BaseException) -> str:
    # SQLAlchemy appends the statement and a link on further lines.
    return (str(exc).strip() or type(exc).__name__).splitlines()[0]
