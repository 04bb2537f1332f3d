"""Command line: ``watcher run | check NAME | scan --names FILE | status | catalog ... |
findings ... | doctor | db upgrade | demo``.

Exit codes: 0 success; 1 a runtime failure (index unreachable, database down); 2 bad
configuration, bad catalog or bad input (one line on stderr saying what to fix).

Start-up time matters (``watcher check`` is run by hand and from scripts): this module and
the parser import nothing heavy. Each command imports what it needs inside its branch, so
``--help`` never loads SQLAlchemy, aiohttp or numpy, and ``check`` never loads SQLAlchemy.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from watcher import __version__
from watcher.errors import CatalogError, ConfigError, InvalidName, WatcherError

if TYPE_CHECKING:
    from watcher.config import Settings

T = TypeVar("T")

EXIT_FAILURE = 1
EXIT_USAGE = 2

# ``check``'s options, and whether each takes a value: everything else is the name, even
# when it starts with '-' (``watcher check -acme`` reaches name validation, not argparse).
_CHECK_OPTIONS = {
    "--help": False,
    "--json": False,
    "--sarif": False,
    "--config": True,
    "--requirement": True,
    "--root": True,
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="watcher", description="Watch the public package index for squats of internal names."
    )
    parser.add_argument("--version", action="version", version=f"watcher {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", type=Path, help="TOML settings file (env vars override it)")
        return p

    with_config(sub.add_parser("run", help="run the daemon"))
    check = with_config(
        sub.add_parser(
            "check",
            help="is this name safe? (risk verdict); with -r: are these dependency files?",
        )
    )
    check.add_argument("name", nargs="?")
    check.add_argument("--json", action="store_true", help="print the verdict as JSON")
    check.add_argument(
        "-r",
        "--requirement",
        dest="requirements",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="a dependency file to check (repeatable): requirements, pyproject.toml,"
        " poetry.lock, uv.lock, Pipfile.lock, pylock.toml; exit 0 clean, 1 risky, 2 unusable",
    )
    check.add_argument("--sarif", action="store_true", help="with -r: print a SARIF log")
    check.add_argument(
        "--root",
        type=Path,
        help="with -r: the directory -r/-c includes may be read from (default: the working"
        " directory when the file is under it, else the file's own)",
    )
    scan = with_config(
        sub.add_parser("scan", help="match a file of public names against the catalog, offline")
    )
    scan.add_argument(
        "--names",
        type=Path,
        required=True,
        help="one public name per line ('-': standard input); blank and '#' lines are skipped",
    )
    scan.add_argument(
        "--catalog", type=Path, help="catalog file (default: WATCHER_CATALOG / --config)"
    )
    scan.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    scan.add_argument(
        "--workers", type=int, default=None, help="processes to use (default: one per CPU)"
    )
    with_config(
        sub.add_parser(
            "status", help="where each source stands: feeds, whole index, change log (JSON)"
        )
    )
    catalog = sub.add_parser("catalog", help="the internal catalog: files and private indexes")
    catalog_sub = catalog.add_subparsers(dest="catalog_command", required=True)
    show = with_config(
        catalog_sub.add_parser("show", help="names by source, versions, mirrors, last loads")
    )
    show.add_argument("--json", action="store_true", help="print it as JSON")
    with_config(
        catalog_sub.add_parser(
            "check", help="validate the file and read every private index now (exit 0/1/2)"
        )
    )
    from watcher import cli_findings  # light: its commands import what they need

    cli_findings.add_parser(sub, with_config)
    from watcher import cli_doctor

    cli_doctor.add_parser(sub, with_config)
    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    with_config(db_sub.add_parser("upgrade", help="migrate the schema to the newest revision"))
    demo = sub.add_parser("demo", help="a self-contained demonstration with fake services")
    demo.add_argument(
        "--port",
        type=int,
        default=None,
        help="port of the demo's HTTP API (default 8080; its simulated index uses the next)",
    )
    demo.add_argument("--seconds", type=float, default=None, help="stop after this many seconds")
    return parser


def _check_argv(args: list[str]) -> list[str]:
    """``check``'s arguments rearranged so that the name, even one starting with '-', comes
    after ``--``; its options keep their order and may come anywhere."""
    options: list[str] = []
    unknown: list[str] = []
    names: list[str] = []
    args_left = iter(args)
    for arg in args_left:
        if arg == "--":
            names += args_left
            break
        if arg == "-h":
            options.append(arg)
            continue
        if arg == "-r" or (arg.startswith("-r") and not arg.startswith("--")):
            # ``-r FILE`` or ``-rFILE``: pip's spelling of a requirements file.
            value = arg[2:] or next(args_left, None)
            options.append("-r" if value is None else f"--requirement={value}")
            continue
        if arg.startswith("--"):
            key, eq, _ = arg.partition("=")
            found = [o for o in _CHECK_OPTIONS if o == key] or [
                o for o in _CHECK_OPTIONS if o.startswith(key)
            ]
            if len(found) == 1:
                value = next(args_left, None) if _CHECK_OPTIONS[found[0]] and not eq else None
                # ``--config=VALUE`` keeps a value starting with '-' a value.
                options.append(arg if value is None else f"{arg}={value}")
                continue
            unknown.append(arg)
            continue
        names.append(arg)
    if not names and len(unknown) == 1:
        names, unknown = unknown, []  # ``--acme`` alone is a (bad) name, not an option
    return [*options, *unknown, "--", *names]


def _prepare(argv: list[str]) -> list[str]:
    """The arguments as argparse should see them (see :func:`_check_argv`)."""
    for index, arg in enumerate(argv):
        if not arg.startswith("-"):  # the command: the top level has no option values
            if arg == "check":
                return [*argv[: index + 1], *_check_argv(argv[index + 1 :])]
            break
    return argv


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``watcher`` console script."""
    args = _parser().parse_args(_prepare(sys.argv[1:] if argv is None else list(argv)))
    try:
        if args.command == "run":
            from watcher.app import run_daemon
            from watcher.config import load_settings

            settings = load_settings(args.config, require=("pypi_url", "catalog"))
            _setup_logging(settings)
            _run(run_daemon(settings))
            return 0
        if args.command == "check":
            from watcher import cli_check

            return cli_check.check_command(args)
        if args.command == "scan":
            return _scan(args)
        if args.command == "status":
            from watcher.config import load_settings

            settings = load_settings(args.config)
            _setup_logging(settings, quiet=True)
            _run(_status(settings))
            return 0
        if args.command == "catalog":
            from watcher import cli_catalog
            from watcher.config import load_settings

            settings = load_settings(args.config, require=("catalog",))
            _setup_logging(settings, quiet=True)
            if args.catalog_command == "show":
                return _run(cli_catalog.show(settings, as_json=args.json))
            return _run(cli_catalog.check(settings))
        if args.command == "findings":
            from watcher import cli_findings
            from watcher.config import load_settings

            settings = load_settings(args.config)
            _setup_logging(settings, quiet=True)
            return _run(cli_findings.run(settings, args))
        if args.command == "doctor":
            from watcher import cli_doctor

            return cli_doctor.doctor_command(args)
        if args.command == "demo":
            from watcher.demo import main as demo_main

            return demo_main(args)
        from watcher.config import load_settings

        settings = load_settings(args.config)
        _setup_logging(settings)
        _run(_upgrade(settings))
        return 0
    except (ConfigError, CatalogError, InvalidName) as exc:
        print(f"watcher: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except WatcherError as exc:
        print(f"watcher: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except _runtime_errors() as exc:
        # The database (or a port) is unreachable or refuses us: one line, not a traceback.
        print(f"watcher: {_first_line(exc)}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130


def _run(coro: Coroutine[Any, Any, T]) -> T:
    import asyncio

    return asyncio.run(coro)


def _runtime_errors() -> tuple[type[BaseException], ...]:
    """OSError, and the database's errors when the database was used at all (evaluated only
    when an exception is on its way out, so SQLAlchemy is never imported for nothing)."""
    store = sys.modules.get("watcher.store")
    if store is None:
        return (OSError,)
    database_error: type[BaseException] = store.DatabaseError
    return (OSError, database_error)


def _first_line(exc: BaseException) -> str:
    # SQLAlchemy appends a multi-line "background" link; its first line says it all.
    return (str(exc) or type(exc).__name__).splitlines()[0]


def _setup_logging(settings: Settings, *, quiet: bool = False) -> None:
    from watcher.logs import setup_logging

    setup_logging(settings.log_level, settings.log_format, quiet=quiet)


def _scan(args: argparse.Namespace) -> int:
    import json
    from collections import Counter

    from watcher.catalog import load_catalog_file
    from watcher.matching import CatalogMatcher
    from watcher.matching.scan import read_dump, scan

    if args.catalog is not None:
        catalog_path: Path = args.catalog
    else:
        from watcher.config import load_settings

        catalog_path = load_settings(args.config, require=("catalog",)).catalog_path
    catalog = load_catalog_file(catalog_path)
    if args.workers is not None and args.workers < 1:
        raise ConfigError("--workers must be at least 1")
    shown = "<stdin>" if str(args.names) == "-" else str(args.names)
    try:
        dump = read_dump(args.names)
    except OSError as exc:
        raise ConfigError(f"cannot read {shown}: {exc.strerror or exc}") from None
    for number, line in dump.invalid[:20]:
        print(f"watcher: {shown}:{number}: not a valid project name: {line!r}", file=sys.stderr)
    if len(dump.invalid) > 20:
        print(f"watcher: ... and {len(dump.invalid) - 20} more invalid lines", file=sys.stderr)
    matcher = CatalogMatcher(catalog)
    matches = scan(matcher, dump.text, workers=args.workers)
    out = sys.stdout
    for m in matches:
        if args.json:
            record = {
                "public": m.public_name,
                "internal": m.internal_name,
                "kind": str(m.kind),
                "detail": m.detail,
                "severity": str(m.severity),
            }
            out.write(json.dumps(record) + "\n")
        else:
            out.write(f"{m.public_name}\t{m.internal_name}\t{m.kind}\t{m.detail}\n")
    counts = Counter(str(m.kind) for m in matches)
    summary = ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items())) or "none"
    print(
        f"watcher: {len(dump.names)} names, {len(dump.invalid)} invalid, "
        f"{len(matches)} matches ({summary})",
        file=sys.stderr,
    )
    return 0


async def _status(settings: Settings) -> None:
    import json

    from watcher.store import Database, DatabaseError
    from watcher.store.paths import database_label, sqlite_path
    from watcher.store.status import coverage
    from watcher.web.views import coverage_json

    url = settings.database_url
    path = sqlite_path(url)
    if path is not None and not path.exists():
        # Opening it would create an empty file: reading must not create anything.
        raise WatcherError(
            f"no database at {path.absolute()} (WATCHER_DATABASE_URL): run `watcher db upgrade`"
            " or start the service (`watcher run`) to create it"
        )
    db = Database(url)
    try:
        await db.require_current()  # reading must not create or migrate anything
        async with db.transaction() as session:
            document = coverage_json(await coverage(session))
    except (OSError, DatabaseError) as exc:
        where = database_label(url)
        raise WatcherError(f"cannot read the database {where}: {_first_line(exc)}") from exc
    finally:
        await db.close()
    print(json.dumps(document, indent=2))
    if document["dead_index_events"]:
        # The JSON lists them; this line makes sure a human reading the terminal sees it.
        print(
            f"watcher: {document['dead_index_events']} index events given up on after repeated"
            " failures (dead_letters): their projects need a look",
            file=sys.stderr,
        )


async def _upgrade(settings: Settings) -> None:
    from watcher.store import Database, DatabaseError
    from watcher.store.paths import database_label

    url = settings.database_url
    db = Database(url)
    try:
        await db.upgrade()
        revision = await db.current_revision()
    except (OSError, DatabaseError) as exc:
        where = database_label(url)
        raise WatcherError(f"cannot migrate the database {where}: {_first_line(exc)}") from exc
    finally:
        await db.close()
    print(f"database at revision {revision}")
