"""Dependency files: what a project asks to install, and where from.

:func:`parse` reads one file (dispatching on its name: ``pyproject.toml``, ``poetry.lock``,
``uv.lock``, ``Pipfile.lock``, ``pylock.toml`` / ``pylock.*.toml``, anything else as a pip
requirements file) into a :class:`DependencyFile`: its dependencies, the indexes it
configures and the file-level problems of our threat model (a second index, links, TLS
turned off, credentials, no hashes, direct URLs to unexpected hosts). Nothing here touches
the network or runs code; only :class:`DiskIncludes` (and :func:`load`) read the disk, confined
to a root. :func:`problems_for_internal` adds what needs the catalog; :func:`to_sarif` renders
everything for code-scanning dashboards. Malformed, binary, oversized or cyclic input raises
:class:`UnusableInput`.

Parsers used, and why:

- ``packaging`` (the PyPA reference implementation, already a dependency):
  ``packaging.requirements`` for every PEP 508 string (names, extras, specifiers, markers,
  ``name @ url``), ``packaging.dependency_groups`` for PEP 735 groups (validation, include
  cycles), ``packaging.pylock`` for PEP 751 lock files, ``packaging.utils`` for names and
  wheel/sdist file names.
- ``tomllib`` (standard library) for the TOML formats; ``json`` for ``Pipfile.lock``.
- requirements files: a small parser of pip's documented line format on top of
  ``packaging.requirements`` (:mod:`watcher.depfiles.requirements`). Both libraries were
  tried on a file with ``-r``/``-c`` in a subdirectory, an include cycle, continuation lines
  carrying ``--hash``, comments, markers, extras, ``name @ url``, a bare URL, a path and
  ``-e``. ``pip-requirements-parser`` 32.0.1 (MIT, nexB) parsed lines well and fetches
  nothing, but it only reads files by path (``from_string`` writes a temporary file), so it
  cannot take the API's uploaded file set without writing to disk; it reads includes from
  any path with no root, and an include cycle is not refused (it recursed until Python's
  limit and returned thousands of repeated requirements); it is a 3,000-line copy of pip
  internals last released in 2022 and pulls in ``pyparsing`` and
  ``packaging-legacy-version``. ``requirements-parser`` 0.13.1 (Apache-2.0) skips the very
  options we check (``--extra-index-url``, ``--index-url``, ``--find-links``,
  ``--trusted-host`` and ``-c`` are dropped with a warning), skips relative paths, opens
  ``-r`` files itself and died with ``RecursionError`` on the cycle. Neither is added.
"""

from __future__ import annotations

import posixpath
from pathlib import Path

from packaging.pylock import is_valid_pylock_path

from watcher.depfiles.checks import problems_for_internal
from watcher.depfiles.includes import (
    DiskIncludes,
    IncludeError,
    IncludeNotFound,
    IncludeOutsideRoot,
    IncludeResolver,
    MemoryIncludes,
)
from watcher.depfiles.locks import (
    parse_pipfile_lock,
    parse_poetry_lock,
    parse_pylock,
    parse_uv_lock,
)
from watcher.depfiles.model import (
    KINDS,
    MAX_DEPENDENCIES,
    MAX_FILE_BYTES,
    MAX_INCLUDE_DEPTH,
    MAX_INCLUDED_FILES,
    MAX_NAME_LENGTH,
    MAX_TOTAL_BYTES,
    PROBLEM_CODES,
    PUBLIC_INDEX,
    Dependency,
    DependencyFile,
    Index,
    Kind,
    Location,
    Problem,
    Severity,
    UnusableInput,
)
from watcher.depfiles.pyproject import parse_pyproject
from watcher.depfiles.requirements import parse_requirements
from watcher.depfiles.sarif import DEFAULT_RISK_LEVELS, RiskFinding, to_sarif

__all__ = [
    "DEFAULT_RISK_LEVELS",
    "KINDS",
    "MAX_DEPENDENCIES",
    "MAX_FILE_BYTES",
    "MAX_INCLUDED_FILES",
    "MAX_INCLUDE_DEPTH",
    "MAX_NAME_LENGTH",
    "MAX_TOTAL_BYTES",
    "PROBLEM_CODES",
    "PUBLIC_INDEX",
    "Dependency",
    "DependencyFile",
    "DiskIncludes",
    "IncludeError",
    "IncludeNotFound",
    "IncludeOutsideRoot",
    "IncludeResolver",
    "Index",
    "Kind",
    "Location",
    "MemoryIncludes",
    "Problem",
    "RiskFinding",
    "Severity",
    "UnusableInput",
    "kind_of",
    "load",
    "parse",
    "problems_for_internal",
    "to_sarif",
]


def kind_of(name: str) -> Kind:
    """The format a file name implies; anything unrecognised is a requirements file."""
    base = posixpath.basename(name.replace("\\", "/"))
    lower = base.lower()
    if lower == "pyproject.toml":
        return "pyproject-pep621"
    if lower == "poetry.lock":
        return "poetry.lock"
    if lower == "uv.lock":
        return "uv.lock"
    if lower == "pipfile.lock":
        return "Pipfile.lock"
    if is_valid_pylock_path(Path(base)):
        return "pylock"
    return "requirements"


def parse(
    name: str,
    data: str | bytes,
    *,
    includes: IncludeResolver | None = None,
    allowed_hosts: frozenset[str] = frozenset(),
    kind: Kind | None = None,
) -> DependencyFile:
    """Parse one dependency file.

    ``name`` is the file's name as the user gave it (relative to the include root for
    requirements files); ``kind`` overrides the name-based choice; ``includes`` gives
    ``-r``/``-c`` files (None: every include is a ``missing-include`` problem);
    ``allowed_hosts`` are the hosts direct URLs may point at. Raises :class:`UnusableInput`.
    """
    try:
        return _parse(name, data, includes=includes, allowed_hosts=allowed_hosts, kind=kind)
    except RecursionError:
        # tomllib and json recurse per nesting level: "[[[[..." within the size limit.
        raise UnusableInput(name, "nested too deeply") from None


def _parse(
    name: str,
    data: str | bytes,
    *,
    includes: IncludeResolver | None,
    allowed_hosts: frozenset[str],
    kind: Kind | None,
) -> DependencyFile:
    if kind is not None and kind not in KINDS:
        raise UnusableInput(name, f"unknown kind {kind!r}; one of {', '.join(KINDS)}")
    chosen = kind or kind_of(name)
    if chosen in ("pyproject-pep621", "pyproject-poetry"):
        # by name, the content decides between PEP 621 and Poetry
        return parse_pyproject(name, data, allowed_hosts=allowed_hosts, kind=kind)
    if chosen == "poetry.lock":
        return parse_poetry_lock(name, data, allowed_hosts=allowed_hosts)
    if chosen == "uv.lock":
        return parse_uv_lock(name, data, allowed_hosts=allowed_hosts)
    if chosen == "Pipfile.lock":
        return parse_pipfile_lock(name, data, allowed_hosts=allowed_hosts)
    if chosen == "pylock":
        return parse_pylock(name, data, allowed_hosts=allowed_hosts)
    return parse_requirements(name, data, includes=includes, allowed_hosts=allowed_hosts)


def load(
    path: Path,
    *,
    root: Path | None = None,
    allowed_hosts: frozenset[str] = frozenset(),
    kind: Kind | None = None,
) -> DependencyFile:
    """Read and parse a file on disk (the CLI), includes confined to ``root``.

    ``root`` defaults to the working directory when ``path`` lies under it, else to the
    file's directory. Locations are named relative to the root. Raises
    :class:`UnusableInput` (also for a file that cannot be read).
    """
    real = path.resolve()
    if root is None:
        cwd = Path.cwd().resolve()
        root = cwd if real.is_relative_to(cwd) else real.parent
    resolver = DiskIncludes(root)
    if not real.is_relative_to(resolver.root):
        raise UnusableInput(str(path), "the file lies outside the include root")
    name = resolver.name_of(real)
    try:
        data = DiskIncludes.read(real, name)
    except IncludeError as exc:
        raise UnusableInput(str(path), str(exc)) from None
    return parse(name, data, includes=resolver, allowed_hosts=allowed_hosts, kind=kind)
