"""The watch pipeline: feed items and catalog checks -> matches -> history, findings, outbox.

Network I/O (feeds, JSON details) happens before the database transaction; everything a poll
learns is then written in ONE transaction together with the feed cursor, so a crash or a kill
at any point either keeps all of it or none of it (and the next poll redoes the work).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby
from typing import Any

from packaging.utils import NormalizedName
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from watcher.catalog import Catalog
from watcher.errors import IndexClientError, ProjectNotFound
from watcher.matching import CatalogMatcher, Match, Matcher
from watcher.pypi import FeedItem, FeedKind, IndexClient, ProjectInfo
from watcher.store import Database, queries
from watcher.store import listing as listing_store
from watcher.store.base import utcnow
from watcher.store.models import Finding, IndexEvent, IndexProject, IndexState

log = logging.getLogger(__name__)


@dataclass
class Observation:
    """A public project that matched the catalog, with what the index told us about it."""

    public_name: NormalizedName
    display_name: str
    version: str | None
    source: str  # "feed:updates", "feed:packages", "catalog-check", "index", "journal"
    matches: list[Match]
    info: ProjectInfo | None = None
    published: datetime | None = None
    feed_author: str | None = None
    # An ownership change the journal reported ("add Owner mallory"), and its serial.
    change: str | None = None
    serial: int | None = None


@dataclass
class PollReport:
    """What one feed poll did; logged and returned to tests."""

    feed: FeedKind
    not_modified: bool = False
    items: int = 0
    new_items: int = 0
    matched: list[NormalizedName] = field(default_factory=list)
    new_alerts: int = 0
    gap: bool = False


@dataclass
class ReconcileReport:
    """What one whole-index reconcile did."""

    not_modified: bool = False
    projects: int = 0
    new: int = 0
    changed: int = 0
    removed: int = 0
    matched: int = 0
    resolved: int = 0
    new_alerts: int = 0


class Watch:
    """Runs the pipeline against one index, one catalog and one database."""

    def __init__(
        self,
        db: Database,
        client: IndexClient,
        catalog: Catalog,
        matcher: Matcher,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = db
        self._client = client
        self._catalog = catalog
        self._matcher = matcher
        self._clock = clock

    # --- feeds ---------------------------------------------------------------------------

    async def poll_feeds(self) -> list[PollReport]:
        """Poll both feeds; a failing feed is logged and does not stop the other."""
        reports = []
        for kind in (FeedKind.PACKAGES, FeedKind.UPDATES):
            try:
                reports.append(await self.poll_feed(kind))
            except IndexClientError as exc:
                # The cursor is untouched: the next good poll processes what this one missed.
                log.error("poll of %s feed failed, cursor not advanced: %s", kind, exc)
        return reports

    async def poll_feed(self, kind: FeedKind) -> PollReport:
        """Fetch one feed, process items not seen in the last good poll, advance the cursor."""
        report = PollReport(feed=kind)
        async with self._db.transaction() as session:
            state = await queries.get_feed_state(session, kind)
            etag = state.etag if state else None
            seen = set(state.seen_keys) if state else set()
            previous_newest = state.newest_key if state else None

        page = await self._client.fetch_feed(kind, etag)
        now = self._clock()
        if page is None:
            report.not_modified = True
            async with self._db.transaction() as session:
                await queries.touch_feed_state(session, kind, now)
            return report

        keys = [item.key for item in page.items]
        report.items = len(keys)
        if previous_newest is not None and previous_newest not in keys:
            # The feed window moved past everything we saw last time: items may have been
            # missed. The index reconcile is the safety net for that window.
            report.gap = True

        fresh = [item for item in reversed(page.items) if item.key not in seen]
        report.new_items = len(fresh)
        observations = []
        for item in fresh:
            observation = await self._observe_item(kind, item)
            if observation is not None:
                observations.append(observation)
                report.matched.append(item.canonical)

        async with self._db.transaction() as session:
            report.new_alerts = await self._record(session, observations, now)
            gaps = await queries.save_feed_state(
                session, kind, etag=page.etag, seen_keys=keys, now=now, gap=report.gap
            )
        if report.gap:
            log.warning(
                "%s feed overflowed since the last poll (%s no longer listed; gap %d so far)",
                kind,
                previous_newest,
                gaps,
            )
        if observations or fresh:
            log.info(
                "%s feed: %d new items, %d matched, %d new alerts",
                kind,
                len(fresh),
                len(observations),
                report.new_alerts,
            )
        return report

    async def _observe_item(self, kind: FeedKind, item: FeedItem) -> Observation | None:
        matches = self._matcher.match(item.canonical)
        if not matches:
            return None
        observation = Observation(
            public_name=item.canonical,
            display_name=item.name,
            version=item.version,
            source=f"feed:{kind}",
            matches=matches,
            published=item.published,
            feed_author=item.author,
        )
        return await self._with_details(observation)

    async def _with_details(self, observation: Observation) -> Observation | None:
        """Add JSON-API details; ``None`` if the project turns out to be ours."""
        try:
            observation.info = await self._client.project(observation.public_name)
        except ProjectNotFound:
            log.info("no JSON details for %s (no visible release yet)", observation.public_name)
        except IndexClientError as exc:
            # The alert matters more than its details: record what the feed told us.
            log.warning("details of %s unavailable: %s", observation.public_name, exc)
        info = observation.info
        if info is not None and self._catalog.owned_by_us(set(info.owners), info.organization):
            log.info(
                "%s matches the catalog but is owned by us; not alerted", observation.public_name
            )
            return None
        return observation

    # --- the whole index: nothing slips through the feeds' small windows ------------------

    async def reconcile(self) -> ReconcileReport:
        """Fetch the whole simple index, store it, match what is new or changed.

        One transaction loads the listing, matches every new or changed name (in bulk),
        records the matched ones as ``index_events`` and advances the stored listing and
        its serial; :meth:`process_index_events` then turns events into alerts. A crash
        anywhere leaves either the old listing or the new one with its events.
        """
        report = ReconcileReport()
        async with self._db.transaction() as session:
            state = await session.get(IndexState, 1)
            etag = state.etag if state else None
            known_serial = state.serial if state else None
        listing = await self._client.fetch_index(etag=etag, min_serial=known_serial)
        now = self._clock()
        if listing is None or (listing.serial is not None and listing.serial == known_serial):
            # 304, or the same global serial: every change to the index moves the serial.
            report.not_modified = True
            return report
        events: list[dict[str, Any]] = []
        async with self._db.engine.begin() as conn:
            # Write first: SQLite then holds the write lock for the whole transaction (a
            # read-then-write transaction fails with "database is locked" if another
            # connection wrote in between); PostgreSQL serializes concurrent reconciles.
            await conn.execute(update(IndexState).where(IndexState.id == 1).values(id=1))
            count = await listing_store.load_snapshot(
                conn, listing.names, listing.serials, serial=listing.serial
            )
            async for batch in listing_store.new_or_changed(conn):
                matched = {m.public_name for m in self._matcher.match_many([b[0] for b in batch])}
                events += [
                    {
                        "normalized_name": c,
                        "name": n,
                        "serial": serial,
                        "event": event,
                        "created_at": now,
                    }
                    for c, n, serial, event in batch
                    if c in matched
                ]
            async with AsyncSession(bind=conn) as session:
                gone = await listing_store.gone_names(conn)
                removed = await queries.resolve_open_findings(session, gone, now)
                stamp = listing.serial if listing.serial is not None else now.isoformat()
                report.resolved = await self.announce_removed(session, removed, stamp, now)
            diff = await listing_store.apply_snapshot(conn, now)
            if events:
                await conn.execute(insert(IndexEvent), events)
            values = {
                "serial": listing.serial,
                "etag": listing.etag,
                "projects": diff.stored + diff.new - diff.removed,
                "reconciled_at": now,
            }
            updated = await conn.execute(
                update(IndexState).where(IndexState.id == 1).values(**values)
            )
            if not updated.rowcount:
                await conn.execute(insert(IndexState).values(id=1, **values))
        report.projects = count
        report.new, report.changed, report.removed = diff.new, diff.changed, diff.removed
        report.matched = len(events)
        log.info(
            "reconciled %d projects (serial %s): %d new, %d changed, %d removed, %d matched",
            report.projects,
            listing.serial,
            diff.new,
            diff.changed,
            diff.removed,
            report.matched,
        )
        report.new_alerts = await self.process_index_events()
        return report

    async def announce_removed(
        self,
        session: AsyncSession,
        resolved: Sequence[tuple[str, str, str]],
        stamp: object,
        now: datetime,
    ) -> int:
        """Queue one "removed from the index" note per public name whose findings were
        resolved (rows of (public, internal, kind), sorted by public name); return how many.

        ``stamp`` (the serial that saw the removal) makes a later removal of the same name,
        after it came back, a new note rather than a duplicate.
        """
        count = 0
        for public, group in groupby(resolved, key=lambda row: row[0]):
            hits = [(internal, kind) for _, internal, kind in group]
            count += 1
            payload = self._removal_payload(public, hits)
            await queries.enqueue_alert(
                session,
                event_key=f"removed:{public}:{stamp}",
                public_name=public,
                payload=payload,
                now=now,
            )
            log.warning("RESOLVED %s", payload["text"])
        return count

    async def process_index_events(self, limit: int = 500) -> int:
        """Turn pending index events into observations (with details) and alerts."""
        alerts = 0
        async with self._db.transaction() as session:
            pending = list(
                (
                    await session.execute(select(IndexEvent).order_by(IndexEvent.id).limit(limit))
                ).scalars()
            )
        for event in pending:
            norm = NormalizedName(event.normalized_name)
            matches = self._matcher.match(norm)
            observation = None
            # Is the public project one of ours? Allowlisted, or owned by our owners (the
            # only reason _with_details declines an observation).
            ours = self._catalog.is_allowed(norm)
            if matches:
                observation = await self._with_details(
                    Observation(
                        public_name=norm,
                        display_name=event.name,
                        version=None,
                        source=event.source or "index",
                        matches=matches,
                        change=event.detail,
                        serial=event.serial,
                    )
                )
                ours = observation is None
            strangers = _strangers(event.detail, self._catalog.owners) if ours else []
            async with self._db.transaction() as session:
                now = self._clock()
                if observation is not None:
                    alerts += await self._record(session, [observation], now)
                if strangers:
                    # Somebody who is not us gained a role on our own public project: a
                    # takeover looks exactly like this.
                    payload = self._ours_payload(event, strangers)
                    key = f"ours:{norm}:{event.serial}"
                    alerts += await _enqueue(session, key, norm, payload, now)
                await session.execute(delete(IndexEvent).where(IndexEvent.id == event.id))
        return alerts

    async def match_stored(self, entries: list[tuple[str, str]]) -> int:
        """Match catalog entries (new since the last start) against every stored public name.

        A name or prefix added to the catalog is checked against the whole index at once,
        from the stored listing, without waiting for the next reconcile.
        """
        catalog = self._catalog
        added = Catalog(
            names={
                NormalizedName(n): catalog.display(NormalizedName(n))
                for n, kind in entries
                if kind == "name"
            },
            prefixes={
                NormalizedName(p): catalog.display(NormalizedName(p))
                for p, kind in entries
                if kind == "prefix"
            },
            allow=catalog.allow,
            owners=catalog.owners,
        )
        matcher = CatalogMatcher(added)
        now = self._clock()
        events: list[dict[str, Any]] = []
        async with self._db.engine.connect() as conn:
            stored = await conn.stream(
                select(
                    IndexProject.normalized_name, IndexProject.name, IndexProject.last_serial
                ).where(IndexProject.removed_at.is_(None))
            )
            async for batch in stored.partitions(50_000):
                matched = {m.public_name for m in matcher.match_many([str(r[0]) for r in batch])}
                events += [
                    {
                        "normalized_name": r[0],
                        "name": r[1],
                        "serial": r[2],
                        "event": "catalog",
                        "created_at": now,
                    }
                    for r in batch
                    if r[0] in matched
                ]
        if not events:
            return 0
        async with self._db.transaction() as session:
            await session.execute(insert(IndexEvent), events)
        log.info(
            "%d stored public names match catalog entries added since the last start", len(events)
        )
        return await self.process_index_events()

    # --- first start: is the catalog squatted already? -----------------------------------

    async def check_catalog(self) -> int:
        """Check each catalog entry not yet checked against the index; return new alerts.

        Entries whose check fails (index down) stay unchecked and are retried next time.
        """
        entries = [(n, "name") for n in self._catalog.names]
        entries += [(p, "prefix") for p in self._catalog.prefixes]
        async with self._db.transaction() as session:
            pending = await queries.unchecked_entries(session, entries)
        alerts = await self.match_stored(pending) if pending else 0
        for name, entry in pending:
            try:
                exists = await self._client.exists(name)
            except IndexClientError as exc:
                log.warning("catalog check of %s failed, will retry: %s", name, exc)
                continue
            observation = None
            if exists:
                matches = self._matcher.match(NormalizedName(name))
                if matches:
                    observation = await self._with_details(
                        Observation(
                            public_name=NormalizedName(name),
                            display_name=name,
                            version=None,
                            source="catalog-check",
                            matches=matches,
                        )
                    )
            now = self._clock()
            async with self._db.transaction() as session:
                if observation is not None:
                    alerts += await self._record(session, [observation], now)
                await queries.mark_checked(session, name, entry, found=exists, now=now)
        if pending:
            log.info(
                "checked %d catalog entries against the index: %d new alerts", len(pending), alerts
            )
        return alerts

    # --- recording -----------------------------------------------------------------------

    async def _record(
        self, session: AsyncSession, observations: Sequence[Observation], now: datetime
    ) -> int:
        """Store history and findings; enqueue one alert per project with new findings."""
        alerts = 0
        for obs in observations:
            info = obs.info
            project = await queries.upsert_project(
                session,
                obs.public_name,
                info.name if info else obs.display_name,
                now,
                latest_version=info.latest_version if info else obs.version,
                summary=info.summary if info else None,
                author=info.author if info else None,
                author_email=info.author_email if info else obs.feed_author,
                owners=list(info.owners) if info else None,
                organization=info.organization if info else None,
                last_serial=info.last_serial if info else None,
            )
            added = await self._store_releases(session, project.id, obs, now)
            reopened = await queries.reopen_findings(session, obs.public_name, now)
            new = await _add_findings(session, obs.matches, now)
            if reopened:
                # The name was removed from the index and is back: alert again.
                again = {(f.internal_name, f.kind) for f in reopened}
                back = [m for m in obs.matches if (m.internal_name, m.kind) in again]
                payload = self._payload(obs, back or obs.matches, project.name, event="reopened")
                key = f"reopened:{obs.public_name}:{now.isoformat()}"
                alerts += await _enqueue(session, key, obs.public_name, payload, now)
            if not new and not reopened:
                # A squat already reported changed: an update on its findings, not a new one.
                released = _new_release(obs, added)
                if obs.change is not None:
                    key = f"owner:{obs.public_name}:{obs.serial}"
                    alerts += await self._update(session, obs, project.name, now, "owner", key)
                elif released is not None:
                    key = f"release:{obs.public_name}=={released}"
                    alerts += await self._update(
                        session, obs, project.name, now, "release", key, version=released
                    )
            if not new:
                continue
            event_key = "new:{}:{}".format(
                obs.public_name, ",".join(f"{m.internal_name}/{m.kind}" for m in sorted(new))
            )
            payload = self._payload(obs, new, project.name)
            alerts += await _enqueue(session, event_key, obs.public_name, payload, now)
        return alerts

    async def _store_releases(
        self, session: AsyncSession, project_id: int, obs: Observation, now: datetime
    ) -> set[str]:
        """Store every release not stored yet; return the versions that were new."""
        info = obs.info
        owners = list(info.owners) if info else []
        author = (info.author or info.author_email) if info else obs.feed_author
        known = set()
        added: set[str] = set()
        if info is not None:
            for release in info.releases:
                known.add(release.version)
                if await queries.add_release(
                    session,
                    project_id,
                    release.version,
                    upload_time=release.upload_time,
                    files=list(release.files),
                    yanked=release.yanked,
                    author=author,
                    owners=owners,
                    first_seen_at=now,
                    source=obs.source,
                ):
                    added.add(release.version)
        # The feed can be ahead of the JSON API's cache: keep the release it announced.
        if (
            obs.version
            and obs.version not in known
            and await queries.add_release(
                session,
                project_id,
                obs.version,
                upload_time=obs.published,
                author=author,
                owners=owners,
                first_seen_at=now,
                source=obs.source,
            )
        ):
            added.add(obs.version)
        return added

    async def _update(
        self,
        session: AsyncSession,
        obs: Observation,
        display: str,
        now: datetime,
        event: str,
        key: str,
        *,
        version: str | None = None,
    ) -> int:
        open_findings = [
            f for f in await queries.findings_for(session, obs.public_name) if f.status == "open"
        ]
        if not open_findings:
            return 0
        await session.execute(
            update(Finding)
            .where(Finding.public_name == obs.public_name, Finding.status == "open")
            .values(updated_at=now)
        )
        known = {(f.internal_name, f.kind) for f in open_findings}
        matches = [m for m in obs.matches if (m.internal_name, m.kind) in known] or obs.matches
        payload = self._payload(obs, matches, display, event=event, version=version)
        return await _enqueue(session, key, obs.public_name, payload, now)

    async def record_came_and_went(
        self,
        session: AsyncSession,
        public: NormalizedName,
        display: str,
        version: str | None,
        window: tuple[datetime | None, datetime | None],
        serial: int,
        now: datetime,
    ) -> int:
        """A squat created and removed before anything looked at it: record its findings
        (already resolved) and queue one alert; 1 if it was new.

        It was installable while it lasted, so security must hear of it; there are no
        details to fetch any more (the JSON API answers 404 for a removed project).
        """
        new = await _add_findings(session, self._matcher.match(public), now)
        if not new:
            return 0  # already known: its removal note, if any, says the rest
        await queries.resolve_open_findings(session, [public], now)
        first, last = (t.strftime("%Y-%m-%d %H:%M:%S UTC") if t else "?" for t in window)
        obs = Observation(
            public_name=public,
            display_name=display,
            version=version,
            source="journal",
            matches=new,
            change=f"public from {first} to {last}",
        )
        payload = self._payload(obs, new, display, event="came_and_went")
        return await _enqueue(session, f"came_and_went:{public}:{serial}", public, payload, now)

    @property
    def catalog(self) -> Catalog:
        """The catalog this pipeline matches against."""
        return self._catalog

    def _ours_payload(self, event: IndexEvent, strangers: list[tuple[str, str]]) -> dict[str, Any]:
        names = ", ".join(f"{user} ({role})" for role, user in strangers)
        return {
            "event": "ours",
            "title": "Role change on our own public project",
            "section": "gained role holders who are not among the catalog's owners:",
            "text": (
                f"Role change on our own PyPI project: {event.name}: {event.detail} "
                f"({names} not among our owners)"
            ),
            "change": event.detail,
            "public_name": event.normalized_name,
            "display_name": event.name,
            "version": None,
            "source": event.source or "index",
            "severity": "high",
            "matches": [
                {
                    "internal_name": event.normalized_name,
                    "internal_display": event.name,
                    "kind": "ours",
                    "detail": f"{user} became {role}; not one of the catalog's owners",
                    "severity": "high",
                }
                for role, user in strangers
            ],
            "project_url": self._client.project_url(event.normalized_name),
        }

    def _removal_payload(self, public: str, hits: list[tuple[str, str]]) -> dict[str, Any]:
        names = "; ".join(
            f"internal {self._catalog.display(NormalizedName(i))!r} ({k})" for i, k in hits
        )
        return {
            "event": "removed",
            "title": "Squat removed from the index",
            "text": f"Removed from PyPI: {public} is gone; resolved its findings against {names}",
            "public_name": public,
            "display_name": public,
            "version": None,
            "source": "index",
            "severity": "none",
            "matches": [
                {
                    "internal_name": i,
                    "internal_display": self._catalog.display(NormalizedName(i)),
                    "kind": k,
                    "detail": "finding resolved: the project is no longer on the index",
                    "severity": "none",
                }
                for i, k in hits
            ],
            "project_url": self._client.project_url(public),
        }

    def _payload(
        self,
        obs: Observation,
        new: list[Match],
        display: str,
        *,
        event: str = "new",
        version: str | None = None,
    ) -> dict[str, Any]:
        info = obs.info
        version = version or obs.version or (info.latest_version if info else None)
        matches = [
            {
                "internal_name": m.internal_name,
                "internal_display": self._catalog.display(m.internal_name),
                "kind": str(m.kind),
                "detail": m.detail,
                "severity": str(m.severity),
            }
            for m in new
        ]
        hits = "; ".join(f"internal {m['internal_display']!r} ({m['kind']})" for m in matches)
        lead, title = _WORDING[event]
        change = f" ({obs.change})" if obs.change else ""
        return {
            "event": event,
            "title": title,
            "text": f"{lead}: {display} {version or '(no release)'}{change} collides with {hits}",
            "change": obs.change,
            "public_name": obs.public_name,
            "display_name": display,
            "version": version,
            "source": obs.source,
            "severity": str(max(m.severity for m in new)),
            "matches": matches,
            "summary": info.summary if info else None,
            "author": (info.author or info.author_email) if info else obs.feed_author,
            "owners": list(info.owners) if info else [],
            "organization": info.organization if info else None,
            "project_url": self._client.project_url(obs.public_name, version),
            "first_release": (
                info.releases[0].upload_time.isoformat()
                if info and info.releases and info.releases[0].upload_time
                else None
            ),
        }


# Per alert event: the start of the notification text and the message's header.
_WORDING = {
    "new": ("Possible squat on PyPI", "Possible squat of an internal package"),
    "release": ("New release of a reported squat on PyPI", "New release of a reported squat"),
    "reopened": ("Squat back on PyPI", "A removed squat is back"),
    "owner": ("Ownership changed on a reported squat on PyPI", "Ownership change on a squat"),
    "came_and_went": (
        "Squat appeared on PyPI and was removed before it was looked at",
        "A squat came and went",
    ),
}


# Role rows that give somebody a role ("add Owner mallory", "accepted Maintainer eve").
_ROLE_GAINED = re.compile(r"^(?:add|accepted) (Owner|Maintainer) (\S+)$")


def _strangers(detail: str | None, owners: frozenset[str]) -> list[tuple[str, str]]:
    """(role, user) of each role given to a user who is not one of ``owners``."""
    found = []
    for action in (detail or "").split("; "):
        gained = _ROLE_GAINED.match(action)
        if gained and gained[2].lower() not in owners:
            found.append((gained[1], gained[2]))
    return found


def _new_release(obs: Observation, added: set[str]) -> str | None:
    """The release this observation newly stored that deserves an update, if any.

    A feed item names its release. An index or journal event does not: then the project's
    latest release counts, when it is one we had not stored before.
    """
    if obs.version is not None:
        return obs.version if obs.version in added else None
    latest = obs.info.latest_version if obs.info else None
    return latest if latest in added else None


async def _add_findings(session: AsyncSession, matches: list[Match], now: datetime) -> list[Match]:
    """Store a finding per match; return the matches that were not findings yet."""
    return [
        m
        for m in matches
        if await queries.add_finding(
            session,
            public_name=m.public_name,
            internal_name=m.internal_name,
            kind=m.kind,
            detail=m.detail,
            now=now,
        )
    ]


async def _enqueue(
    session: AsyncSession, key: str, public_name: str, payload: dict[str, Any], now: datetime
) -> int:
    """Queue one alert (once per ``key``) and log it; 1 if it was new."""
    if await queries.enqueue_alert(
        session, event_key=key, public_name=public_name, payload=payload, now=now
    ):
        log.warning("ALERT %s", payload["text"])
        return 1
    return 0
