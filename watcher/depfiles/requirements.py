"""pip requirements files: a small parser of pip's documented format on ``packaging``.

Each requirement is parsed by ``packaging.requirements.Requirement`` (PEP 508: names, extras,
specifiers, markers, ``name @ url``); this module only does what PEP 508 does not cover:
logical lines (comments, ``\\`` continuations), pip's options (``-r``/``-c`` through an
:class:`~watcher.depfiles.includes.IncludeResolver`, index and link options, ``--hash``),
editable and bare URL/path requirements. Environment variables (``${TOKEN}``) are not
expanded: nothing is read from the environment and nothing is fetched.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)

from watcher.depfiles import common
from watcher.depfiles.includes import IncludeError, IncludeResolver
from watcher.depfiles.model import (
    MAX_DEPENDENCIES,
    MAX_INCLUDE_DEPTH,
    MAX_INCLUDED_FILES,
    MAX_TOTAL_BYTES,
    Dependency,
    DependencyFile,
    Index,
    Location,
    Problem,
    Severity,
    UnusableInput,
    problem,
)
from watcher.depfiles.reqlines import logical_lines, split_options

_ARCHIVE = (".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar", ".tar.xz")
# Per-requirement options start at the first whitespace-led '-x' / '--xx' token.
_LINE_OPTIONS = re.compile(r"\s(?=--?[A-Za-z])")
# A marker after a URL or path needs whitespace on one side of ';' (a URL may contain ';').
_URL_MARKER = re.compile(r"\s+;\s*|;\s+")


@dataclass
class _Run:
    """State of one parse across a file and its includes."""

    resolver: IncludeResolver | None
    allowed_hosts: frozenset[str]
    top: str
    deps: list[Dependency] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    indexes: list[Index] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    stack: list[str] = field(default_factory=list)
    total_bytes: int = 0
    no_index: bool = False
    require_hashes: bool = False
    find_links: list[tuple[str, Location]] = field(default_factory=list)


def parse_requirements(
    name: str,
    data: str | bytes,
    *,
    includes: IncludeResolver | None,
    allowed_hosts: frozenset[str],
) -> DependencyFile:
    """Parse a requirements file (and, through ``includes``, its ``-r``/``-c`` files)."""
    top = posixpath.normpath(name.replace("\\", "/"))
    run = _Run(includes, allowed_hosts, top)
    _parse_file(run, top, data, constraint=False)
    _finish(run)
    return DependencyFile(
        name=name,
        kind="requirements",
        dependencies=tuple(run.deps),
        problems=tuple(run.problems),
        indexes=tuple(run.indexes),
        files=tuple(run.files),
    )


def _parse_file(run: _Run, name: str, data: str | bytes, *, constraint: bool) -> None:
    if name in run.stack:
        chain = " -> ".join([*run.stack[run.stack.index(name) :], name])
        raise UnusableInput(run.top, f"include cycle: {chain}")
    if len(run.stack) >= MAX_INCLUDE_DEPTH:
        raise UnusableInput(name, f"includes nested deeper than {MAX_INCLUDE_DEPTH}")
    if len(run.files) >= MAX_INCLUDED_FILES:
        raise UnusableInput(run.top, f"more than {MAX_INCLUDED_FILES} included files")
    text = common.decode(name, data)
    run.total_bytes += len(text)
    if run.total_bytes > MAX_TOTAL_BYTES:
        raise UnusableInput(
            run.top, f"files together larger than {MAX_TOTAL_BYTES} bytes", too_large=True
        )
    run.files.append(name)
    run.stack.append(name)
    for number, line in logical_lines(text):
        loc = Location(name, number)
        if line.startswith("-"):
            _option_line(run, line, loc, constraint=constraint)
        else:
            _requirement_line(run, line, loc, constraint=constraint)
    run.stack.pop()


def _option_line(run: _Run, line: str, loc: Location, *, constraint: bool) -> None:
    opts = split_options(line, loc)
    if opts and opts[0][0] == "editable":
        # "-e target [options]": the target is the requirement, the rest applies to it.
        _requirement_line(run, line, loc, constraint=constraint)
        return
    for key, value in opts:
        if key == "no-index":
            run.no_index = True
        elif key == "require-hashes":
            run.require_hashes = True
        elif key in ("requirement", "constraint") and value is not None:
            _include(run, value, loc, constraint=(key == "constraint"))
        elif key in ("index-url", "extra-index-url") and value is not None:
            shown = common.mask_url(value)
            run.problems.extend(common.index_problems(value, loc, f"--{key}"))
            if key == "index-url":
                run.indexes.append(Index(shown, "primary"))
            else:
                run.indexes.append(Index(shown, "extra"))
                run.problems.append(
                    problem(
                        "extra-index-url",
                        f"--extra-index-url {shown}: pip installs the highest version found "
                        "on any index, so a public project can replace an internal one",
                        loc,
                    )
                )
        elif key == "find-links" and value is not None:
            run.indexes.append(Index(common.mask_url(value), "find-links"))
            run.find_links.append((value, loc))
        elif key == "trusted-host" and value is not None:
            run.problems.append(
                problem(
                    "trusted-host",
                    f"--trusted-host {common.mask_text(value)}: TLS is not verified for it",
                    loc,
                )
            )
        elif key == "hash":
            raise UnusableInput(loc.file, "--hash without a requirement", line=loc.line)
        elif key.startswith("?"):
            run.problems.append(problem("unknown-option", f"unknown option {key[1:]}", loc))


def _include(run: _Run, target: str, loc: Location, *, constraint: bool) -> None:
    flag = "-c" if constraint else "-r"
    if common.is_url(target) and not target.lower().startswith("file:"):
        shown = common.mask_url(target)
        run.problems.append(
            problem("remote-include", f"{flag} {shown} is a URL: not fetched, not checked", loc)
        )
        run.problems.extend(common.index_problems(target, loc, flag))
        return
    if run.resolver is None:
        run.problems.append(problem("missing-include", f"{flag} {target}: not provided", loc))
        return
    try:
        name, content = run.resolver.resolve(loc.file, target)
    except IncludeError as exc:
        run.problems.append(problem(exc.code, f"{flag} {target}: {exc}", loc))
        return
    _parse_file(run, name, content, constraint=constraint)


def _requirement_line(run: _Run, line: str, loc: Location, *, constraint: bool) -> None:
    editable = False
    if line.startswith("-"):
        # An "-e"/"--editable" line: drop the option, keep its target and what follows.
        editable = True
        line = re.sub(r"^(-e|--editable)(=|\s+)?", "", line).strip()
    split = _LINE_OPTIONS.split(line, maxsplit=1)
    text = split[0].strip()
    hashes: list[str] = []
    if len(split) > 1:
        for key, value in split_options(split[1], loc):
            if key == "hash" and value is not None:
                hashes.append(value)
            elif key.startswith("?"):
                run.problems.append(problem("unknown-option", f"unknown option {key[1:]}", loc))
    if not text:
        raise UnusableInput(loc.file, "an option without a requirement", line=loc.line)
    dep = _dependency(text, loc, editable=editable, hashes=tuple(hashes), constraint=constraint)
    run.deps.append(dep)
    if len(run.deps) > MAX_DEPENDENCIES:
        raise UnusableInput(run.top, f"more than {MAX_DEPENDENCIES} dependencies", too_large=True)
    if dep.editable:
        run.problems.append(
            problem("editable", f"{dep.name or dep.url}: editable install", loc, dep)
        )
    if dep.url is not None:
        run.problems.extend(common.url_problems(dep, dep.url, run.allowed_hosts, raw_url=text))
        if not dep.name and common.is_url(dep.url) and not dep.url.startswith("file:"):
            run.problems.append(
                problem("unnamed-requirement", f"{dep.url} names no project", loc, dep)
            )


def _dependency(
    text: str, loc: Location, *, editable: bool, hashes: tuple[str, ...], constraint: bool
) -> Dependency:
    target = _URL_MARKER.split(text, maxsplit=1)[0]
    # A bare archive name ("x-1.0-py3-none-any.whl") would pass as a PEP 508 name: pip
    # takes it as a file, and so do we.
    archive = "@" not in target and target.lower().endswith(_ARCHIVE)
    if editable or common.is_url(target) or archive:
        return _direct(text, loc, editable=editable, hashes=hashes, constraint=constraint)
    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        if _is_path(target):
            return _direct(text, loc, editable=editable, hashes=hashes, constraint=constraint)
        first = str(exc).splitlines()[0] if str(exc) else "invalid"
        raise UnusableInput(
            loc.file, f"invalid requirement: {common.mask_text(first)}", line=loc.line
        ) from None
    common.check_name(loc.file, req.name, loc.line)
    spec = str(req.specifier)
    return Dependency(
        name=req.name,
        canonical=common.canonical(req.name),
        specifier=spec,
        location=loc,
        pinned=common.exact_version(spec),
        hashes=hashes,
        extras=tuple(sorted(req.extras)),
        marker=str(req.marker) if req.marker else None,
        url=common.mask_url(req.url) if req.url else None,
        constraint=constraint,
    )


def _is_path(target: str) -> bool:
    # Whitespace or '@' means a (broken) PEP 508 line, not a path: report it as invalid.
    if any(c.isspace() for c in target) or "@" in target:
        return False
    return target.startswith((".", "/", "~")) or "/" in target or "\\" in target


def _direct(
    text: str, loc: Location, *, editable: bool, hashes: tuple[str, ...], constraint: bool
) -> Dependency:
    """A requirement given as a URL or path (optionally editable, optionally with a marker)."""
    parts = _URL_MARKER.split(text, maxsplit=1)
    target = parts[0].strip()
    marker: str | None = None
    if len(parts) > 1 and parts[1].strip():
        try:
            marker = str(Marker(parts[1].strip()))
        except InvalidMarker:
            raise UnusableInput(loc.file, "invalid environment marker", line=loc.line) from None
    name, version, extras = _name_of(target)
    if name:
        common.check_name(loc.file, name, loc.line)
    return Dependency(
        name=name,
        canonical=common.canonical(name),
        specifier="",
        location=loc,
        pinned=version,
        hashes=hashes,
        extras=extras,
        marker=marker,
        url=common.mask_url(target),
        editable=editable,
        constraint=constraint,
    )


def _name_of(target: str) -> tuple[str, str | None, tuple[str, ...]]:
    """Project name, version and extras a URL or path states (``#egg=``, a file name)."""
    try:
        parts = urlsplit(target)
    except ValueError:
        return "", None, ()
    egg = parse_qs(parts.fragment).get("egg", [""])[0]
    if egg:
        base, _, rest = egg.partition("[")
        extras = tuple(sorted(e.strip() for e in rest.rstrip("]").split(",") if e.strip()))
        return (base if _plausible(base) else ""), None, extras
    filename = unquote(posixpath.basename(parts.path.rstrip("/")))
    try:
        if filename.endswith(".whl"):
            wheel_name, wheel_version, _, _ = parse_wheel_filename(filename)
            return str(wheel_name), str(wheel_version), ()
        if filename.endswith((".tar.gz", ".zip")):
            sdist_name, sdist_version = parse_sdist_filename(filename)
            return str(sdist_name), str(sdist_version), ()
    except (InvalidWheelFilename, InvalidSdistFilename):
        return "", None, ()
    return "", None, ()


def _plausible(name: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?", name))


def _finish(run: _Run) -> None:
    """File-level problems that need the whole parse: --find-links, hashes."""
    for value, loc in run.find_links:
        shown = common.mask_url(value)
        local = not common.is_url(value) or value.lower().startswith("file:")
        severity: Severity = "warning" if run.no_index or local else "error"
        run.problems.append(
            problem(
                "find-links",
                f"--find-links {shown}: its files compete with the index's for every name",
                loc,
                severity=severity,
            )
        )
        if not local:
            run.problems.extend(common.index_problems(value, loc, "--find-links"))
    installed = [d for d in run.deps if not d.constraint]
    if not installed:
        return
    if run.require_hashes or any(d.hashes for d in installed):
        for dep in installed:
            if not dep.hashes:
                run.problems.append(
                    problem(
                        "no-hashes",
                        f"{dep.name or dep.url} has no --hash: pip refuses it in "
                        "hash-checking mode",
                        dep.location,
                        dep,
                        severity="error",
                    )
                )
    else:
        run.problems.append(
            problem(
                "no-hashes",
                f"none of {len(installed)} requirements has a --hash: a replaced file "
                "would install unnoticed",
                Location(run.top),
            )
        )
