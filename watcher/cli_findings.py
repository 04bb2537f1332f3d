"""``watcher findings list | show | ack | suppress | resolve | reopen``: findings read and
acted on from the command line, straight on the service's database (the service need not
run). Every change is kept in the finding's history with ``via: "cli"``, the actor
(``--actor``, by default the login name) and the ``--reason``.

Exit codes: 0 done; 1 no such finding, a change its status does not allow (nothing is
changed then) or the database cannot be read; 2 a bad option.

The parser is built at every start of ``watcher``, so this module imports nothing heavy at
its top: the store and the web module's JSON shapes are imported when a command runs.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from watcher.errors import ConfigError, InvalidName, WatcherError

if TYPE_CHECKING:
    from watcher.config import Settings
    from watcher.store import Session
    from watcher.store.finding_views import FindingFilter

# The commands that change a finding, and the lifecycle action each one is.
CHANGES = {"ack": "acknowledge", "suppress": "suppress", "resolve": "resolve", "reopen": "reopen"}
_PAGE = 100  # findings read per query (the list shows every page)


def add_parser(
    sub: Any, with_config: Callable[[argparse.ArgumentParser], argparse.ArgumentParser]
) -> None:
    """Add ``findings`` and its commands to the top-level sub-parsers ``sub``."""
    findings = sub.add_parser("findings", help="list, show and act on findings")
    commands = findings.add_subparsers(dest="findings_command", required=True)
    listing = with_config(
        commands.add_parser("list", help="every finding, highest risk first, then newest")
    )
    for option, what in (
        ("--status", "open, acknowledged, suppressed or resolved"),
        ("--risk", "critical, high, medium, low or none"),
        ("--kind", "match kind (exact, prefix, typo, ...)"),
        ("--internal", "internal name or prefix"),
        ("--public", "public project name"),
    ):
        listing.add_argument(
            option, action="append", default=[], help=f"{what} (repeat or comma-separate)"
        )
    listing.add_argument("--since", help="changed at or after this ISO 8601 time (UTC if no zone)")
    listing.add_argument("--json", action="store_true", help="print them as JSON")
    show = with_config(commands.add_parser("show", help="one finding, its history and project"))
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true", help="print it as JSON")
    for command, action in CHANGES.items():
        change = with_config(commands.add_parser(command, help=f"{action} a finding"))
        change.add_argument("id", type=int)
        change.add_argument("--reason", required=True, help="why (kept in its history)")
        change.add_argument("--actor", help="who (default: your login name)")
        change.add_argument("--json", action="store_true", help="print the finding as JSON")


@asynccontextmanager
async def database_session(settings: Settings, *, write: bool = False) -> AsyncIterator[Session]:
    """A transaction on the service's database (``write``: one that holds the write lock
    from its start, as a change must while the service runs); never creates or migrates one."""
    from watcher.store import Database, DatabaseError
    from watcher.store.paths import database_label, sqlite_path

    url = settings.database_url
    path = sqlite_path(url)
    if path is not None and not path.exists():
        raise WatcherError(
            f"no database at {path.absolute()} (WATCHER_DATABASE_URL): start the service"
            " (`watcher run`) or run `watcher db upgrade` first"
        )
    db = Database(url)
    try:
        await db.require_current()
        async with db.write() if write else db.transaction() as session:
            yield session
    except (OSError, DatabaseError) as exc:
        first = (str(exc) or type(exc).__name__).splitlines()[0]
        raise WatcherError(f"cannot use the database {database_label(url)}: {first}") from exc
    finally:
        await db.close()


def _split(values: list[str]) -> list[str]:
    return [v.strip() for given in values for v in given.split(",") if v.strip()]


def _filter(args: argparse.Namespace) -> FindingFilter:
    from watcher.names import canonical
    from watcher.store.finding_views import RISK_ORDER, FindingFilter
    from watcher.store.models import FindingStatus
    from watcher.web.findings import BadRequest, parse_since

    statuses = [s.lower() for s in _split(args.status)]
    risks = [r.lower() for r in _split(args.risk)]
    for option, values, allowed in (
        ("--status", statuses, tuple(FindingStatus)),
        ("--risk", risks, RISK_ORDER),
    ):
        wrong = [v for v in values if v not in allowed]
        if wrong:
            raise ConfigError(f"{option}: {wrong[0]!r} is not one of {', '.join(allowed)}")
    try:
        since = parse_since(args.since) if args.since else None
        internal = [str(canonical(n)) for n in _split(args.internal)]
        public = [str(canonical(n)) for n in _split(args.public)]
    except (BadRequest, InvalidName) as exc:
        raise ConfigError(str(exc)) from None
    return FindingFilter(statuses, risks, _split(args.kind), internal, public, since)


async def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run one ``watcher findings`` command; return the exit code."""
    command = args.findings_command
    if command == "list":
        return await _list(settings, args)
    if command == "show":
        return await _show(settings, args)
    return await _change(settings, args)


async def _list(settings: Settings, args: argparse.Namespace) -> int:
    from watcher.store.finding_views import list_findings
    from watcher.web.findings import finding_json

    filters = _filter(args)
    shown: list[dict[str, Any]] = []
    cursor: str | None = None
    async with database_session(settings) as session:
        # Every page, in one transaction: the list is what the database held at one time.
        while True:
            page = await list_findings(session, filters, limit=_PAGE, cursor=cursor)
            shown += [finding_json(f) for f in page.findings]
            cursor = page.next_cursor
            if cursor is None:
                break
    if args.json:
        print(json.dumps({"findings": shown, "count": len(shown)}, indent=2))
        return 0
    for f in shown:
        print(_line(f))
    print(f"{len(shown)} findings", file=sys.stderr)
    return 0


def _line(f: dict[str, Any]) -> str:
    from watcher.text import printable

    # Names and details come from the index: one line each, control characters escaped.
    return (
        f"{f['id']:>6}  {f['status']:<12} {f['risk']:<8} {printable(f['public_name'], 80)}"
        f"  vs {printable(f['internal_name'], 80)} ({printable(f['kind'], 20)})"
        f"  first seen {f['first_seen_at']}"
    )


async def _show(settings: Settings, args: argparse.Namespace) -> int:
    from watcher.store.finding_views import finding_detail
    from watcher.text import printable
    from watcher.web.findings import detail_json

    async with database_session(settings) as session:
        document = detail_json(await finding_detail(session, args.id))
    if args.json:
        print(json.dumps(document, indent=2))
        return 0
    lines = [_line(document), f"  detail: {printable(document['detail'], 500)}"]
    if document["risk_reason"]:
        lines.append(f"  why: {printable(document['risk_reason'], 500)}")
    if document["resolution"]:
        lines.append(f"  resolution: {printable(document['resolution'])}")
    lines.append("  history:")
    lines += [
        f"    {e['at']}  {e['action']:<11} {e['from_status'] or '-'} -> {e['to_status']}"
        f"  by {printable(e['actor'], 100)} via {e['via']}"
        + (f": {printable(e['reason'], 300)}" if e["reason"] else "")
        for e in document["history"]
    ]
    project = document["project"]
    owners = ", ".join(printable(o, 80) for o in project["owners"]) or "unknown"
    lines.append(f"  project owners: {owners}")
    lines.append(f"  releases stored ({len(project['releases'])}):")
    lines += [
        f"    {printable(r['version'], 100)}  uploaded {r['upload_time'] or 'unknown'}"
        + ("  (yanked)" if r["yanked"] else "")
        for r in project["releases"]
    ]
    print("\n".join(lines))
    return 0


def _actor(given: str | None) -> str:
    if given is not None:
        actor = given.strip()
    else:
        try:
            actor = getpass.getuser()
        except (OSError, KeyError):
            actor = ""
    if not actor or len(actor) > 200 or not actor.isprintable():
        raise ConfigError("--actor: say who you are (printable, at most 200 characters)")
    return actor


async def _change(settings: Settings, args: argparse.Namespace) -> int:
    from watcher.store import findings
    from watcher.store.base import utcnow
    from watcher.web.findings import finding_json

    actor = _actor(args.actor)
    reason = args.reason.strip()
    if not reason or len(reason) > 2000 or not reason.isprintable():
        raise ConfigError("--reason: say why (printable, at most 2000 characters)")
    action = findings.Action(CHANGES[args.findings_command])
    async with database_session(settings, write=True) as session:
        row = await findings.transition(
            session,
            args.id,
            action,
            actor=actor,
            via=findings.Via.CLI,
            reason=reason,
            now=utcnow(),
        )
    document = finding_json(row)
    print(json.dumps(document, indent=2) if args.json else _line(document))
    return 0
