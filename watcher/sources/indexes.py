"""The catalog's private indexes as a source of internal names, with their last good loads.

Each index named by the catalog file is read (every ``WATCHER_INDEX_RELOAD_INTERVAL``, at
start-up, and at once on SIGHUP), its projects classified as ours or as mirrors of public
projects, and the result stored. An index that cannot be read keeps protecting its last
good names and versions (from memory, else from the database, so a restart during an
outage does not shrink the catalog); its outage is alerted once after
``WATCHER_SOURCE_ALERT_AFTER`` seconds, and its recovery once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from packaging.utils import NormalizedName

from watcher.alerts.messages import AlertKind, AlertMessage
from watcher.catalog.merge import IndexContent
from watcher.catalog.mirrors import classify
from watcher.catalog.model import IndexSpec
from watcher.catalog.private import load_private_index
from watcher.config_views import PrivateIndexSettings
from watcher.errors import IndexClientError, PrivateIndexError
from watcher.pypi import IndexClient
from watcher.store import Database, Session, listing, outbox
from watcher.store import catalog as catalog_store
from watcher.store.base import error_text, utcnow
from watcher.store.catalog import CatalogStatus

log = logging.getLogger(__name__)


async def stored_content(
    session: Session, spec: IndexSpec
) -> tuple[IndexContent, dict[NormalizedName, str]]:
    """The last good load of the index ``spec`` as the database keeps it, and its ETags
    (not live: read from the store; ``error`` says when it never loaded)."""
    stored = await catalog_store.load_index(session, spec.url)
    if stored is None:
        return IndexContent(spec, live=False, error="not loaded yet"), {}
    content = IndexContent(
        spec,
        packages=stored.packages,
        mirrored=stored.mirrored,
        loaded_at=stored.loaded_at,
        live=False,
    )
    return content, dict(stored.etags)


class PrivateIndexes:
    """Reads the private indexes and keeps, per index, what it last held."""

    def __init__(
        self,
        db: Database,
        public: IndexClient,
        settings: PrivateIndexSettings,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = db
        self._public = public
        self._settings = settings
        self._clock = clock
        self._contents: dict[str, IndexContent] = {}
        self._etags: dict[str, dict[NormalizedName, str]] = {}
        self._read_at: dict[str, float] = {}  # monotonic time of the last attempt
        self._errors: dict[str, str] = {}  # the last error logged, per index

    async def restore(
        self, specs: Sequence[IndexSpec], *, quiet: bool = False
    ) -> list[IndexContent]:
        """The last good load of each index from the database (at start-up, before any
        index is asked: the catalog protects them from the first poll on; and on a replica
        that does not lead, ``quiet``, as the leader stores them)."""
        contents = []
        for spec in specs:
            async with self._db.transaction() as session:
                content, etags = await stored_content(session, spec)
            contents.append(content)
            if content.error is not None:
                continue
            self._contents[spec.url] = content
            self._etags[spec.url] = etags
            if quiet:
                continue
            log.info(
                "private index %s: %d names from its last good load at %s",
                spec.url,
                len(content.packages),
                content.loaded_at.isoformat() if content.loaded_at else "?",
            )
        return contents

    def sizes(self) -> dict[str, int]:
        """How many projects of its own each index held at its last good load, by URL."""
        return {url: len(content.packages) for url, content in self._contents.items()}

    async def load(self, specs: Sequence[IndexSpec], *, force: bool = False) -> list[IndexContent]:
        """Each index's content now: read again when due (or ``force``), else as last read;
        the last good load for an index that fails."""
        contents = []
        for spec in specs:
            due = time.monotonic() - self._read_at.get(spec.url, -1e18)
            if force or due >= self._settings.reload_interval or spec.url not in self._contents:
                contents.append(await self._read(spec))
            else:
                contents.append(self._contents[spec.url])
        for url in set(self._contents) - {s.url for s in specs}:
            del self._contents[url]  # no longer in the catalog file
        return contents

    async def _read(self, spec: IndexSpec) -> IndexContent:
        self._read_at[spec.url] = time.monotonic()
        started = time.monotonic()
        try:
            previous = self._contents.get(spec.url)
            loaded = await load_private_index(
                spec,
                self._settings,
                previous.packages if previous else None,
                self._etags.get(spec.url),
            )
            known = await self._known_public(list(loaded.packages))
            classified = await classify(
                loaded.packages,
                self._public,
                known_public=known,
                previous=previous.mirrored if previous else None,
                incomplete=loaded.incomplete,
                concurrency=self._settings.concurrency,
            )
        except (PrivateIndexError, IndexClientError) as exc:
            return await self._failed(spec, str(exc))
        now = self._clock()
        content = IndexContent(
            spec, packages=classified.ours, mirrored=classified.mirrored, loaded_at=now
        )
        async with self._db.write() as session:
            before = await catalog_store.get_status(session, spec.url)
            await catalog_store.save_index(
                session, spec.url, classified.ours, classified.mirrored, loaded.etags, now
            )
            await catalog_store.save_loaded(session, _status(spec, content, now))
            if before is not None and before.down_alerted_at is not None:
                await self._notice(session, spec, before, now, recovered=True)
        self._contents[spec.url] = content
        self._etags[spec.url] = dict(loaded.etags)
        self._errors.pop(spec.url, None)
        for name, error in sorted(classified.failed.items())[:10]:
            log.warning(
                "private index %s: cannot compare %s with the public index (kept as %s): %s",
                spec.url,
                name,
                "a mirror" if name in classified.mirrored else "ours",
                error,
            )
        log.info(
            "private index %s: %d projects read in %.1f s (%d pages unchanged): %d ours,"
            " %d taken as mirrors of public projects%s",
            spec.url,
            len(loaded.packages),
            time.monotonic() - started,
            loaded.unchanged,
            len(classified.ours),
            len(classified.mirrored),
            _why_mirrored(classified.mirrored),
        )
        return content

    async def _failed(self, spec: IndexSpec, error: str) -> IndexContent:
        """Keep protecting the last good load; record and (once) alert the outage."""
        error = error_text(error)
        now = self._clock()
        last = self._contents.get(spec.url)
        if last is None:
            async with self._db.transaction() as session:
                stored = await catalog_store.load_index(session, spec.url)
            if stored is not None:
                last = IndexContent(
                    spec, stored.packages, stored.mirrored, stored.loaded_at, live=False
                )
                self._contents[spec.url] = last
                self._etags[spec.url] = stored.etags
        async with self._db.write() as session:
            await catalog_store.save_error(session, spec.url, error, now)
            status = await catalog_store.get_status(session, spec.url)
            if (
                status is not None
                and status.failing_since is not None
                and status.down_alerted_at is None
                and (now - status.failing_since).total_seconds() >= self._settings.alert_after
            ):
                await self._notice(session, spec, status, now, recovered=False)
        if self._errors.get(spec.url) != error:
            self._errors[spec.url] = error
            if last is None:
                log.error("private index %s cannot be read, no earlier load: %s", spec.url, error)
            else:
                log.error(
                    "private index %s cannot be read; still protecting its %d names from the"
                    " load at %s: %s",
                    spec.url,
                    len(last.packages),
                    last.loaded_at.isoformat() if last.loaded_at else "?",
                    error,
                )
        if last is None:
            return IndexContent(spec, live=False, error=error)
        return IndexContent(
            spec, last.packages, last.mirrored, last.loaded_at, live=False, error=error
        )

    async def _notice(
        self,
        session: object,
        spec: IndexSpec,
        status: CatalogStatus,
        now: datetime,
        *,
        recovered: bool,
    ) -> None:
        """Queue the one alert of an outage (or of its end)."""
        since = status.failing_since or now
        if recovered:
            change = (
                f"private index readable again (failing from {since:%Y-%m-%d %H:%M} UTC"
                f" until {now:%Y-%m-%d %H:%M} UTC)"
            )
        else:
            change = (
                f"private index unreadable since {since:%Y-%m-%d %H:%M} UTC; the names of its"
                f" last good load stay protected: {status.last_error}"
            )
        notice = AlertMessage(
            kind=AlertKind.SOURCE_BACK if recovered else AlertKind.SOURCE_DOWN,
            public_name="",
            display_name=spec.url,
            matches=[],
            severity="high",
            project_url=None,
            source="catalog",
            change=change,
        )
        await outbox.enqueue_alert(
            session,  # type: ignore[arg-type]
            event_key=f"{notice.kind}:{spec.url}:{since.isoformat()}"[:600],
            public_name="",
            payload=notice.to_payload(),
            now=now,
        )
        await catalog_store.mark_down_alerted(
            session,  # type: ignore[arg-type]
            spec.url,
            None if recovered else now,
        )
        log.warning("ALERT %s", notice.text)

    async def _known_public(
        self, names: list[NormalizedName]
    ) -> Callable[[NormalizedName], bool] | None:
        """Which of ``names`` the stored public listing holds, or None when there is no
        complete listing yet (then every name is asked of the index)."""
        async with self._db.transaction() as session:
            if not await listing.has_listing(session):
                return None
            public = await listing.stored_among(session, names)
        return public.__contains__


def _status(spec: IndexSpec, content: IndexContent, now: datetime) -> CatalogStatus:
    return CatalogStatus(
        source=spec.url,
        digest=None,
        loaded_at=now,
        names=len(content.packages),
        prefixes=0,
        allow=0,
        owners=0,
        last_error=None,
        error_at=None,
        mirrored=len(content.mirrored),
    )


def _why_mirrored(mirrored: dict[NormalizedName, str]) -> str:
    if not mirrored:
        return ""
    reasons: dict[str, int] = {}
    for reason in mirrored.values():
        reason = reason.split(" (", 1)[0]  # "same files as the public project (3 of 3 ...)"
        reasons[reason] = reasons.get(reason, 0) + 1
    top = sorted(reasons.items(), key=lambda item: -item[1])[:3]
    return " (" + "; ".join(f"{count}: {reason}" for reason, count in top) + ")"
