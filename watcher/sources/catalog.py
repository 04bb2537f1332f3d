"""The catalog as a source: what a catalog entry finds on the index when it is new.

At start-up, and whenever the catalog file changes (a reload), entries not checked yet
are matched against every stored public name at once and asked of the index directly;
collisions become events like any other. Entries removed from the catalog stop matching,
and their open findings are resolved as "no longer in the catalog".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from packaging.utils import NormalizedName

from watcher.catalog import Catalog
from watcher.catalog.files import read_catalog_file
from watcher.catalog.merge import digest as merged_digest
from watcher.catalog.merge import merge
from watcher.errors import CatalogError, IndexClientError, IndexUnavailable
from watcher.matching import CatalogMatcher, build_matcher
from watcher.matching.live import CatalogChange, CatalogView, LiveCatalog, diff
from watcher.pipeline.risk import reassess_all
from watcher.pypi import IndexClient
from watcher.sources.indexes import PrivateIndexes
from watcher.store import Database, events, findings, listing
from watcher.store import catalog as catalog_store
from watcher.store.base import utcnow
from watcher.store.catalog import CatalogStatus
from watcher.store.events import NewEvent
from watcher.store.models import EventKind, EventSource

log = logging.getLogger(__name__)

NAME, PREFIX = "name", "prefix"


@dataclass
class ReloadReport:
    """What one look at the catalog file did."""

    changed: bool = False
    error: str | None = None
    change: CatalogChange | None = None
    resolved: int = 0
    risen: int = 0  # findings whose risk rose with the new catalog


class CatalogSource:
    """Checks new catalog entries against the index and keeps the live catalog current."""

    def __init__(
        self,
        db: Database,
        client: IndexClient,
        catalog: LiveCatalog,
        *,
        path: Path | None = None,
        indexes: PrivateIndexes | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = db
        self._client = client
        self._catalog = catalog
        self._path = path
        self._indexes = indexes
        self._clock = clock
        # The file as last read well (its catalog and digest): what the indexes merge into,
        # also while a broken file is being fixed.
        view = catalog.current
        self._file: tuple[Catalog, str] = (view.catalog, view.digest)
        self._force_indexes = False
        # The poll job and a reload may both check new entries: one at a time.
        self._checking = asyncio.Lock()
        self._all_checked: str | None = None  # digest of a catalog whose entries all were
        self._matched: set[tuple[str, str]] = set()  # entries matched against the listing

    async def record_loaded(self) -> None:
        """Store the state of the catalog in use, with no error (at start-up, after each
        reload, and when a broken file is fixed)."""
        view = self._catalog.current
        # Reads, then writes: a write transaction (on SQLite a deferred one fails at once,
        # "database is locked", when another writer committed in between).
        async with self._db.write() as session:
            await catalog_store.save_loaded(session, _status(view))
            await catalog_store.keep_only(
                session, [view.source, *(i.url for i in view.catalog.indexes)]
            )

    def read_indexes_now(self) -> None:
        """Read every private index at the next reload, whenever they were last read
        (SIGHUP)."""
        self._force_indexes = True

    def sizes(self) -> dict[str, int]:
        """Internal names per source, for the metrics: the file's own (``"file"``) and each
        private index's projects as last loaded (``"index-1"``... in the file's order: no
        URL, ``/metrics`` answers without a token)."""
        file = self._file[0]
        loaded = self._indexes.sizes() if self._indexes is not None else {}
        sizes = {"file": len(file.names)}
        for number, spec in enumerate(file.indexes, 1):
            sizes[f"index-{number}"] = loaded.get(spec.url, 0)
        return sizes

    async def restore(self) -> None:
        """Put the private indexes' last good loads (from the database) in use, before the
        first reload reads them: a restart while an index is down protects its names."""
        if self._indexes is None or not self._file[0].indexes:
            return
        contents = await self._indexes.restore(self._file[0].indexes)
        catalog = merge(self._file[0], contents)
        view = self._catalog.current
        self._catalog.swap(
            CatalogView(
                catalog,
                build_matcher(catalog),
                view.source,
                merged_digest(self._file[1], catalog),
                view.loaded_at,
            )
        )

    async def follow(self) -> bool:
        """On a replica that does not lead: the catalog file read again, and the private
        indexes' loads the leader stored, put in use when either changed (True). Nothing is
        written and no index is asked: the leader does that (see watcher.leader). A file
        that cannot be read leaves the catalog in use (the leader records the error)."""
        if self._path is not None:
            try:
                self._file = read_catalog_file(self._path)
            except CatalogError as exc:
                log.debug("catalog file not usable, the one in use stays: %s", exc)
        file, file_digest = self._file
        catalog = file
        if self._indexes is not None and file.indexes:
            catalog = merge(file, await self._indexes.restore(file.indexes, quiet=True))
        digest = merged_digest(file_digest, catalog)
        current = self._catalog.current
        if digest == current.digest:
            return False
        view = CatalogView(catalog, build_matcher(catalog), current.source, digest, self._clock())
        self._catalog.swap(view)
        log.info("catalog in use now as the leader loaded it: %d names", len(catalog.names))
        return True

    async def reload(self) -> ReloadReport:
        """Read the catalog file again; put it in use if it changed and is valid.

        A file that cannot be used (bad TOML, an invalid name, gone) leaves the catalog in
        use as it is; the error is logged once (until it changes) and kept for the status.
        """
        report = ReloadReport()
        current = self._catalog.current
        if self._path is not None:
            try:
                self._file = read_catalog_file(self._path)
            except CatalogError as exc:
                report.error = str(exc)
                if report.error != self._catalog.last_error:
                    log.error(
                        "catalog reload failed; still using the catalog loaded at %s: %s",
                        current.loaded_at.isoformat(),
                        exc,
                    )
                    async with self._db.write() as session:
                        await catalog_store.save_error(
                            session, current.source, report.error, self._clock()
                        )
                    # Only once stored: a failed write is retried (and logged) at the next look.
                    self._catalog.last_error = report.error
                if self._indexes is None or not self._file[0].indexes:
                    return report
        file, file_digest = self._file
        catalog = file
        if self._indexes is not None and file.indexes:
            force, self._force_indexes = self._force_indexes, False
            catalog = merge(file, await self._indexes.load(file.indexes, force=force))
        digest = merged_digest(file_digest, catalog)
        if digest == current.digest:
            if self._catalog.last_error is not None and report.error is None:
                # Fixed back to what is in use: nothing to swap, the error is history.
                await self.record_loaded()
                self._catalog.last_error = None
            return report
        view = CatalogView(catalog, build_matcher(catalog), current.source, digest, self._clock())
        change = diff(current.catalog, view.catalog)
        now = self._clock()
        # The database first: if this fails, nothing is swapped and the next look retries.
        async with self._db.write() as session:
            resolved = await findings.resolve_for_internal(
                session, change.removed_names, change.removed_prefixes, now
            )
            removed = [(n, NAME) for n in change.removed_names]
            removed += [(p, PREFIX) for p in change.removed_prefixes]
            await catalog_store.forget_checked(session, removed)
        # Put back later, they are matched against the stored listing again.
        self._matched.difference_update(removed)
        self._catalog.swap(view)
        report.changed, report.change = True, change
        log.info(
            "catalog reloaded from %s: %d names (+%d -%d), %d prefixes (+%d -%d)",
            view.source,
            len(view.catalog.names),
            len(change.added_names),
            len(change.removed_names),
            len(view.catalog.prefixes),
            len(change.added_prefixes),
            len(change.removed_prefixes),
        )
        report.resolved = len(resolved)
        for finding in resolved:
            log.warning(
                "RESOLVED finding %s vs %s (%s): %s is no longer in the catalog",
                finding.public_name,
                finding.internal_name,
                finding.kind,
                finding.internal_name,
            )
        await self.record_loaded()
        # Our versions may have changed (a release of ours, an index now read): every open
        # exact or prefix finding is weighed again, a risk that rose alerted once.
        async with self._db.write() as session:
            rose = await reassess_all(session, view.catalog, now, self._client.project_url)
        report.risen = sum(1 for c in rose if c.rose)
        if report.error is not None:
            # The indexes changed while the file is broken: the file's error still stands.
            async with self._db.write() as session:
                await catalog_store.save_error(session, view.source, report.error, now)
            self._catalog.last_error = report.error
        await self.check()  # names and prefixes added: matched and asked at once
        return report

    async def check(self) -> int:
        """Check each catalog entry not yet checked against the stored listing and the
        index; return how many events that recorded.

        Entries whose check fails (index down) stay unchecked and are retried next time.
        """
        async with self._checking:
            return await self._check()

    async def _check(self) -> int:
        view = self._catalog.current
        entries = [(n, NAME) for n in view.catalog.names]
        entries += [(p, PREFIX) for p in view.catalog.prefixes]
        if view.digest == self._all_checked:
            return 0  # every entry of this catalog was checked: no need to ask the database
        async with self._db.transaction() as session:
            pending = await catalog_store.unchecked_entries(session, entries)
        # An entry whose index check failed stays pending, but the stored listing (a
        # million names) is scanned for it once per process, not at every poll.
        unmatched = [e for e in pending if e not in self._matched]
        recorded = await self.match_stored(view, unmatched) if unmatched else 0
        self._matched.update(unmatched)
        if not pending:
            self._all_checked = view.digest
            return 0
        checked = 0
        for number, (name, entry) in enumerate(pending):
            try:
                exists = await self._client.exists(name)
            except IndexUnavailable as exc:
                # Unreachable for one entry is unreachable for the rest: one line, not one
                # per entry, and the rest wait for the next run.
                log.warning(
                    "catalog check paused, %d entries left unchecked (retried next run): %s",
                    len(pending) - number,
                    exc,
                )
                break
            except IndexClientError as exc:
                log.warning("catalog check of %s failed, will retry: %s", name, exc)
                continue
            checked += 1
            news = []
            if exists and view.matcher.match(NormalizedName(name)):
                news.append(
                    NewEvent(
                        normalized_name=name,
                        name=view.catalog.display(NormalizedName(name)),
                        event=EventKind.EXISTS,
                        source=EventSource.CATALOG_CHECK,
                    )
                )
                recorded += 1
            now = self._clock()
            async with self._db.transaction() as session:
                await events.add_events(session, news, now)
                await catalog_store.mark_checked(session, name, entry, found=exists, now=now)
        log.info(
            "checked %d of %d new catalog entries against the index: %d events",
            checked,
            len(pending),
            recorded,
        )
        if checked == len(pending):
            self._all_checked = view.digest
        return recorded

    async def match_stored(self, view: CatalogView, entries: list[tuple[str, str]]) -> int:
        """Match catalog entries (new since the last look) against every stored public name.

        A name or prefix added to the catalog is checked against the whole index at once,
        from the stored listing, without waiting for the next reconcile.
        """
        catalog = view.catalog
        added = Catalog(
            names={
                NormalizedName(n): catalog.display(NormalizedName(n))
                for n, kind in entries
                if kind == NAME
            },
            prefixes={
                NormalizedName(p): catalog.display(NormalizedName(p))
                for p, kind in entries
                if kind == PREFIX
            },
            allow=catalog.allow,
            owners=catalog.owners,
            aliases=catalog.aliases,
        )
        matcher = CatalogMatcher(added)
        news: list[NewEvent] = []
        async with self._db.transaction() as session:
            async for batch in listing.stored_names(session):
                hits = {m.public_name for m in matcher.match_many([r[0] for r in batch])}
                news += [
                    NewEvent(
                        normalized_name=norm,
                        name=name,
                        event=EventKind.CATALOG,
                        source=EventSource.INDEX,
                        serial=serial,
                    )
                    for norm, name, serial in batch
                    if norm in hits
                ]
        if news:
            async with self._db.transaction() as session:
                await events.add_events(session, news, self._clock())
            log.info("%d stored public names match catalog entries added", len(news))
        return len(news)


def _status(view: CatalogView) -> CatalogStatus:
    return CatalogStatus(
        source=view.source,
        digest=view.digest,
        loaded_at=view.loaded_at,
        names=len(view.catalog.names),
        prefixes=len(view.catalog.prefixes),
        allow=len(view.catalog.allow),
        owners=len(view.catalog.owners),
        last_error=None,
        error_at=None,
    )
