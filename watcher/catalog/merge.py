"""One catalog from the file and every private index: names merged, mirrors kept apart.

Pure functions: the loading (network, database) happens elsewhere; this decides what the
loaded pieces mean together, so the rule is in one place and tested without I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from packaging.utils import NormalizedName
from packaging.version import InvalidVersion, Version

from watcher.catalog.model import Catalog, IndexSpec, InternalPackage


@dataclass(frozen=True)
class IndexContent:
    """What one private index holds: its own projects and the public ones it mirrors.

    ``live`` is False when the index could not be read now and this is its last good load
    (from the database); ``error`` then says why it could not be read.
    """

    spec: IndexSpec
    packages: Mapping[NormalizedName, InternalPackage] = field(default_factory=dict)
    mirrored: Mapping[NormalizedName, str] = field(default_factory=dict)
    loaded_at: datetime | None = None
    live: bool = True
    error: str | None = None


def merge(file: Catalog, contents: Sequence[IndexContent]) -> Catalog:
    """The catalog in use: the file's entries plus every index's own projects.

    - A project on an index is an internal name, unless the file allowlists it (one of our
      public projects, also kept on the private index).
    - A name on several indexes has the union of their versions and files.
    - A mirrored name is not internal, unless the file names it: the file is the company's
      word, and a name it lists stays protected whatever an index mirrors.
    """
    names = dict(file.names)
    packages: dict[NormalizedName, InternalPackage] = {}
    mirrored: dict[NormalizedName, str] = {}
    for content in contents:
        for name, package in content.packages.items():
            if name in file.allow:
                continue
            names.setdefault(name, package.name)
            packages[name] = _union(packages[name], package) if name in packages else package
        for name, reason in content.mirrored.items():
            mirrored.setdefault(name, f"{reason} (on {content.spec.url})")
    for name in list(mirrored):
        if name in names:
            del mirrored[name]  # ours on another index, or named by the file
    return replace(file, names=names, packages=packages, mirrored=mirrored)


def _union(a: InternalPackage, b: InternalPackage) -> InternalPackage:
    versions = sorted(set(a.versions) | set(b.versions), key=_order)
    files = {f.filename: f for f in (*a.files, *b.files)}
    return replace(a, versions=tuple(versions), files=tuple(files.values()))


def _order(version: str) -> tuple[int, Version | str]:
    try:
        return (0, Version(version))
    except (InvalidVersion, ValueError):  # ValueError: a segment beyond int()'s digit limit
        return (1, version)


def digest(file_digest: str, catalog: Catalog) -> str:
    """A digest of everything in ``catalog`` that came from the indexes, and the file's:
    equal digests mean a reload changed nothing."""
    if not catalog.indexes:
        return file_digest  # a file-only catalog keeps the digest of its bytes
    state = {
        "file": file_digest,
        "packages": {
            name: [p.versions, sorted(f.sha256 or f.filename for f in p.files)]
            for name, p in sorted(catalog.packages.items())
        },
        "names": sorted(catalog.names),
        "mirrored": sorted(catalog.mirrored),
    }
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()
