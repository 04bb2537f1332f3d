"""The data the dependency-file parsers produce: dependencies, problems, reports, limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from watcher.names import MAX_NAME_LENGTH as _NAMES_MAX

Kind = Literal[
    "requirements",
    "pyproject-pep621",
    "pyproject-poetry",
    "poetry.lock",
    "uv.lock",
    "Pipfile.lock",
    "pylock",
]
KINDS: tuple[Kind, ...] = (
    "requirements",
    "pyproject-pep621",
    "pyproject-poetry",
    "poetry.lock",
    "uv.lock",
    "Pipfile.lock",
    "pylock",
)

Severity = Literal["error", "warning"]

# How an index field shows the installer's default public index (Poetry's source "PyPI"
# without a URL): no host name is written, the installer decides which one it is.
PUBLIC_INDEX = "(default public index)"

# Limits: one file (the API maps a larger body to 413), all files of one parse together
# (a requirements file and its includes), dependencies per parse, length of one name. A
# lock file lists every wheel of every package: a large project's uv.lock or poetry.lock
# passes 1 MB, so one file may have 5 MB (tomllib parses that in well under a second).
MAX_FILE_BYTES = 5_000_000
MAX_TOTAL_BYTES = 10_000_000
MAX_DEPENDENCIES = 5_000
MAX_NAME_LENGTH = _NAMES_MAX
# -r/-c nesting depth and number of files one requirements parse may open.
MAX_INCLUDE_DEPTH = 16
MAX_INCLUDED_FILES = 64


class UnusableInput(ValueError):
    """The input cannot be checked at all: malformed, binary, too large, or an include cycle.

    The message is one line naming the file (and line when known). ``too_large`` tells the
    API to answer 413 instead of 400; the CLI exits 2 for either.
    """

    def __init__(
        self, file: str, message: str, *, line: int | None = None, too_large: bool = False
    ):
        self.file = file
        self.line = line
        self.too_large = too_large
        where = file if line is None else f"{file}:{line}"
        super().__init__(f"{where}: {_one_line(message)}")


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


@dataclass(frozen=True, slots=True)
class Location:
    """Where something was written: the file name as given and the 1-based line, if known."""

    file: str
    line: int | None = None

    def __str__(self) -> str:
        return self.file if self.line is None else f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class Dependency:
    """One dependency as a file states it.

    ``name`` is as written ("" when a bare URL or path names no project: nothing to check by
    name); ``canonical`` is its PEP 503 form. ``pinned`` is the one exact version when the
    file allows exactly one (``==X`` / ``===X`` without a wildcard, a locked version, a
    wheel file name), else None. ``url`` is a direct reference (credentials masked),
    ``index`` the index a lock file or source table ties it to (masked), ``None`` meaning
    "whatever index the installer uses". ``constraint`` marks entries of a ``-c`` file: they
    install nothing but pin whatever else requires them. ``group`` names where in the file it
    sits ("optional:docs", "group:dev", "build-system", "develop"...), None for the main list.
    """

    name: str
    canonical: str
    specifier: str
    location: Location
    pinned: str | None = None
    hashes: tuple[str, ...] = ()
    extras: tuple[str, ...] = ()
    marker: str | None = None
    url: str | None = None
    editable: bool = False
    index: str | None = None
    constraint: bool = False
    group: str | None = None


@dataclass(frozen=True, slots=True)
class Problem:
    """A file-level finding; ``code`` is one of :data:`PROBLEM_CODES`."""

    code: str
    severity: Severity
    message: str
    location: Location
    dependency: Dependency | None = None


@dataclass(frozen=True, slots=True)
class Index:
    """A package index or link source the file configures or a lock file records.

    ``url`` has credentials masked; None is the installer's default public index (named by
    Poetry as ``PyPI`` without a URL). ``role``: ``primary`` (the one index), ``extra``
    (``--extra-index-url``, a second primary Poetry source, a further Pipfile source),
    ``supplemental`` / ``secondary`` / ``explicit`` (Poetry priorities), ``find-links``,
    ``locked`` (a lock file says packages came from it).
    """

    url: str | None
    role: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class DependencyFile:
    """The result of parsing one dependency file (with its includes).

    ``public_default`` says whether a dependency with no ``index`` of its own is looked up on
    the default public index: True/False when the file decides it (Poetry sources, a lock
    file), None when the installer's own configuration decides (pip.conf, uv settings).
    """

    name: str
    kind: Kind
    dependencies: tuple[Dependency, ...]
    problems: tuple[Problem, ...]
    indexes: tuple[Index, ...] = ()
    files: tuple[str, ...] = ()
    public_default: bool | None = None

    @property
    def has_errors(self) -> bool:
        """True when any file-level problem is an error."""
        return any(p.severity == "error" for p in self.problems)


# Every problem code, its default severity and a one-line description (SARIF rule text).
PROBLEM_CODES: dict[str, tuple[Severity, str]] = {
    "extra-index-url": (
        "error",
        "--extra-index-url adds a second index; pip installs the highest version found on any "
        "index, so a public project can replace an internal one",
    ),
    "second-index": (
        "error",
        "more than one index can serve the same name (Poetry primary/supplemental sources, "
        "Pipfile sources; a warning for lock files, which record each package's index)",
    ),
    "find-links": (
        "error",
        "--find-links adds a location whose files compete with the index's (a warning with "
        "--no-index, when it is the only source)",
    ),
    "trusted-host": (
        "warning",
        "TLS verification is turned off for a host (--trusted-host, verify_ssl = false)",
    ),
    "insecure-index": ("warning", "an index or link location over plain http"),
    "index-credentials": (
        "error",
        "credentials are written into an index or package URL (never shown in messages)",
    ),
    "no-hashes": (
        "warning",
        "requirements without hashes (requirements and lock files only): a replaced file "
        "would install unnoticed; an error for those pip refuses in hash-checking mode",
    ),
    "unexpected-url-host": (
        "error",
        "a direct URL (name @ url, bare URL, VCS) to a host not in the allowed set",
    ),
    "local-path": ("warning", "a dependency installed from a local path or file: URL"),
    "editable": ("warning", "an editable install: it cannot be hash-checked or pinned"),
    "unnamed-requirement": (
        "warning",
        "a URL or path that names no project: its name cannot be checked",
    ),
    "missing-include": ("error", "a -r/-c file that was not provided or does not exist"),
    "include-outside-root": ("error", "a -r/-c file outside the allowed directory; not read"),
    "remote-include": ("error", "a -r/-c file given as a URL; never fetched, so not checked"),
    "unknown-option": ("warning", "an option this checker does not know; ignored"),
    "unpinned-internal": ("error", "an internal package without one exact pinned version"),
    "internal-url-host": (
        "error",
        "an internal package fetched by direct URL from a host that is not internal",
    ),
    "internal-index": (
        "error",
        "a lock file says an internal package came from an index that is not internal",
    ),
    "internal-unrouted": (
        "error",
        "an internal package not tied to an internal source while the public index is searched",
    ),
}


def problem(
    code: str,
    message: str,
    location: Location,
    dependency: Dependency | None = None,
    *,
    severity: Severity | None = None,
) -> Problem:
    """Build a :class:`Problem` with the code's default severity unless one is given."""
    default, _ = PROBLEM_CODES[code]
    return Problem(code, severity or default, _one_line(message), location, dependency)
