"""Command line: ``watcher run | check NAME | db upgrade``.

Exit codes: 0 success; 1 a runtime failure (index unreachable, database down); 2 bad
configuration, bad catalog or bad input (one line on stderr saying what to fix).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

from watcher import __version__
from watcher.app import http_session, index_client, run_daemon
from watcher.catalog import load_catalog_file
from watcher.checks import NameChecker, Verdict
from watcher.config import Settings, load_settings
from watcher.errors import CatalogError, ConfigError, IndexClientError, InvalidName, WatcherError
from watcher.matching import build_matcher
from watcher.store import Database

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
    except KeyboardInterrupt:
        return 130


async def _check(settings: Settings, name: str, *, as_json: bool) -> int:
    catalog = load_catalog_file(settings.catalog_path)
    async with http_session(settings) as session:
        checker = NameChecker(catalog, build_matcher(catalog), index_client(settings, session))
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
