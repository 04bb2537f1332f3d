"""The catalog as the rest of the daemon sees it: canonical names, prefixes, allowlist,
owners, and what private indexes say of our packages (versions, files, mirrors)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from packaging.utils import NormalizedName
from packaging.version import InvalidVersion, Version

if TYPE_CHECKING:
    # Only an annotation here: importing it would load the index client (aiohttp), which
    # the offline commands (`watcher scan`) never need.
    from watcher.pypi.models import DistFile


@dataclass(frozen=True)
class IndexSpec:
    """A private index (an ``[[indexes]]`` table of the catalog file) whose projects are
    internal names. Credentials are named by environment variable, never written here."""

    url: str  # its simple API root, ending in "/"
    username_env: str | None = None
    password_env: str | None = None
    token_env: str | None = None


@dataclass(frozen=True)
class InternalPackage:
    """One project of a private index: its versions and files."""

    name: str  # the index's spelling
    source: str  # the index's URL
    versions: tuple[str, ...] = ()  # ascending PEP 440 order (file names that parse)
    files: tuple[DistFile, ...] = ()

    @property
    def highest(self) -> Version | None:
        """Our highest version, or None when no file name gave one."""
        parsed = [v for v in map(_version, self.versions) if v is not None]
        return max(parsed, default=None)

    @property
    def first_upload(self) -> datetime | None:
        """When the index says our first file was uploaded (PEP 700), if it says."""
        return min((f.upload_time for f in self.files if f.upload_time), default=None)

    @property
    def hashes(self) -> frozenset[str]:
        """SHA-256 digests of our files (those the index gives)."""
        return frozenset(f.sha256 for f in self.files if f.sha256)


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except (InvalidVersion, ValueError):  # ValueError: a segment beyond int()'s digit limit
        return None


@dataclass(frozen=True)
class Catalog:
    """Internal names and namespaces, all keyed by their PEP 503 canonical form.

    ``names`` and ``prefixes`` map the canonical form to the spelling the catalog used, so
    alerts quote the name as the company writes it. ``names`` holds the file's names and
    every private index's own projects; ``packages`` holds what the indexes say of theirs
    (versions, files); ``mirrored`` the projects a private index only mirrors from the
    public one (same files), with the reason: not ours, not protected.
    """

    names: Mapping[NormalizedName, str] = field(default_factory=dict)
    prefixes: Mapping[NormalizedName, str] = field(default_factory=dict)
    allow: frozenset[NormalizedName] = frozenset()
    # PyPI user names or organization slugs (lower case) that are us: a public project they
    # own is one of ours, not a squat.
    owners: frozenset[str] = frozenset()
    indexes: tuple[IndexSpec, ...] = ()
    packages: Mapping[NormalizedName, InternalPackage] = field(default_factory=dict)
    mirrored: Mapping[NormalizedName, str] = field(default_factory=dict)
    # Other names people type for an internal name (``pytorch`` for ``torch``), declared
    # where no rule can derive them; matched like the name itself.
    aliases: Mapping[NormalizedName, tuple[NormalizedName, ...]] = field(default_factory=dict)

    def is_internal(self, name: NormalizedName) -> bool:
        """True if ``name`` (canonical) is one of our internal package names."""
        return name in self.names

    def is_allowed(self, name: NormalizedName) -> bool:
        """True if the public project ``name`` (canonical) is ours and never alerted."""
        return name in self.allow

    def owned_by_us(self, users: set[str], organization: str | None) -> bool:
        """True if a public project's owners or organization include one of ours."""
        if organization is not None and organization.lower() in self.owners:
            return True
        return any(user.lower() in self.owners for user in users)

    def display(self, name: NormalizedName) -> str:
        """The catalog's own spelling of an internal name or prefix."""
        return self.names.get(name) or self.prefixes.get(name) or name

    def package(self, name: NormalizedName) -> InternalPackage | None:
        """What a private index says of the internal name ``name``, if one lists it."""
        return self.packages.get(name)
