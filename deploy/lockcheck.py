"""Checks of the hash-locked dependency sets (requirements/lock.txt, requirements/build.txt).

    python deploy/lockcheck.py verify             offline: what the locks hold and record
    python deploy/lockcheck.py compare OLD NEW    the same pins, markers and hashes in both?

``verify`` needs no index: every requirement of pyproject.toml's ``[project] dependencies``
(and ``[build-system] requires`` for the build lock) that applies to CPython 3.11 on Linux is
pinned with ``==``, carries sha256 hashes and its version satisfies the specifier; every
entry is pinned with hashes; the files record no index, find-links, URL, local path or
editable line, and not the project itself (installed from the source tree, ``--no-deps``).
``compare`` is what ``deploy/lock.sh --check`` runs on a fresh regeneration: the header and
the ``# via`` comments may differ between uv versions, the pins may not.
"""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
RUNTIME_LOCK = Path("requirements/lock.txt")
BUILD_LOCK = Path("requirements/build.txt")
# The platform the locks are made for (deploy/lock.sh: --python-version 3.11 --python-platform
# linux): the image's Python, the systemd host's, CI's.
TARGET = {
    "python_version": "3.11",
    "python_full_version": "3.11.0",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "os_name": "posix",
    "platform_machine": "x86_64",
}
_HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")
# Anything that would make the install fetch from, or depend on, a place: an index
# option, a URL, a local or absolute path, an editable install.
_FORBIDDEN = re.compile(
    r"(--(extra-)?index-url|--find-links|--trusted-host|--no-index|(^|\s)-[efi]\s"
    r"|://|\bfile:|(^|[\s=@])[~/][\w.~-]*/|[A-Za-z]:\\)"
)


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    marker: str
    hashes: frozenset[str]


def parse(path: Path) -> tuple[dict[str, list[Pin]], list[str]]:
    """The pins of a lock file by canonical name, and its problems."""
    problems: list[str] = []
    pins: dict[str, list[Pin]] = {}
    logical: list[tuple[int, str]] = []
    pending = ""
    start = 0
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if _FORBIDDEN.search(raw):
            problems.append(f"{path}:{number}: records an index, URL or path: {raw.strip()}")
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        pending += line
        if pending.strip():
            logical.append((start, pending.strip()))
        pending = ""
    for number, text in logical:
        hashes = frozenset(h.split(":", 1)[1] for h in _HASH.findall(text))
        spec = _HASH.sub("", text).strip()
        if spec.startswith("-"):
            problems.append(f"{path}:{number}: an option, not a pinned requirement: {spec}")
            continue
        try:
            req = Requirement(spec)
        except ValueError as exc:
            problems.append(f"{path}:{number}: unparsable requirement {spec!r}: {exc}")
            continue
        name = canonicalize_name(req.name)
        specs = list(req.specifier)
        if req.url or len(specs) != 1 or specs[0].operator != "==" or "*" in specs[0].version:
            problems.append(f"{path}:{number}: {req.name} is not pinned with ==: {spec}")
            continue
        if not hashes:
            problems.append(f"{path}:{number}: {req.name} has no sha256 hash")
        if name == "watcher":
            problems.append(f"{path}:{number}: the project itself is locked (install it --no-deps)")
        marker = str(req.marker) if req.marker else ""
        pins.setdefault(name, []).append(Pin(name, specs[0].version, marker, hashes))
    return pins, problems


def applies(pin: Pin) -> bool:
    return not pin.marker or Marker(pin.marker).evaluate(dict(TARGET))


def satisfied(requires: list[str], pins: dict[str, list[Pin]], where: str) -> list[str]:
    """Problems: a requirement (for the target platform) not pinned, or pinned outside its
    specifier."""
    problems: list[str] = []
    for text in requires:
        req = Requirement(text)
        if req.marker and not req.marker.evaluate(dict(TARGET, extra="")):
            continue
        chosen = [pin for pin in pins.get(canonicalize_name(req.name), []) if applies(pin)]
        if not chosen:
            problems.append(f"{where}: {text!r} is not in the lock")
        for pin in chosen:
            if not req.specifier.contains(Version(pin.version), prereleases=True):
                problems.append(f"{where}: {text!r} but the lock pins {pin.name}=={pin.version}")
    return problems


def verify(root: Path) -> list[str]:
    with (root / "pyproject.toml").open("rb") as fh:
        pyproject = tomllib.load(fh)
    problems: list[str] = []
    for lock, requires, where in (
        (RUNTIME_LOCK, pyproject["project"]["dependencies"], "[project] dependencies"),
        (BUILD_LOCK, pyproject["build-system"]["requires"], "[build-system] requires"),
    ):
        if not (root / lock).is_file():
            problems.append(f"{lock}: missing (run deploy/lock.sh)")
            continue
        pins, found = parse(root / lock)
        problems += [p.replace(str(root / lock), str(lock)) for p in found]
        problems += satisfied(list(requires), pins, where)
    return problems


def compare(old: Path, new: Path) -> list[str]:
    a, problems_a = parse(old)
    b, problems_b = parse(new)
    problems = problems_a + problems_b
    for name in sorted(set(a) | set(b)):
        mine = sorted((p.version, p.marker, sorted(p.hashes)) for p in a.get(name, []))
        theirs = sorted((p.version, p.marker, sorted(p.hashes)) for p in b.get(name, []))
        if mine == theirs:
            continue
        if not mine:
            problems.append(f"{name}: missing from {old} ({theirs[0][0]} when regenerated)")
        elif not theirs:
            problems.append(f"{name}: in {old} but no longer required")
        elif [m[:2] for m in mine] != [t[:2] for t in theirs]:
            was = ", ".join(f"{v} {m}".strip() for v, m, _ in mine)
            now = ", ".join(f"{v} {m}".strip() for v, m, _ in theirs)
            problems.append(f"{name}: {was} in {old}, {now} when regenerated")
        else:
            problems.append(f"{name}: other hashes when regenerated")
    return problems


def main(argv: list[str]) -> int:
    if argv[:1] == ["verify"] and len(argv) == 1:
        problems = verify(ROOT)
        ok = f"{RUNTIME_LOCK} and {BUILD_LOCK}: pinned with hashes, no URL or path recorded"
    elif argv[:1] == ["compare"] and len(argv) == 3:
        problems = compare(Path(argv[1]), Path(argv[2]))
        ok = f"{argv[1]}: up to date"
    else:
        print(__doc__, file=sys.stderr)
        return 2
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    print(ok)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
