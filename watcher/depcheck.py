"""Dependency files checked against the catalog and the public index: "is this file safe to
install with our pip set-up?" (``watcher check -r FILE`` and ``POST /v1/check``).

A file is parsed by :mod:`watcher.depfiles` (its own problems: a second index, no hashes,
unexpected hosts); the catalog adds the internal packages' problems (not pinned, fetched from
outside); each named dependency then gets the name verdict of :mod:`watcher.checks` (is it
internal, does it exist publicly, does it look like one of ours). The file is **risky** when
any problem is an error, any dependency's risk is high or more, or a dependency could not be
checked: "could not ask" is never "safe".
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from packaging.utils import canonicalize_name

from watcher import depfiles
from watcher.catalog.model import Catalog
from watcher.checks import Verdict, reason_of
from watcher.depfiles import Dependency, DependencyFile, Problem
from watcher.depfiles.common import host_of
from watcher.errors import InvalidName, WatcherError
from watcher.matching import Risk

# A dependency this risky makes the file fail the gate (a free internal name is medium:
# anyone could register it, which the file's own problems decide about).
FAILING_RISK = Risk.HIGH
UNKNOWN = "unknown"  # the risk of a dependency that could not be checked


@dataclass(frozen=True)
class DependencyVerdict:
    """One named dependency of a file and what we know of its name."""

    dependency: Dependency
    verdict: Verdict | None
    error: str | None = None  # why it could not be checked

    @property
    def risk(self) -> str:
        """The name's risk, or ``unknown`` when it could not be checked."""
        return UNKNOWN if self.verdict is None else str(self.verdict.risk)

    @property
    def failing(self) -> bool:
        """True when this dependency alone makes the file risky."""
        return self.verdict is None or self.verdict.risk >= FAILING_RISK

    @property
    def reason(self) -> str:
        """Why, in one line."""
        if self.verdict is None:
            return f"could not be checked: {self.error}"
        return reason_of(self.verdict)


@dataclass(frozen=True)
class FilesCheck:
    """The verdict on a set of dependency files."""

    reports: tuple[DependencyFile, ...]
    problems: tuple[Problem, ...]  # the catalog's problems (the files' own are in reports)
    dependencies: tuple[DependencyVerdict, ...]

    def all_problems(self) -> list[Problem]:
        """Every problem: each file's own, then the catalog's."""
        return [p for r in self.reports for p in r.problems] + list(self.problems)

    @property
    def risky(self) -> bool:
        """True when the files should not be installed as they are (exit 1)."""
        return any(p.severity == "error" for p in self.all_problems()) or any(
            d.failing for d in self.dependencies
        )

    def to_json(self) -> dict[str, Any]:
        """The API's (and ``--json``'s) representation."""
        return {
            "risky": self.risky,
            "files": [
                {"name": r.name, "kind": r.kind, "files": list(r.files)} for r in self.reports
            ],
            "problems": [_problem_json(p) for p in self.all_problems()],
            "dependencies": [_dependency_json(d) for d in self.dependencies],
        }

    def to_sarif(self, tool_version: str) -> dict[str, Any]:
        """A SARIF 2.1.0 log of the problems and the risky dependencies."""
        findings = [
            depfiles.RiskFinding(d.dependency, d.risk, d.reason)
            for d in self.dependencies
            if d.risk not in ("none", "low")
        ]
        return depfiles.to_sarif(
            list(self.reports), tool_version, problems=self.problems, findings=findings
        )


def _location(problem_or_dep: Problem | Dependency) -> dict[str, Any]:
    loc = problem_or_dep.location
    return {"file": loc.file, "line": loc.line}


def _problem_json(problem: Problem) -> dict[str, Any]:
    return {
        "code": problem.code,
        "severity": problem.severity,
        "message": problem.message,
        **_location(problem),
        "dependency": problem.dependency.name if problem.dependency is not None else None,
    }


def _dependency_json(item: DependencyVerdict) -> dict[str, Any]:
    dep = item.dependency
    verdict = item.verdict
    return {
        "name": dep.name,
        "canonical": dep.canonical,
        "specifier": dep.specifier,
        "pinned": dep.pinned,
        "hashes": len(dep.hashes),
        **_location(dep),
        "internal": verdict.internal if verdict is not None else None,
        "public_exists": verdict.public_exists if verdict is not None else None,
        "risk": item.risk,
        "reason": item.reason,
        "matches": verdict.to_json()["matches"] if verdict is not None else [],
    }


@dataclass(frozen=True)
class Hosts:
    """Where a dependency file may fetch from by direct URL: ``internal``, the private
    indexes' hosts (where internal packages may come from); ``allowed``, those and the
    public index's."""

    internal: frozenset[str]
    allowed: frozenset[str]


def hosts_of(catalog: Catalog, index_url: str | None) -> Hosts:
    """The :class:`Hosts` of a catalog's private indexes and the index at ``index_url``."""
    internal = _hosts(spec.url for spec in catalog.indexes)
    return Hosts(internal, internal | _hosts([index_url]))


def _hosts(urls: Iterable[str | None]) -> frozenset[str]:
    return frozenset(h for url in urls if url and (h := host_of(url)))


async def check_files(
    reports: Sequence[DependencyFile],
    *,
    catalog: Catalog,
    hosts: Hosts,
    verdict_of: Callable[..., Awaitable[Verdict]],
    concurrency: int = 8,
) -> FilesCheck:
    """Check files parsed with ``hosts.allowed``: the catalog's problems (internal packages
    from outside ``hosts.internal``), then each named dependency's verdict
    (``verdict_of(name, lookalikes=False)``, :meth:`NameChecker.check`; one call per
    distinct name, at most ``concurrency`` at once)."""

    def is_internal(name: str) -> bool:
        return catalog.is_internal(canonicalize_name(name))

    problems = [
        p
        for r in reports
        for p in depfiles.problems_for_internal(r, is_internal, internal_hosts=hosts.internal)
    ]
    named = [d for r in reports for d in r.dependencies if d.canonical and not d.constraint]
    names = sorted({d.canonical for d in named})
    gate = asyncio.Semaphore(concurrency)
    answers: dict[str, Verdict | str] = {}

    async def ask(name: str) -> None:
        async with gate:
            try:
                # A dependency's own look-alikes among public names are not the question.
                answers[name] = await verdict_of(name, lookalikes=False)
            except InvalidName as exc:
                answers[name] = f"invalid name: {exc}"
            except WatcherError as exc:
                answers[name] = str(exc) or type(exc).__name__

    async with asyncio.TaskGroup() as group:
        for name in names:
            group.create_task(ask(name))
    verdicts = []
    for dep in named:
        answer = answers[dep.canonical]
        if isinstance(answer, str):
            verdicts.append(DependencyVerdict(dep, None, answer))
        else:
            verdicts.append(DependencyVerdict(dep, answer))
    return FilesCheck(tuple(reports), tuple(problems), tuple(verdicts))
