"""Routing the outbox, so that the channel stays readable and keeps being read.

Every queued alert is routed once, in the dispatcher's write transaction:

- the collisions the first start finds (the baseline) are told by one summary, once the
  first whole-index listing is applied and its events processed (unless there are no more
  than the digest threshold: those are told one by one); they are open findings all the
  same;
- an update about a reported squat (a release, an owner change, its removal or return)
  is a reply in the thread of the first message that told of it;
- an alert below the minimum risk waits for the daily digest;
- more than the threshold of alerts ready at once become one digest, with the full list in
  its thread; fewer are posted one by one. A takeover of our own project and the notices
  about catalog sources are always posted on their own.

Digests are outbox rows themselves: claimed, sent, recovered after a crash and retried
like any alert; their members count as delivered when the message telling them is.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time

from watcher.alerts.digests import LIST_PART, Digest, DigestKind, risk_rank
from watcher.alerts.messages import AlertKind, AlertMessage
from watcher.config_views import AlertSettings
from watcher.store import Session, events, outbox
from watcher.store.outbox import QueuedAlert

log = logging.getLogger(__name__)

# What goes in the thread of the message that first told of the squat, and what may start
# such a thread.
THREAD_UPDATES = frozenset(
    {AlertKind.RELEASE, AlertKind.OWNER, AlertKind.REMOVED, AlertKind.REOPENED}
)
THREAD_STARTERS = (AlertKind.NEW, AlertKind.CAME_AND_WENT, AlertKind.RISK, AlertKind.REOPENED)
# Never in a digest nor held: a takeover of our own project, and the state of our sources.
ALWAYS_POSTED = frozenset({AlertKind.OURS, AlertKind.SOURCE_DOWN, AlertKind.SOURCE_BACK})


@dataclass(frozen=True)
class Routing:
    """How alerts are routed and paced (see :class:`watcher.config.AlertSettings`)."""

    digest_threshold: int = 5
    min_risk: str = "medium"
    critical_mention: str | None = None
    pace: float = 1.0  # seconds between two messages to the channel
    # A burst (more than the threshold ready) is gathered until none came for this long
    # (at most ``gather_max`` after its oldest): the pipeline queues it project by project.
    gather: float = 2.0
    gather_max: float = 30.0
    # The longest the baseline waits for the first listing's events to be processed.
    baseline_wait: float = 3600.0

    @classmethod
    def of(cls, settings: AlertSettings) -> Routing:
        """The routing the settings ask for (the other fields at their defaults)."""
        return cls(
            digest_threshold=settings.digest_threshold,
            min_risk=settings.min_risk,
            critical_mention=settings.critical_mention,
            pace=settings.pace,
        )


@dataclass
class PlanReport:
    """What one planning pass decided."""

    posts: int = 0
    replies: int = 0
    held: int = 0
    digests: int = 0


def _message(alert: QueuedAlert) -> AlertMessage | None:
    try:
        return AlertMessage.from_payload(alert.payload)
    except (KeyError, TypeError, ValueError):
        return None  # posted on its own: its send fails and is logged, not the whole plan


def _kind(alert: QueuedAlert) -> AlertKind | None:
    try:
        return AlertKind(alert.kind or "")
    except ValueError:
        return None


class Planner:
    """Routes unplanned outbox rows (call :meth:`plan` in a write transaction)."""

    def __init__(self, routing: Routing) -> None:
        self._routing = routing

    async def plan(self, session: Session, now: datetime) -> PlanReport:
        """Route what can be routed now; the rest waits for a later pass."""
        report = PlanReport()
        unplanned = await outbox.unplanned_alerts(session, limit=None)
        marker = await outbox.baseline_marker(session)
        if marker is not None and not await self._close_baseline(
            session, marker, unplanned, now, report
        ):
            # Held for the summary until the first look at the index is complete.
            unplanned = [a for a in unplanned if not a.baseline]
        await self._route(session, [a for a in unplanned if not _digest(a)], now, report)
        await self._daily(session, now, report)
        return report

    async def _close_baseline(
        self,
        session: Session,
        marker: QueuedAlert,
        unplanned: list[QueuedAlert],
        now: datetime,
        report: PlanReport,
    ) -> bool:
        """Route the baseline summary once the first listing's events are all processed
        (or it waited too long); True if it was."""
        members = [a for a in unplanned if a.baseline]
        ready = await events.pending_count(session) == 0
        waited = (now - marker.created_at).total_seconds() >= self._routing.baseline_wait
        if not ready and not waited:
            return False
        if not ready:
            log.warning(
                "the first look at the index is not complete after %.0f s; summarizing the "
                "%d collisions found so far",
                self._routing.baseline_wait,
                len(members),
            )
        if len(members) <= self._routing.digest_threshold:
            # A few existing collisions are no flood: each is told on its own (routed below
            # like any alert), and there is no summary to send; the baseline is over.
            await outbox.drop_alert(session, marker.id)
            return True
        unplanned[:] = [a for a in unplanned if not a.baseline]
        messages = [m for m in map(_message, members) if m is not None]
        summary = Digest.of(DigestKind.BASELINE, messages)
        await outbox.fill_digest(
            session, marker.id, payload=summary.to_payload(), risk=summary.severity or None
        )
        await outbox.route_alerts(
            session, [a.id for a in members], outbox.MEMBER, digest_id=marker.id
        )
        report.digests += 1
        log.info("baseline: %d existing collisions told in one summary", len(members))
        return True

    async def _route(
        self, session: Session, alerts: list[QueuedAlert], now: datetime, report: PlanReport
    ) -> None:
        candidates: list[QueuedAlert] = []
        floor = risk_rank(self._routing.min_risk)
        for alert in alerts:
            kind = _kind(alert)
            if kind in THREAD_UPDATES:
                first = await outbox.first_alert_of(
                    session, alert.public_name, alert.id, tuple(map(str, THREAD_STARTERS))
                )
                if first is not None:
                    # Sent when the first message is (a reply needs its thread to exist).
                    await outbox.route_alerts(session, [alert.id], outbox.REPLY, parent_id=first.id)
                    report.replies += 1
                    continue
            if kind in ALWAYS_POSTED or _message(alert) is None:
                await outbox.route_alerts(session, [alert.id], outbox.POST)
                report.posts += 1
            elif risk_rank(alert.risk) < floor:
                await outbox.route_alerts(session, [alert.id], outbox.DAILY)
                report.held += 1
            else:
                candidates.append(alert)
        if len(candidates) <= self._routing.digest_threshold:
            await outbox.route_alerts(session, [a.id for a in candidates], outbox.POST)
            report.posts += len(candidates)
            return
        if self._gathering(candidates, now):
            return  # a burst still being queued: one digest for all of it, a moment later
        await self._digest(session, DigestKind.FLOOD, candidates, now, f"digest:{candidates[0].id}")
        report.digests += 1

    def _gathering(self, candidates: list[QueuedAlert], now: datetime) -> bool:
        """Whether more alerts of the same burst may still come (then they wait a little)."""
        newest = (now - candidates[-1].created_at).total_seconds()
        oldest = (now - candidates[0].created_at).total_seconds()
        return newest < self._routing.gather and oldest < self._routing.gather_max

    async def _daily(self, session: Session, now: datetime, report: PlanReport) -> None:
        """On the first pass of a day, the alerts held before it, in one digest."""
        midnight = datetime.combine(now.date(), time(0), tzinfo=now.tzinfo)
        held = await outbox.held_alerts(session, before=midnight)
        if not held:
            return
        key = f"daily:{now.date().isoformat()}:{held[0].id}"
        await self._digest(session, DigestKind.DAILY, held, now, key)
        report.digests += 1

    async def _digest(
        self,
        session: Session,
        kind: DigestKind,
        members: list[QueuedAlert],
        now: datetime,
        key: str,
    ) -> None:
        """One top-level message for ``members``, their full list in its thread."""
        pairs = [(a, m) for a in members if (m := _message(a)) is not None]
        messages = [m for _, m in pairs]
        digest = Digest.of(kind, messages)
        digest_id = await outbox.add_digest(
            session,
            event_key=key,
            payload=digest.to_payload(),
            risk=digest.severity or None,
            now=now,
        )
        # The parts list the alerts in the order the parts are cut in.
        ranked = sorted(pairs, key=lambda p: (-risk_rank(p[1].severity), p[1].public_name[:80]))
        for number, part in enumerate(Digest.parts_of([m for _, m in ranked]), 1):
            part_id = await outbox.add_digest(
                session,
                event_key=f"{key}:part:{number}",
                payload=part.to_payload(),
                risk=None,
                now=now,
                parent_id=digest_id,
            )
            chunk = ranked[(number - 1) * LIST_PART : number * LIST_PART]
            await outbox.route_alerts(
                session, [a.id for a, _ in chunk], outbox.MEMBER, digest_id=part_id
            )
        unreadable = [a.id for a in members if _message(a) is None]
        await outbox.route_alerts(session, unreadable, outbox.POST)
        log.info("%d alerts told in one %s", len(members), kind)


def _digest(alert: QueuedAlert) -> bool:
    return alert.kind in {str(k) for k in DigestKind}
