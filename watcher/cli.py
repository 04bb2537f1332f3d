"""Command line: ``watcher run | check NAME | scan --names FILE | db upgrade``.

Exit codes: 0 success; 1 a runtime failure (index unreachable, database down); 2 bad
configuration, bad catalog or bad input (one line on stderr saying what to fix).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from watcher import __version__
from watcher.app import run_daemon
from watcher.catalog import load_catalog_file
from watcher.checks import NameChecker, Verdict
from watcher.config import Settings, load_settings
from watcher.errors import CatalogError, ConfigError, IndexClientError, InvalidName, WatcherError
from watcher.matching import CatalogMatcher
from watcher.matching.live import LiveCatalog, load_view
from watcher.matching.scan import read_dump, scan
from watcher.pypi import open_index_client
from watcher.store import Database, DatabaseError
from watcher.store.status import coverage
from watcher.web.views import coverage_json

EXIT_FAILURE = 1
EXIT_USAGE = 2


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
    check = with_config(sub.add_parser("check", help="is this name safe? (risk verdict)"))
    check.add_argument("name")
    check.add_argument("--json", action="store_true", help="print the verdict as JSON")
    scan = with_config(
        sub.add_parser("scan", help="match a file of public names against the catalog, offline")
    )
    scan.add_argument("--names", type=Path, required=True, help="one public name per line")
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
    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    with_config(db_sub.add_parser("upgrade", help="migrate the schema to the newest revision"))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``watcher`` console script."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            settings = load_settings(args.config, require=("pypi_url", "catalog"))
            _setup_logging(settings)
            asyncio.run(run_daemon(settings))
            return 0
        if args.command == "check":
            settings = load_settings(args.config, require=("pypi_url", "catalog"))
            _setup_logging(settings, quiet=True)
            return asyncio.run(_check(settings, args.name, as_json=args.json))
        if args.command == "scan":
            return _scan(args)
        if args.command == "status":
            settings = load_settings(args.config)
            _setup_logging(settings, quiet=True)
            asyncio.run(_status(settings))
            return 0
        settings = load_settings(args.config)
        _setup_logging(settings)
        asyncio.run(_upgrade(settings))
        return 0
    except (ConfigError, CatalogError, InvalidName) as exc:
        print(f"watcher: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except WatcherError as exc:
        print(f"watcher: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except (OSError, DatabaseError) as exc:
        # The database (or a port) is unreachable or refuses us: one line, not a traceback.
        # SQLAlchemy appends a multi-line "background" link; its first line says it all.
        print(f"watcher: {(str(exc) or type(exc).__name__).splitlines()[0]}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130


async def _check(settings: Settings, name: str, *, as_json: bool) -> int:
    catalog = LiveCatalog(load_view(settings.catalog_path, datetime.now(UTC)))
    async with open_index_client(settings.index) as client:
        checker = NameChecker(catalog, client)
        try:
            verdict = await checker.check(name)
        except IndexClientError as exc:
            print(f"watcher: cannot ask the index: {exc}", file=sys.stderr)
            return EXIT_FAILURE
    print(json.dumps(verdict.to_json(), indent=2) if as_json else _human(verdict))
    return 0


def _human(verdict: Verdict) -> str:
    lines = [
        f"{verdict.name}: risk {str(verdict.risk).upper()}",
        f"  internal name:         {'yes' if verdict.internal else 'no'}",
        f"  allowlisted:           {'yes' if verdict.allowed else 'no'}",
        f"  public project exists: {'yes' if verdict.public_exists else 'no'}",
    ]
    if verdict.matches:
        lines.append("  matches:")
        lines += [f"    {m.kind:<8} {m.internal_name:<30} {m.detail}" for m in verdict.matches]
    else:
        lines.append("  matches: none")
    return "\n".join(lines)


def _scan(args: argparse.Namespace) -> int:
    if args.catalog is not None:
        catalog_path: Path = args.catalog
    else:
        catalog_path = load_settings(args.config, require=("catalog",)).catalog_path
    catalog = load_catalog_file(catalog_path)
    if args.workers is not None and args.workers < 1:
        raise ConfigError("--workers must be at least 1")
    try:
        dump = read_dump(args.names)
    except OSError as exc:
        raise ConfigError(f"cannot read {args.names}: {exc.strerror or exc}") from None
    for number, line in dump.invalid[:20]:
        print(
            f"watcher: {args.names}:{number}: not a valid project name: {line!r}", file=sys.stderr
        )
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
    db = Database(settings.database_url)
    try:
        await db.require_current()  # reading must not create or migrate anything
        async with db.transaction() as session:
            print(json.dumps(coverage_json(await coverage(session)), indent=2))
    finally:
        await db.close()


async def _upgrade(settings: Settings) -> None:
    db = Database(settings.database_url)
    try:
        await db.upgrade()
        print(f"database at revision {await db.current_revision()}")
    finally:
        await db.close()


def _setup_logging(settings: Settings, *, quiet: bool = False) -> None:
    logging.basicConfig(
        level=logging.WARNING if quiet else settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # apscheduler logs every run at INFO; keep its warnings (skipped runs) only.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
