"""The simulated index's state: projects, releases, owners and the change journal.

Nothing here speaks HTTP. Every change writes journal rows the way the index does
(one serial per row) and moves the project's ``_last-serial`` along.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeAlias

from packaging.utils import canonicalize_name
from packaging.version import Version

__all__ = [
    "IndexFile",
    "IndexState",
    "JournalRow",
    "ListingEntry",
    "Project",
    "Release",
    "is_prerelease",
    "version_key",
]

# (display name, version or None, epoch seconds, action, serial): the shape of a
# ``changelog_since_serial`` row.
JournalRow: TypeAlias = tuple[str, str | None, int, str, int]
# (normalized name, display name, last serial): one project of the simple listing.
ListingEntry: TypeAlias = tuple[str, str, int]


@dataclass(frozen=True)
class IndexFile:
    """The one sdist a simulated release carries."""

    filename: str
    size: int
    sha256: str
    md5: str
    blake2b_256: str

    @property
    def path(self) -> str:
        """The file's URL path, laid out like the index's file host."""
        h = self.blake2b_256
        return f"/files/{h[:2]}/{h[2:4]}/{h[4:]}/{self.filename}"


@dataclass(frozen=True)
class Release:
    """One uploaded version of a project."""

    version: str
    seq: int
    upload_time: datetime
    summary: str | None
    author: str | None
    author_email: str | None
    file: IndexFile


@dataclass
class Project:
    """A registered project; ``seq`` orders registrations and uploads together."""

    name: str
    normalized: str
    seq: int
    created: datetime
    owners: tuple[str, ...]
    organization: str | None
    last_serial: int
    releases: list[Release]


def _utc(dt: datetime) -> datetime:
    """Read a naive datetime as UTC; convert an aware one."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def version_key(release: Release) -> tuple[int, Version, int]:
    """Order by version; invalid versions sort below valid ones, then by upload order."""
    try:
        return (1, Version(release.version), release.seq)
    except ValueError:  # InvalidVersion is one; so is a release of thousands of digits
        return (0, Version("0"), release.seq)


def is_prerelease(version: str) -> bool:
    """Whether ``version`` is a pre-release; an invalid version is not."""
    try:
        return Version(version).is_prerelease
    except ValueError:
        return False


def _make_file(normalized: str, version: str, variant: str = "") -> IndexFile:
    # Deterministic content, so digests and sizes are stable from run to run (and two
    # simulators holding the same release serve the same file, as a mirror would).
    content = f"fake sdist of {normalized} {version}{variant}\n".encode() * 32
    return IndexFile(
        filename=f"{normalized.replace('-', '_')}-{version}.tar.gz",
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        md5=hashlib.md5(content, usedforsecurity=False).hexdigest(),
        blake2b_256=hashlib.blake2b(content, digest_size=32).hexdigest(),
    )


class IndexState:
    """In-memory projects keyed by normalized name, with the index's journal.

    Every change bumps the global :attr:`serial` and the project's ``_last-serial``.
    """

    def __init__(self) -> None:
        """An empty index at serial 0."""
        self.serial: int = 0
        # Ascending serials, as changelog_since_serial answers them.
        self.journal: list[JournalRow] = []
        self._frozen: tuple[int, list[ListingEntry]] | None = None
        self._projects: dict[str, Project] = {}
        self._seq = 0

    # -- reading ---------------------------------------------------------

    def lookup(self, name: str) -> Project | None:
        """The project registered under any spelling of ``name``, if any."""
        return self._projects.get(canonicalize_name(name))

    def projects(self) -> Iterator[Project]:
        """Every registered project, in no particular order."""
        return iter(self._projects.values())

    def listing(self) -> tuple[int, list[ListingEntry]]:
        """The serial and projects ``/simple/`` lists: the frozen ones while frozen."""
        if self._frozen is not None:
            return self._frozen
        return self.serial, self._current_listing()

    def _current_listing(self) -> list[ListingEntry]:
        return [
            (p.normalized, p.name, p.last_serial)
            for p in sorted(self._projects.values(), key=lambda p: p.normalized)
        ]

    # -- journal ---------------------------------------------------------

    def _bump(self) -> int:
        self.serial += 1
        return self.serial

    def _log(self, project: Project, version: str | None, action: str) -> None:
        """Write one journal row; like the index, every row has its own serial."""
        serial = self._bump()
        self.journal.append((project.name, version, int(time.time()), action, serial))
        project.last_serial = serial

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    # -- changes ---------------------------------------------------------

    def _register(
        self,
        name: str,
        owners: Sequence[str],
        organization: str | None,
        created: datetime,
    ) -> Project:
        normalized = canonicalize_name(name)
        project = Project(
            name=name,
            normalized=normalized,
            seq=self._next_seq(),
            created=created,
            owners=tuple(owners),
            organization=organization,
            last_serial=self.serial,
            releases=[],
        )
        self._projects[normalized] = project
        self._log(project, None, "create")
        for user in owners:
            self._log(project, None, f"add Owner {user}")
        return project

    def add_release(
        self,
        name: str,
        version: str,
        *,
        summary: str | None = "A package",
        author_email: str | None = "dev@example.com",
        author: str | None = "Dev",
        owners: Sequence[str] = ("someone",),
        organization: str | None = None,
        upload_time: datetime | None = None,
        variant: str = "",
    ) -> None:
        """Upload ``version`` of ``name`` (any display spelling) with one sdist.

        The sdist's content follows from the name and version, so another simulator
        holding the same release serves the same file (same SHA-256); a ``variant`` makes
        different content (a rebuilt or a forged file under the same name).

        A new name is registered first, with ``owners`` and ``organization``
        (it then tops the packages feed); for an existing project those two are
        ignored: use :meth:`set_owners`. The release tops the updates feed
        whatever its ``upload_time`` (default now, UTC; naive means UTC).
        Raises ValueError when the version already exists.
        """
        when = _utc(upload_time) if upload_time is not None else datetime.now(UTC)
        project = self.lookup(name)
        if project is None:
            project = self._register(name, owners, organization, when)
        if any(r.version == version for r in project.releases):
            raise ValueError(f"{project.name} {version} already exists")
        release = Release(
            version=version,
            seq=self._next_seq(),
            upload_time=when,
            summary=summary,
            author=author,
            author_email=author_email,
            file=_make_file(project.normalized, version, variant),
        )
        project.releases.append(release)
        self._log(project, version, "new release")
        self._log(project, version, f"add source file {release.file.filename}")

    def add_project(
        self,
        name: str,
        *,
        owners: Sequence[str] = ("someone",),
        organization: str | None = None,
    ) -> None:
        """Register ``name`` with no release (simple API 200, JSON API 404).

        Does nothing when the name is already registered.
        """
        if canonicalize_name(name) in self._projects:
            return
        self._register(name, owners, organization, datetime.now(UTC))

    def remove_project(self, name: str) -> None:
        """Delete a project and its releases; raises KeyError when unknown."""
        project = self._projects.pop(canonicalize_name(name))
        self._log(project, None, "remove project")

    def set_owners(self, name: str, owners: Sequence[str], organization: str | None = None) -> None:
        """Replace a project's owners and organization; raises KeyError when unknown.

        The journal gets an ``add Owner``/``remove Owner`` row per user that changed; a
        change of organization alone bumps the serial with no row (the journal has holes).
        """
        project = self._projects[canonicalize_name(name)]
        before = project.owners
        project.owners = tuple(owners)
        project.organization = organization
        changes = [f"remove Owner {u}" for u in before if u not in owners]
        changes += [f"add Owner {u}" for u in owners if u not in before]
        for action in changes:
            self._log(project, None, action)
        if not changes:
            project.last_serial = self._bump()

    def journal_action(self, name: str, action: str, version: str | None = None) -> None:
        """Write a journal row of any other action (``yank release``, ``project quarantined``).

        Raises KeyError when the project is unknown.
        """
        self._log(self._projects[canonicalize_name(name)], version, action)

    def freeze_listing(self) -> None:
        """Serve ``/simple/`` as it is now (body and serial) until :meth:`thaw_listing`:
        a cache holding an old listing while the index moves on."""
        self._frozen = (self.serial, self._current_listing())

    def thaw_listing(self) -> None:
        """Serve the current ``/simple/`` again."""
        self._frozen = None
