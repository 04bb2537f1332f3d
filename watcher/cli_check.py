"""``watcher check``: one name's verdict (``check NAME``), or dependency files as a CI gate
(``check -r FILE``: exit 0 clean, 1 risky, 2 unusable input), in plain text, ``--json`` or
``--sarif``. Start-up stays light: nothing heavy is imported before the arguments are read."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from watcher import __version__

if TYPE_CHECKING:
    from watcher.checks import Verdict
    from watcher.config import Settings
    from watcher.depcheck import FilesCheck

EXIT_CLEAN, EXIT_RISKY, EXIT_USAGE = 0, 1, 2


def check_command(args: argparse.Namespace) -> int:
    """``check NAME`` or ``check -r FILE...``."""
    from watcher.logs import setup_logging

    if bool(args.requirements) == (args.name is not None):
        print("watcher: check needs a NAME or -r FILE (not both)", file=sys.stderr)
        return EXIT_USAGE
    if args.requirements:
        if args.json and args.sarif:
            print("watcher: --json or --sarif, not both", file=sys.stderr)
            return EXIT_USAGE
        from watcher.config import load_settings

        settings = load_settings(args.config, require=("pypi_url", "catalog"))
        setup_logging(settings.log_level, settings.log_format, quiet=True)
        output = "json" if args.json else "sarif" if args.sarif else "text"
        return asyncio.run(check_files(settings, args.requirements, output=output, root=args.root))
    from watcher.names import validate

    validate(args.name)  # before anything is loaded or asked
    from watcher.config import load_settings

    settings = load_settings(args.config, require=("pypi_url", "catalog"))
    setup_logging(settings.log_level, settings.log_format, quiet=True)
    return asyncio.run(_check_name(settings, args.name, as_json=args.json))


async def _check_name(settings: Settings, name: str, *, as_json: bool) -> int:
    from watcher.checks import NameChecker
    from watcher.errors import IndexClientError
    from watcher.matching.live import LiveCatalog, load_view
    from watcher.pypi import open_index_client

    catalog = LiveCatalog(load_view(settings.catalog_path, datetime.now(UTC)))
    async with open_index_client(settings.index) as client:
        checker = NameChecker(catalog, client, confirm_index=True)
        try:
            verdict = await checker.check(name)
        except IndexClientError as exc:
            print(f"watcher: cannot ask the index: {exc}", file=sys.stderr)
            return EXIT_RISKY
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
    if verdict.assessment is not None:
        # The reason quotes versions from the index, already clipped and escaped.
        lines.append(f"  why: {verdict.assessment.reason}")
    return "\n".join(lines)


async def check_files(
    settings: Settings, paths: list[Path], *, output: str, root: Path | None = None
) -> int:
    """Parse and check ``paths``; print the result in ``output`` (text, json, sarif)."""
    from watcher import depcheck, depfiles
    from watcher.checks import NameChecker
    from watcher.errors import IndexClientError
    from watcher.matching.live import LiveCatalog, load_view
    from watcher.pypi import open_index_client

    view = load_view(settings.catalog_path, datetime.now(UTC))
    catalog = view.catalog
    hosts = depcheck.hosts_of(catalog, settings.index_url)
    reports = []
    for path in paths:
        try:
            reports.append(depfiles.load(path, root=root, allowed_hosts=hosts.allowed))
        except depfiles.UnusableInput as exc:
            print(f"watcher: {exc}", file=sys.stderr)
            return EXIT_USAGE
    async with open_index_client(settings.index) as client:
        checker = NameChecker(LiveCatalog(view), client, confirm_index=True)
        try:
            await client.confirm_index()
        except IndexClientError as exc:
            # Every dependency would be "could not be checked": say it once.
            print(f"watcher: cannot ask the index: {exc}", file=sys.stderr)
            return EXIT_RISKY
        result = await depcheck.check_files(
            reports,
            catalog=catalog,
            hosts=hosts,
            verdict_of=checker.check,
        )
    if output == "json":
        print(json.dumps(result.to_json(), indent=2))
    elif output == "sarif":
        print(json.dumps(result.to_sarif(__version__), indent=2))
    else:
        print(human(result))
    return EXIT_RISKY if result.risky else EXIT_CLEAN


def human(result: FilesCheck) -> str:
    """The result for a terminal: problems, then the dependencies that need a look."""
    from watcher.text import printable

    lines = []
    for report in result.reports:
        named = sum(1 for d in report.dependencies if d.canonical and not d.constraint)
        lines.append(f"{printable(report.name)} ({report.kind}): {named} dependencies")
    problems = result.all_problems()
    for problem in problems:
        lines.append(
            f"  {problem.severity.upper():<7} {printable(problem.location)}: "
            f"{problem.code}: {printable(problem.message, 500)}"
        )
    for item in result.dependencies:
        if item.risk in ("none", "low") and not item.failing:
            continue
        dep = item.dependency
        lines.append(
            f"  {item.risk.upper():<7} {printable(dep.location)}: {printable(dep.name)}: "
            f"{printable(item.reason, 500)}"
        )
    lines.append("RISKY: do not install as it is" if result.risky else "clean")
    return "\n".join(lines)
