"""``watcher check``: one name's verdict (``check NAME``), or dependency files as a CI gate
(``check -r FILE``: exit 0 clean, 1 risky, 2 unusable input), in plain text, ``--json`` or
``--sarif``. Start-up stays light: nothing heavy is imported before the arguments are read."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from watcher import __version__

if TYPE_CHECKING:
    from watcher.catalog.model import Catalog
    from watcher.checks import Verdict
    from watcher.config import Settings
    from watcher.depcheck import FilesCheck
    from watcher.matching.public_names import ListedNames
    from watcher.store.known import StoredProject

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
    from watcher.matching import build_matcher
    from watcher.matching.live import CatalogView, LiveCatalog, load_view
    from watcher.pypi import open_index_client

    view = load_view(settings.catalog_path, datetime.now(UTC))
    stored = await read_store(settings, view.catalog)
    if stored is not None and stored.catalog is not None:
        # As the service's: the file plus the private indexes' last good loads.
        view = CatalogView(
            stored.catalog, build_matcher(stored.catalog), view.source, view.digest, view.loaded_at
        )
    catalog = LiveCatalog(view)
    async with open_index_client(settings.index) as client:
        # What the service's API would answer from the same database: existence from the
        # stored listing (else asked), its look-alikes, the stored project and its findings.
        checker = NameChecker(
            catalog,
            client,
            confirm_index=True,
            known=stored.names if stored is not None else None,
            details=stored,
        )
        try:
            verdict = await checker.check(name)
        except IndexClientError as exc:
            print(f"watcher: cannot ask the index: {exc}", file=sys.stderr)
            return EXIT_RISKY
    if as_json:
        print(json.dumps(verdict.to_json(), indent=2))
    else:
        print(_human(verdict, stored, datetime.now(UTC)))
    return 0


@dataclass(frozen=True)
class Stored:
    """What the service's database holds for a name's verdict (read by :func:`read_store`)."""

    projects: dict[str, StoredProject]
    # Every public name known, read at ``names.as_of``; None: no listing applied yet.
    names: ListedNames | None
    reconciled_at: datetime | None
    # The change log keeps the listing current between reconciles: its last update.
    journal_at: datetime | None = None
    # The catalog file merged with its private indexes' last good loads (None: it names no
    # private index).
    catalog: Catalog | None = None

    def project(self, name: str) -> StoredProject | None:
        """The stored public project ``name`` and its open findings, if the store has it."""
        return self.projects.get(name)


async def read_store(settings: Settings, file: Catalog | None = None) -> Stored | None:
    """Read what the service's database knows of the public index (None: no database yet),
    and the last good loads of ``file``'s private indexes, merged into it as the service does.

    The names are read only once a listing was applied: before that, what the store holds
    is what the feeds saw, and a name it lacks could not be called free or unlike any.
    """
    from watcher.catalog.merge import merge
    from watcher.cli_findings import database_session
    from watcher.matching.public_names import ListedNames
    from watcher.sources.indexes import stored_content
    from watcher.store import journal, known, listing
    from watcher.store.paths import sqlite_path

    path = sqlite_path(settings.database_url)
    if path is not None and not path.exists():
        return None  # a new install: the service never ran here (and reading creates none)
    as_of = datetime.now(UTC)  # as the service's view: the time the store was read
    names: ListedNames | None = None
    async with database_session(settings) as session:
        projects = await known.stored_projects(session)
        state = await listing.get_state(session)
        reconciled = state.reconciled_at if state is not None else None
        cursor = await journal.get_cursor(session)
        if reconciled is not None:
            # One buffer, no set or index: a single name is scanned for (under a second a
            # million names; an index would take several to build).
            names = ListedNames(await known.known_names_text(session), as_of)
        merged = None
        if file is not None and file.indexes:
            contents = [(await stored_content(session, spec))[0] for spec in file.indexes]
            merged = merge(file, contents)
    return Stored(projects, names, reconciled, cursor.updated_at if cursor else None, merged)


def _human(verdict: Verdict, stored: Stored | None, now: datetime) -> str:
    from watcher.checks import LOOKALIKES_SHOWN, reason_of, remediation_of
    from watcher.text import printable

    lines = [
        f"{verdict.name}: risk {str(verdict.risk).upper()}",
        f"  internal name:         {'yes' if verdict.internal else 'no'}",
        f"  allowlisted:           {'yes' if verdict.allowed else 'no'}",
        f"  public project exists: {'yes' if verdict.public_exists else 'no'}"
        f" ({_basis(verdict, stored, now)})",
    ]
    if verdict.matches:
        lines.append("  matches:")
        lines += [
            f"    {m.kind:<8} {m.internal_name:<30} {printable(m.detail)}" for m in verdict.matches
        ]
    else:
        lines.append("  matches: none")
    lookalikes = verdict.lookalikes
    if lookalikes is None:
        why = "no database here" if stored is None else "no listing of the index stored yet"
        lines.append(f"  public look-alikes: unknown ({why})")
    elif not lookalikes:
        lines.append("  public look-alikes: none")
    else:
        lines.append(f"  public look-alikes: {len(lookalikes)}")
        lines += [
            f"    {m.kind:<10} {m.public_name:<30} {printable(m.detail)} (score {m.score:.2f})"
            for m in lookalikes[:LOOKALIKES_SHOWN]
        ]
        if len(lookalikes) > LOOKALIKES_SHOWN:
            lines.append(f"    ... and {len(lookalikes) - LOOKALIKES_SHOWN} more (--json lists)")
    lines += _stored_lines(verdict)
    acceptance = verdict.acceptance
    if acceptance is not None and not acceptance.accepted and not verdict.public_exists:
        # A free name the index would still refuse (a name taken says so above already).
        lines.append(f"  index would refuse it: {printable(acceptance.reason)}")
    # The risk model's reason when there is one (it quotes versions from the index).
    lines.append(f"  verdict: {printable(reason_of(verdict), 500)}")
    lines.append(f"  what to do: {remediation_of(verdict)}")
    return "\n".join(lines)


def _basis(verdict: Verdict, stored: Stored | None, now: datetime) -> str:
    """Where "exists" comes from, and how old that is."""
    if verdict.basis != "store" or stored is None or stored.reconciled_at is None:
        return "asked the index just now"
    basis = f"stored listing, reconciled {_age(stored.reconciled_at, now)}"
    if stored.journal_at is not None:
        basis += f"; change log applied {_age(stored.journal_at, now)}"
    return basis


def _stored_lines(verdict: Verdict) -> list[str]:
    """What the store keeps of the public project: package-supplied, so shown escaped."""
    from watcher.text import printable

    project = verdict.stored
    if project is None:
        return []
    first = project.first_release.date().isoformat() if project.first_release else "unknown"
    lines = [
        f"  stored public project: {printable(project.name)}{' (ours)' if project.ours else ''}",
        f"    latest version:      {printable(project.latest_version or 'unknown')}",
        f"    first upload:        {first}",
        f"    owners:              {printable(', '.join(project.owners) or 'unknown')}",
    ]
    if project.findings:
        lines.append("  open findings:")
        lines += [
            f"    #{f.id:<6} {f.status:<12} {f.risk or 'unknown':<8} {f.kind:<10} "
            f"{printable(f.internal_name)}"
            for f in project.findings
        ]
    else:
        lines.append("  open findings: none")
    return lines


def _age(then: datetime, now: datetime) -> str:
    """``then`` as an age ("3 h ago"), with the time itself (UTC)."""
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)  # stored times are UTC
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 60:
        ago = "just now"
    elif seconds < 3600:
        ago = f"{seconds // 60} min ago"
    elif seconds < 2 * 86400:
        ago = f"{seconds // 3600} h ago"
    else:
        ago = f"{seconds // 86400} days ago"
    return f"{ago}, {then.astimezone(UTC).strftime('%Y-%m-%d %H:%M UTC')}"


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
