"""The recorder: observations into history, findings and the outbox, inside the caller's
transaction (so a source can write them together with its cursor)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from itertools import groupby
from typing import TYPE_CHECKING

from packaging.utils import NormalizedName

from watcher.alerts.messages import AlertKind, AlertMatch, AlertMessage, RoleGrant
from watcher.catalog.model import Catalog
from watcher.matching import Match
from watcher.matching.risk import Assessment, assess_matches, strongest
from watcher.pipeline import roles
from watcher.pipeline.observation import Observation
from watcher.pipeline.risk import (
    observed_releases,
    queue_rise,
    reassess_open,
    record_of,
    risk_fields,
)
from watcher.pypi import ProjectInfo
from watcher.store import Session, findings, history, outbox
from watcher.store.models import EventSource

if TYPE_CHECKING:
    from watcher.metrics import Metrics

log = logging.getLogger(__name__)

ProjectLink = Callable[[str, str | None], str]


class Recorder:
    """Stores what the pipeline learned and queues the alerts it deserves.

    ``link`` gives a project's (or release's) page on the index, for the alerts; the
    matches recorded are counted in ``metrics`` (when given).
    """

    def __init__(self, link: ProjectLink, *, metrics: Metrics | None = None) -> None:
        self._link = link
        self._metrics = metrics

    async def record(
        self, session: Session, catalog: Catalog, obs: Observation, now: datetime
    ) -> int:
        """Store history and findings of one observation; return how many alerts it queued."""
        info = obs.info
        project_id, display = await history.upsert_project(
            session,
            obs.public_name,
            info.name if info else obs.display_name,
            now,
            history.ProjectDetails(
                latest_version=info.latest_version if info else (obs.latest or obs.version),
                summary=info.summary if info else None,
                author=info.author if info else None,
                author_email=info.author_email if info else obs.feed_author,
                owners=list(info.owners) if info else None,
                organization=info.organization if info else None,
                last_serial=info.last_serial if info else None,
            ),
        )
        added = await self._store_releases(session, project_id, obs, now)
        # One assessment per match, from both sides' versions, for the findings and alerts.
        assessed = assess_matches(obs.matches, catalog, observed_releases(obs))
        keys = {(m.internal_name, str(m.kind)) for m in obs.matches}
        reopened = await findings.reopen_findings(session, obs.public_name, keys, now)
        # Findings resolved when their internal name left the catalog, which has it again:
        # protected anew, so alerted as new (their first alert's key is spent).
        rejoined = await findings.reopen_findings(
            session, obs.public_name, keys, now, resolutions=(findings.LEFT_CATALOG,)
        )
        if added or obs.change is not None:
            # Resolved by a person, and the project changed since (a release, an owner):
            # open again, and alerted below as an update of an open finding.
            await findings.reopen_findings(
                session, obs.public_name, keys, now, resolutions=(findings.RESOLVED_BY_HAND,)
            )
        new = await add_findings(session, obs.matches, now, assessed)
        self._count(obs.matches, new)
        # Either side may have changed since the findings were stored (a public release
        # above ours): a rise is alerted below, a fall only stored.
        rises = [c for c in await reassess_open(session, obs.public_name, assessed, now) if c.rose]
        alerts = 0
        if reopened:
            # The name was removed from the index and is back: alert again.
            again = {f.key for f in reopened}
            back = [m for m in obs.matches if (m.internal_name, m.kind) in again]
            message = self._message(catalog, obs, back, display, AlertKind.REOPENED)
            alerts += await enqueue(
                session, f"reopened:{obs.public_name}:{now.isoformat()}", message, now
            )
        if not new and not reopened and not rejoined:
            # A squat already reported changed: an update on its findings, not a new one.
            released = obs.new_release(added)
            if obs.change is not None:
                key = f"owner:{obs.public_name}:{obs.serial}"
                alerts += await self._update(
                    session, catalog, obs, display, now, AlertKind.OWNER, key
                )
            elif released is not None and not rises:
                # Bounded as stored: a hostile version must not overflow the key's column.
                key = f"release:{obs.public_name}=={history.storable_version(released)}"
                alerts += await self._update(
                    session, catalog, obs, display, now, AlertKind.RELEASE, key, released
                )
            if rises:
                # The release (if any) that raised the risk is told in this one alert.
                risen = {c.finding.key for c in rises}
                hit = [m for m in obs.matches if (m.internal_name, str(m.kind)) in risen]
                message = self._message(catalog, obs, hit, display, AlertKind.RISK, released)
                alerts += await queue_rise(session, message, rises, now)
        if rejoined:
            protected = {f.key for f in rejoined}
            new += [m for m in obs.matches if (m.internal_name, m.kind) in protected]
        if new:
            key = "new:{}:{}".format(
                obs.public_name, ",".join(f"{m.internal_name}/{m.kind}" for m in sorted(new))
            )
            if rejoined:
                key += f"@{now.isoformat()}"
            message = self._message(catalog, obs, new, display, AlertKind.NEW)
            alerts += await enqueue(session, key, message, now)
        return alerts

    async def _store_releases(
        self, session: Session, project_id: int, obs: Observation, now: datetime
    ) -> set[str]:
        """Store every release not stored yet; return the versions that were new."""
        info = obs.info
        owners = list(info.owners) if info else []
        known = set()
        added: set[str] = set()
        for release in info.releases if info is not None else ():
            known.add(release.version)
            new = history.ReleaseRecord(
                version=release.version,
                source=obs.source,
                first_seen_at=now,
                upload_time=release.upload_time,
                files=list(release.files),
                yanked=release.yanked,
                author=obs.author,
                owners=owners,
                digests=list(release.digests),
            )
            if await history.add_release(session, project_id, new):
                added.add(release.version)
        # The feed can be ahead of the JSON API's cache: keep the releases it announced.
        for version, published in [(obs.version, obs.published), *obs.announced]:
            if not version or version in known:
                continue
            known.add(version)
            announced = history.ReleaseRecord(
                version=version,
                source=obs.source,
                first_seen_at=now,
                upload_time=published,
                author=obs.author,
                owners=owners,
            )
            if await history.add_release(session, project_id, announced):
                added.add(version)
        return added

    async def _update(
        self,
        session: Session,
        catalog: Catalog,
        obs: Observation,
        display: str,
        now: datetime,
        kind: AlertKind,
        key: str,
        version: str | None = None,
    ) -> int:
        # A suppressed finding's updates are not alerted (an acknowledged one's are).
        open_findings = [
            f
            for f in await findings.findings_for(session, obs.public_name)
            if f.status in findings.ALERTED
        ]
        if not open_findings:
            return 0
        await findings.touch_open(session, obs.public_name, now)
        known = {f.key for f in open_findings}
        matches = [m for m in obs.matches if (m.internal_name, m.kind) in known] or obs.matches
        message = self._message(catalog, obs, matches, display, kind, version)
        return await enqueue(session, key, message, now)

    async def announce_removed(
        self,
        session: Session,
        catalog: Catalog,
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
            message = AlertMessage(
                kind=AlertKind.REMOVED,
                public_name=public,
                display_name=public,
                matches=[
                    AlertMatch(
                        internal_name=internal,
                        internal_display=catalog.display(NormalizedName(internal)),
                        kind=kind,
                        detail="finding resolved: the project is no longer on the index",
                        severity="none",
                    )
                    for _, internal, kind in group
                ],
                severity="none",
                project_url=self._link(public, None),
                source=EventSource.INDEX,
            )
            count += 1
            await outbox.enqueue_alert(
                session,
                event_key=f"removed:{public}:{stamp}",
                public_name=public,
                payload=message.to_payload(),
                now=now,
            )
            log.warning("RESOLVED %s", message.text)
        return count

    async def record_came_and_went(
        self,
        session: Session,
        obs: Observation,
        catalog: Catalog,
        now: datetime,
    ) -> int:
        """A squat created and removed before anything looked at it: record its findings
        (already resolved) and queue one alert; 1 if it was new.

        It was installable while it lasted, so security must hear of it; there are no
        details to fetch any more (the JSON API answers 404 for a removed project).
        """
        assessed = assess_matches(obs.matches, catalog, observed_releases(obs))
        new = await add_findings(session, obs.matches, now, assessed)
        self._count(obs.matches, new)
        if not new:
            return 0  # already known: its removal note, if any, says the rest
        await findings.resolve_open_findings(session, [obs.public_name], now)
        message = self._message(catalog, obs, new, obs.display_name, AlertKind.CAME_AND_WENT)
        return await enqueue(session, f"came_and_went:{obs.public_name}:{obs.serial}", message, now)

    async def record_role_change(
        self,
        session: Session,
        public: NormalizedName,
        display: str,
        grants: Sequence[RoleGrant],
        *,
        change: str,
        source: str,
        now: datetime,
        owners: Sequence[str] = (),
        organization: str | None = None,
    ) -> int:
        """Somebody who is not us holds a role on our own public project (a takeover looks
        exactly like this): queue one critical alert per grant not alerted yet, whichever
        path saw it first (the change log or the ownership audit); return how many."""
        count = 0
        for key, message in await roles.role_alerts(
            session,
            self._link,
            public,
            display,
            grants,
            change=change,
            source=source,
            owners=owners,
            organization=organization,
        ):
            count += await enqueue(session, key, message, now)
        return count

    async def record_ours(self, session: Session, info: ProjectInfo, now: datetime) -> None:
        """Record a public project owned by one of our owners as ours."""
        await roles.record_ours(session, info, now)

    def _count(self, matches: Sequence[Match], new: Sequence[Match]) -> None:
        if self._metrics is not None:
            self._metrics.matches_recorded((m.kind for m in matches), new=(m.kind for m in new))

    def _message(
        self,
        catalog: Catalog,
        obs: Observation,
        matches: list[Match],
        display: str,
        kind: AlertKind,
        version: str | None = None,
    ) -> AlertMessage:
        info = obs.info
        version = version or obs.version or obs.latest
        first = info.releases[0].upload_time if info and info.releases else None
        assessed = assess_matches(matches, catalog, observed_releases(obs))
        top, overall = strongest(assessed)
        message = AlertMessage(
            kind=kind,
            public_name=obs.public_name,
            display_name=display,
            matches=[
                AlertMatch(
                    internal_name=m.internal_name,
                    internal_display=catalog.display(m.internal_name),
                    kind=str(m.kind),
                    detail=m.detail,
                    severity=str(assessed[m].risk),
                )
                for m in matches
            ],
            severity=str(overall.risk),
            project_url=self._link(obs.public_name, version),
            source=obs.source,
            version=version,
            change=obs.change,
            summary=info.summary if info else None,
            author=obs.author,
            owners=list(info.owners) if info else [],
            organization=info.organization if info else None,
            first_release=first.isoformat() if first else None,
        )
        return replace(message, **risk_fields(catalog, top.internal_name, overall))


async def add_findings(
    session: Session,
    matches: list[Match],
    now: datetime,
    assessed: Mapping[Match, Assessment] | None = None,
) -> list[Match]:
    """Store a finding per match (with its assessed risk, when given); return the matches
    that were not findings yet."""
    return [
        m
        for m in matches
        if await findings.add_finding(
            session,
            public_name=m.public_name,
            internal_name=m.internal_name,
            kind=m.kind,
            detail=m.detail,
            now=now,
            risk=record_of(assessed[m]) if assessed and m in assessed else None,
        )
    ]


async def enqueue(session: Session, key: str, message: AlertMessage, now: datetime) -> int:
    """Queue one alert (once per ``key``) and log it; 1 if it was new.

    The alert names the findings it is about that are not resolved (its buttons act on them).
    """
    about = {(m.internal_name, m.kind) for m in message.matches}
    ids = [
        f.id
        for f in await findings.findings_for(session, message.public_name)
        if f.key in about and f.status in findings.ACTIVE
    ]
    message = replace(message, finding_ids=ids)
    if await outbox.enqueue_alert(
        session,
        event_key=key,
        public_name=message.public_name,
        payload=message.to_payload(),
        now=now,
    ):
        log.warning("ALERT %s", message.text)
        return 1
    return 0
