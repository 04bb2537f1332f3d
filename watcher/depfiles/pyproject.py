"""``pyproject.toml``: PEP 621 ``[project]``, PEP 735 ``[dependency-groups]``, build requirements,
uv's index settings, and Poetry's ``[tool.poetry]`` dependencies and package sources.

Poetry's source priorities (its documentation, "Package sources"): with no primary source
the implicit public index is the only one searched for a dependency without a ``source``;
every *primary* source (the default priority; the deprecated ``default`` counts as one) is
searched for every such dependency, like pip's extra indexes; a *supplemental* source is
searched only when the higher ones have no match, so a public project with the same name
wins (Poetry's own warning); the deprecated *secondary* is searched for every dependency at
a lower priority; an *explicit* source is used only by dependencies naming it. So: more than
one searched index (several primaries, the public one plus a secondary) is ``second-index``
(error); a supplemental source is ``second-index`` (error when the public index is among the
primaries, a warning otherwise: a primary may proxy the public index); explicit sources are
safe and recorded. An internal dependency without ``source`` while the public index is
searched is ``internal-unrouted`` (see :func:`watcher.depfiles.checks.problems_for_internal`).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from packaging.dependency_groups import DependencyGroupInclude, DependencyGroupResolver
from packaging.requirements import InvalidRequirement, Requirement

from watcher.depfiles import common
from watcher.depfiles.model import (
    MAX_DEPENDENCIES,
    PUBLIC_INDEX,
    Dependency,
    DependencyFile,
    Index,
    Kind,
    Location,
    Problem,
    UnusableInput,
    problem,
)


def load_toml(name: str, data: str | bytes) -> dict[str, Any]:
    """Decode and parse TOML; malformed input is :class:`UnusableInput` with its line."""
    text = common.decode(name, data)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # Python 3.11's error has no line attribute; its message ends "(at line N, column M)"
        found = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        line = int(found.group(1)) if found else None
        message = str(exc).split(" (at line")[0].split(" (at end")[0]
        raise UnusableInput(name, f"malformed TOML: {message}", line=line) from None


def parse_pyproject(
    name: str, data: str | bytes, *, allowed_hosts: frozenset[str], kind: Kind | None = None
) -> DependencyFile:
    """Parse a ``pyproject.toml``; Poetry tables make it ``pyproject-poetry`` unless ``kind``
    says ``pyproject-pep621`` (then ``[tool.poetry]`` is ignored)."""
    text = common.decode(name, data)
    doc = load_toml(name, text)
    poetry = _table(doc.get("tool"), "poetry", name)
    if kind is None:
        kind = "pyproject-poetry" if _has_poetry_deps(poetry) else "pyproject-pep621"
    source_problems: list[Problem] = []
    sources = (
        _poetry_sources(name, text, poetry, source_problems) if kind == "pyproject-poetry" else []
    )
    by_name = {s.name.lower(): s for s in sources if s.name}
    builder = _Builder(name, text, allowed_hosts, by_name)
    builder.problems.extend(source_problems)
    project = _table(doc, "project", name)
    builder.pep508_list(project.get("dependencies", []), None, "project.dependencies")
    optional = _table(project, "optional-dependencies", name)
    for extra, reqs in optional.items():
        builder.pep508_list(reqs, f"optional:{extra}", f"optional-dependencies.{extra}")
    builder.groups(doc.get("dependency-groups"))
    build = _table(doc, "build-system", name)
    builder.pep508_list(build.get("requires", []), "build-system", "build-system.requires")
    public_default: bool | None = None
    uv = _table(doc.get("tool"), "uv", name)
    if uv and kind == "pyproject-pep621":
        sources = _uv_config(name, text, uv, builder)
    if kind == "pyproject-poetry":
        builder.poetry_table(poetry.get("dependencies"), None)
        builder.poetry_table(poetry.get("dev-dependencies"), "group:dev")
        for group, body in _table(poetry, "group", name).items():
            if isinstance(body, Mapping):
                builder.poetry_table(body.get("dependencies"), f"group:{group}")
        public_default = _source_problems(name, text, sources, builder.problems)
    return DependencyFile(
        name=name,
        kind=kind,
        dependencies=tuple(builder.deps),
        problems=tuple(builder.problems),
        indexes=tuple(sources),
        files=(name,),
        public_default=public_default,
    )


def _table(doc: Any, key: str, file: str) -> dict[str, Any]:
    if not isinstance(doc, Mapping):
        return {}
    value = doc.get(key, {})
    if not isinstance(value, Mapping):
        raise UnusableInput(file, f"[{key}] is not a table")
    return dict(value)


def _has_poetry_deps(poetry: Mapping[str, Any]) -> bool:
    return any(k in poetry for k in ("dependencies", "group", "source", "dev-dependencies"))


class _Builder:
    """Collects dependencies and their problems for one pyproject."""

    def __init__(
        self, name: str, text: str, allowed: frozenset[str], sources: Mapping[str, Index]
    ) -> None:
        self.name = name
        self.text = text
        self.lines = common.LineFinder(text)
        self.allowed = allowed
        self.sources = sources
        self.deps: list[Dependency] = []
        self.problems: list[Problem] = []

    def add(self, dep: Dependency) -> None:
        self.deps.append(dep)
        if len(self.deps) > MAX_DEPENDENCIES:
            raise UnusableInput(
                self.name, f"more than {MAX_DEPENDENCIES} dependencies", too_large=True
            )
        if dep.url is not None:
            self.problems.extend(common.url_problems(dep, dep.url, self.allowed))
        if dep.editable:
            self.problems.append(
                problem("editable", f"{dep.name}: editable (develop) dependency", dep.location, dep)
            )

    def pep508_list(self, reqs: Any, group: str | None, where: str) -> None:
        if not isinstance(reqs, list) or not all(isinstance(r, str) for r in reqs):
            raise UnusableInput(self.name, f"{where} is not a list of strings")
        for text in reqs:
            self.add(self.pep508(text, group))

    def pep508(self, text: str, group: str | None) -> Dependency:
        line = self.lines.find(f'"{text}"', f"'{text}'")
        try:
            req = Requirement(text)
        except InvalidRequirement as exc:
            first = str(exc).splitlines()[0] if str(exc) else "invalid"
            raise UnusableInput(
                self.name, f"invalid requirement: {common.mask_text(first)}", line=line
            ) from None
        common.check_name(self.name, req.name, line)
        spec = str(req.specifier)
        return Dependency(
            name=req.name,
            canonical=common.canonical(req.name),
            specifier=spec,
            location=Location(self.name, line),
            pinned=common.exact_version(spec),
            extras=tuple(sorted(req.extras)),
            marker=str(req.marker) if req.marker else None,
            url=common.mask_url(req.url) if req.url else None,
            group=group,
        )

    def groups(self, table: Any) -> None:
        if table is None:
            return
        if not isinstance(table, Mapping):
            raise UnusableInput(self.name, "[dependency-groups] is not a table")
        try:
            resolver = DependencyGroupResolver(table)
            for group in table:
                resolver.resolve(group)  # validates includes: unknown groups, cycles
                # lookup, not resolve: an include-group's requirements are listed (and
                # located) once, under the group that states them.
                for item in resolver.lookup(group):
                    if not isinstance(item, DependencyGroupInclude):
                        self.add(self.pep508(str(item), f"group:{group}"))
        except (ValueError, TypeError, ExceptionGroup) as exc:
            # packaging raises ValueErrors (cycles, bad items) or a group of them (names)
            while isinstance(exc, ExceptionGroup) and exc.exceptions:
                exc = exc.exceptions[0]
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise UnusableInput(self.name, f"[dependency-groups]: {first}") from None

    def poetry_table(self, table: Any, group: str | None) -> None:
        if table is None:
            return
        if not isinstance(table, Mapping):
            raise UnusableInput(self.name, "a Poetry dependencies entry is not a table")
        for dep_name, spec in table.items():
            if dep_name.lower() == "python":
                continue
            for one in spec if isinstance(spec, list) else [spec]:
                self.add(self.poetry_dep(dep_name, one, group))

    def poetry_dep(self, dep_name: str, spec: Any, group: str | None) -> Dependency:
        line = self.lines.find(f"{dep_name} =", f'"{dep_name}" =')
        common.check_name(self.name, dep_name, line)
        table: Mapping[str, Any] = spec if isinstance(spec, Mapping) else {"version": spec}
        version = table.get("version", "")
        if not isinstance(version, str):
            raise UnusableInput(self.name, f"{dep_name}: version is not a string", line=line)
        version = version.strip()
        # Poetry reads a bare version ("1.2.3") as exactly that version.
        pinned = version if common.is_version(version) else common.exact_version(version)
        url: str | None = None
        for key in ("git", "url", "path"):
            ref = table.get(key)
            if isinstance(ref, str):
                url = ref
        index: str | None = None
        source = table.get("source")
        if isinstance(source, str):
            found = self.sources.get(source.lower())
            index = (found.url or PUBLIC_INDEX) if found else f"(source {source})"
        extras = table.get("extras", [])
        markers = table.get("markers")
        return Dependency(
            name=dep_name,
            canonical=common.canonical(dep_name),
            specifier=version,
            location=Location(self.name, line),
            pinned=pinned if url is None else None,
            extras=tuple(sorted(str(e) for e in extras)) if isinstance(extras, list) else (),
            marker=markers if isinstance(markers, str) else None,
            url=common.mask_url(url) if url else None,
            editable=bool(table.get("develop", False)),
            index=index,
            group=group,
        )


def _poetry_sources(
    name: str, text: str, poetry: Mapping[str, Any], problems: list[Problem]
) -> list[Index]:
    raw = poetry.get("source", [])
    if not isinstance(raw, list) or not all(isinstance(s, Mapping) for s in raw):
        raise UnusableInput(name, "[[tool.poetry.source]] is not an array of tables")
    sources: list[Index] = []
    for entry in raw:
        source_name = str(entry.get("name", ""))
        url = entry.get("url")
        priority = str(entry.get("priority", "primary")).lower()
        if entry.get("default") is True:
            priority = "default"
        elif entry.get("secondary") is True:
            priority = "secondary"
        if not isinstance(url, str):
            if source_name.lower() != "pypi":
                line = common.line_of(text, source_name)
                raise UnusableInput(name, f"source {source_name!r} has no url", line=line)
            url = None
        sources.append(Index(common.mask_url(url) if url else None, priority, source_name))
        if url and common.has_credentials(url):
            # the masked Index no longer shows them: report here, where the raw URL is known
            loc = Location(name, common.line_of(text, f'"{source_name}"'))
            problems.append(
                problem(
                    "index-credentials", f"source {source_name} has credentials in its URL", loc
                )
            )
    return sources


def _source_problems(name: str, text: str, sources: list[Index], problems: list[Problem]) -> bool:
    """Add the problems of Poetry's sources; return whether the public index is searched."""
    for source in sources:
        if source.url is not None:
            loc = Location(name, common.line_of(text, source.url))
            problems.extend(common.index_problems(source.url, loc, f"source {source.name}"))
    primaries = [s for s in sources if s.role in ("primary", "default")]
    searched = primaries or [Index(None, "primary", "PyPI (implicit)")]
    public = any(s.url is None for s in searched)
    searched += [s for s in sources if s.role == "secondary"]
    if len(searched) > 1:
        names = ", ".join(s.name or "?" for s in searched)
        loc = Location(name, common.line_of(text, "[[tool.poetry.source]]"))
        problems.append(
            problem(
                "second-index",
                f"Poetry searches every one of {names} for each dependency without a source",
                loc,
            )
        )
    for source in sources:
        if source.role == "supplemental":
            loc = Location(name, common.line_of(text, f'"{source.name}"'))
            problems.append(
                problem(
                    "second-index",
                    f"supplemental source {source.name} is searched only when the primary "
                    "sources have no match: a public project of the same name wins",
                    loc,
                    severity="error" if public else "warning",
                )
            )
    return public


def _uv_config(name: str, text: str, uv: Mapping[str, Any], builder: _Builder) -> list[Index]:
    """uv's ``[[tool.uv.index]]``, legacy ``index-url``/``extra-index-url``, ``[tool.uv.sources]``.

    uv's default ``index-strategy = "first-index"`` takes a name from the first index (in
    order, the default index last) that has it: several indexes are then no problem by
    themselves. The ``unsafe-*`` strategies consider every index, as pip does: with more
    than one searched index that is ``second-index`` (error). Whether the public index is
    searched for a name is left to the installer (``public_default`` stays None).
    """
    indexes: list[Index] = []
    raw = uv.get("index", [])
    if not isinstance(raw, list) or not all(isinstance(e, Mapping) for e in raw):
        raise UnusableInput(name, "[[tool.uv.index]] is not an array of tables")
    entries = [
        (str(e.get("name", "")), e.get("url"), e.get("explicit") is True, e.get("default") is True)
        for e in raw
    ]
    if isinstance(uv.get("index-url"), str):
        entries.append(("index-url", uv["index-url"], False, True))
    extra = uv.get("extra-index-url", [])
    for url in extra if isinstance(extra, list) else []:
        entries.append(("extra-index-url", url, False, False))
    for index_name, url, explicit, default in entries:
        if not isinstance(url, str):
            raise UnusableInput(name, f"uv index {index_name!r} has no url")
        role = "explicit" if explicit else "primary" if default else "extra"
        indexes.append(Index(common.mask_url(url), role, index_name or None))
        loc = Location(name, builder.lines.find(url))
        builder.problems.extend(common.index_problems(url, loc, f"uv index {index_name}"))
    searched = [i for i in indexes if i.role != "explicit"]
    if not any(i.role == "primary" for i in searched):
        searched.append(Index(None, "primary", "default public index"))
    strategy = str(uv.get("index-strategy", "first-index"))
    if strategy.startswith("unsafe") and len(searched) > 1:
        loc = Location(name, builder.lines.find("index-strategy"))
        builder.problems.append(
            problem(
                "second-index",
                f"index-strategy {strategy}: uv takes versions from every one of "
                f"{len(searched)} indexes, so a public project can replace an internal one",
                loc,
            )
        )
    by_name = {i.name: i.url for i in indexes if i.name}
    routes = uv.get("sources", {})
    if isinstance(routes, Mapping):
        for position, dep in enumerate(builder.deps):
            route = next(
                (v for k, v in routes.items() if common.canonical(str(k)) == dep.canonical), None
            )
            first = route[0] if isinstance(route, list) and route else route
            if isinstance(first, Mapping) and isinstance(first.get("index"), str):
                url = by_name.get(first["index"]) or f"(index {first['index']})"
                builder.deps[position] = replace(dep, index=url)
    return indexes
