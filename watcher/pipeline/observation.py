"""An observation: a public project that matched the catalog, with what we know of it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from packaging.utils import NormalizedName

from watcher.matching import Match
from watcher.pypi import ProjectInfo


@dataclass
class Observation:
    """A public project that matched the catalog, with what the index told us about it."""

    public_name: NormalizedName
    display_name: str
    version: str | None  # the release a feed announced; None when the source names none
    source: str  # an EventSource value: the "seen via" of alerts and releases
    matches: list[Match]
    info: ProjectInfo | None = None
    published: datetime | None = None
    feed_author: str | None = None
    # An ownership change the change log reported ("add Owner mallory"), and its serial.
    change: str | None = None
    serial: int | None = None
    # The releases (and publication times) every feed item processed with this one
    # announced for the project, oldest first: stored with it even without details.
    announced: tuple[tuple[str, datetime | None], ...] = ()

    @property
    def author(self) -> str | None:
        """Who published it, as far as we know."""
        if self.info is not None:
            return self.info.author or self.info.author_email
        return self.feed_author

    def new_release(self, added: set[str]) -> str | None:
        """The release this observation newly stored that deserves an update, if any.

        A feed item names its release. An index or change-log event does not: then the
        project's latest release counts, when it is one we had not stored before.
        """
        if self.version is not None:
            return self.version if self.version in added else None
        latest = self.latest
        return latest if latest in added else None

    @property
    def latest(self) -> str | None:
        """The project's newest release as far as we know: the details', else the newest a
        feed announced."""
        if self.info is not None and self.info.latest_version:
            return self.info.latest_version
        return self.announced[-1][0] if self.announced else None
