"""Plain data the index client hands out. Nothing here does I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from packaging.utils import NormalizedName


class FeedKind(StrEnum):
    """The two RSS feeds the watcher polls; the value is stored as the feed's cursor key."""

    UPDATES = "updates"  # newest 100 releases
    PACKAGES = "packages"  # newest 40 new projects


@dataclass(frozen=True)
class FeedItem:
    """One RSS item: a release (updates feed) or a new project (packages feed)."""

    name: str  # display spelling as the index shows it
    canonical: NormalizedName
    version: str | None  # None for the packages feed
    published: datetime | None
    author: str | None

    @property
    def key(self) -> str:
        """Identity of the item across polls, independent of the index's base URL."""
        return f"{self.canonical}=={self.version}" if self.version else self.canonical


@dataclass(frozen=True)
class FeedPage:
    """A parsed feed body: items newest first, the ETag to send next time, items we skipped."""

    kind: FeedKind
    items: list[FeedItem]
    etag: str | None
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DistFile:
    """One distribution file as a simple API project page lists it (PEP 503/691/700)."""

    filename: str
    sha256: str | None  # lower-case hex; None when the index gives no SHA-256
    upload_time: datetime | None = None  # PEP 700, where the index gives it
    yanked: bool = False


@dataclass(frozen=True)
class ReleaseInfo:
    """One release of a public project as the JSON API describes it."""

    version: str
    upload_time: datetime | None  # earliest file upload
    files: tuple[str, ...]
    yanked: bool
    # SHA-256 of its files (64 lower-case hex each), those the index gave; () = unknown.
    digests: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProjectInfo:
    """What the JSON API says about a public project (details for a matched name)."""

    name: str
    canonical: NormalizedName
    latest_version: str | None
    summary: str | None
    author: str | None
    author_email: str | None
    owners: tuple[str, ...]
    organization: str | None
    releases: tuple[ReleaseInfo, ...]  # oldest first by PEP 440 order; invalid versions last
    last_serial: int | None
