"""Findings' risk from both sides' versions: assessed when a finding is recorded, and
re-assessed when either side changes (a public release above ours raises it and alerts
again; our own new release, seen in a reloaded catalog, may lower it, silently).

The model itself is :mod:`watcher.matching.risk`; this module feeds it what the pipeline
and the store know, and keeps the stored risk in step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import groupby
from typing import Any

from packaging.utils import NormalizedName

from watcher.alerts.messages import OUR_VERSIONS_SHOWN, AlertKind, AlertMatch, AlertMessage
from watcher.catalog.model import Catalog
from watcher.matching.model import KIND_SEVERITY, Match, MatchKind, Risk
from watcher.matching.risk import Assessment, assess
from watcher.pipeline.observation import Observation
from watcher.pypi.models import ReleaseInfo
from watcher.store import Session, findings, history, outbox
from watcher.store.findings import FindingRow, RiskRecord
from watcher.store.models import EventSource, FindingStatus

log = logging.getLogger(__name__)

ProjectLink = Callable[[str, str | None], str]

# The kinds whose risk depends on the catalog's versions (the others keep their kind's).
_VERSIONED = (str(MatchKind.EXACT), str(MatchKind.PREFIX))


@dataclass(frozen=True)
class RiskChange:
    """A finding whose stored risk changed on re-assessment."""

    finding: FindingRow
    before: Risk
    after: Assessment

    @property
    def rose(self) -> bool:
        """True when the risk is now higher than it was stored; for a suppressed finding,
        higher than when it was suppressed (it stays quiet until then)."""
        if self.finding.status == FindingStatus.SUPPRESSED:
            return self.after.risk > suppressed_at(self.finding)
        return self.after.risk > self.before


def record_of(assessment: Assessment) -> RiskRecord:
    """An assessment as stored on a finding."""
    return RiskRecord.of(str(assessment.risk), assessment.reason, assessment.predates)


def stored_risk(finding: FindingRow) -> Risk:
    """The risk a finding was last stored (and alerted) with.

    A finding recorded before risks were assessed from versions was alerted with its
    kind's severity; an unreadable value counts as critical (it was never lower).
    """
    if finding.risk is not None:
        try:
            return Risk[finding.risk.upper()]
        except KeyError:
            return Risk.CRITICAL
    try:
        return KIND_SEVERITY[MatchKind(finding.kind)]
    except ValueError:
        return Risk.CRITICAL


def suppressed_at(finding: FindingRow) -> Risk:
    """The risk a suppressed finding had when it was suppressed (read as stored risks are)."""
    return stored_risk(replace(finding, risk=finding.suppressed_risk))


def observed_releases(obs: Observation) -> tuple[ReleaseInfo, ...] | None:
    """The public project's releases as an observation knows them; ``None`` without details.

    Feeds can be ahead of the JSON API's cache: a release they announced that the details
    lack is added, with its files unknown (so it never passes for one of ours).
    """
    if obs.info is None:
        return None
    releases = list(obs.info.releases)
    known = {r.version for r in releases}
    for version, published in [(obs.version, obs.published), *obs.announced]:
        if version and version not in known:
            known.add(version)
            releases.append(ReleaseInfo(version, published, (), yanked=False))
    return tuple(releases)


def stored_releases(records: Sequence[history.ReleaseRecord]) -> tuple[ReleaseInfo, ...] | None:
    """The releases stored for a public project, for the model; ``None`` when none is.

    A release stored without its files' digests (announced by a feed, or stored before
    digests were kept): a public version equal to one of ours then counts as having other
    files (critical) until fresh details say otherwise.
    """
    if not records:
        return None
    return tuple(
        ReleaseInfo(r.version, r.upload_time, tuple(r.files), r.yanked, tuple(r.digests))
        for r in records
    )


async def reassess(
    session: Session,
    rows: Sequence[FindingRow],
    assessed: Mapping[tuple[str, str], Assessment],
    now: datetime,
) -> list[RiskChange]:
    """Store each finding's new assessment (from ``assessed``, by (internal, kind)) where it
    differs from the stored one; return the findings whose risk changed."""
    changes = []
    for finding in rows:
        assessment = assessed.get(finding.key)
        if assessment is None:
            continue
        new = record_of(assessment)
        if new.stored_on(finding):
            continue
        await findings.set_risk(session, finding.id, new, now)
        before = stored_risk(finding)
        change = RiskChange(finding, before, assessment)
        if assessment.risk != before:
            changes.append(change)
        if finding.status == FindingStatus.SUPPRESSED and change.rose:
            # Suppressed until its risk rose above the one it had then: it has.
            await findings.transition(
                session,
                finding.id,
                findings.Action.REOPEN,
                actor=findings.SERVICE_ACTOR,
                via=findings.Via.SERVICE,
                reason=f"risk rose to {assessment.risk} (suppressed at {suppressed_at(finding)})",
                now=now,
            )
    return changes


async def reassess_open(
    session: Session,
    public_name: str,
    assessed: Mapping[Match, Assessment],
    now: datetime,
) -> list[RiskChange]:
    """Store the new assessment (by match) of each open finding of one public name."""
    open_findings = [
        f for f in await findings.findings_for(session, public_name) if f.status in findings.ACTIVE
    ]
    by_key = {(str(m.internal_name), str(m.kind)): a for m, a in assessed.items()}
    return await reassess(session, open_findings, by_key, now)


async def queue_rise(
    session: Session, message: AlertMessage, rises: Sequence[RiskChange], now: datetime
) -> int:
    """Queue ``message`` (an :attr:`AlertKind.RISK` alert) for ``rises``, once per rise;
    1 if it was new."""
    message = replace(
        message,
        previous_severity=str(max(c.before for c in rises)),
        finding_ids=[c.finding.id for c in rises],  # for the alert's buttons
    )
    if await outbox.enqueue_alert(
        session,
        event_key=risk_key(message.public_name, rises),
        public_name=message.public_name,
        payload=message.to_payload(),
        now=now,
    ):
        log.warning("ALERT %s", message.text)
        return 1
    return 0


def risk_key(public_name: str, rises: Sequence[RiskChange]) -> str:
    """The outbox key of a risk rise: one alert per rise to one level at one pair of
    highest versions (a rise, a fall and the same rise again is not alerted twice)."""
    top = max(rises, key=lambda c: c.after.risk).after
    hits = ",".join(
        f"{c.finding.internal_name}/{c.finding.kind}={c.after.risk}"
        for c in sorted(rises, key=lambda c: c.finding.key)
    )
    return f"risk:{public_name}:{hits}@{top.public_highest}/{top.our_highest}"


def risk_fields(catalog: Catalog, internal: str, assessment: Assessment) -> dict[str, Any]:
    """The message fields of an assessment: why, both sides' versions, predates."""
    ours = catalog.package(NormalizedName(internal))
    return {
        "severity": str(assessment.risk),
        "risk_reason": assessment.reason,
        "our_highest": assessment.our_highest,
        "our_versions": list(ours.versions[-OUR_VERSIONS_SHOWN:]) if ours else [],
        "public_highest": assessment.public_highest,
        "predates": assessment.predates,
    }


async def reassess_all(
    session: Session,
    catalog: Catalog,
    now: datetime,
    link: ProjectLink | None = None,
) -> list[RiskChange]:
    """Re-assess every open exact and prefix finding against ``catalog`` (call it after
    each catalog reload); store what changed and queue one alert per public name whose
    risk rose. ``link`` gives a project's page for the alert.

    The public side is what the store holds (the releases seen, without digests); a finding
    whose internal name or prefix is no longer in the catalog is left to the catalog
    source, which resolves it.
    """
    rows = [
        f
        for f in await findings.open_findings(session, _VERSIONED)
        if (
            NormalizedName(f.internal_name) in catalog.prefixes
            if f.kind == MatchKind.PREFIX
            else catalog.is_internal(NormalizedName(f.internal_name))
        )
    ]
    changes: list[RiskChange] = []
    for public, group in groupby(rows, key=lambda f: f.public_name):
        found = list(group)
        releases = stored_releases(await history.project_history(session, public))
        allowed = catalog.is_allowed(NormalizedName(public))
        assessed = {
            f.key: assess(
                MatchKind(f.kind),
                catalog.package(NormalizedName(f.internal_name)),
                releases,
                allowed=allowed,
            )
            for f in found
        }
        changed = await reassess(session, found, assessed, now)
        changes += changed
        rises = [c for c in changed if c.rose]
        if rises:
            await _alert_rise(session, catalog, public, rises, link, now)
    return changes


async def _alert_rise(
    session: Session,
    catalog: Catalog,
    public: str,
    rises: list[RiskChange],
    link: ProjectLink | None,
    now: datetime,
) -> None:
    top = max(rises, key=lambda c: c.after.risk)
    message = AlertMessage(
        kind=AlertKind.RISK,
        public_name=public,
        display_name=public,
        matches=[
            AlertMatch(
                internal_name=c.finding.internal_name,
                internal_display=catalog.display(NormalizedName(c.finding.internal_name)),
                kind=c.finding.kind,
                detail=c.finding.detail,
                severity=str(c.after.risk),
            )
            for c in rises
        ],
        project_url=link(public, None) if link is not None else None,
        source=EventSource.CATALOG_CHECK,
        version=top.after.public_highest,
        severity=str(top.after.risk),
    )
    message = replace(message, **risk_fields(catalog, top.finding.internal_name, top.after))
    await queue_rise(session, message, rises, now)
