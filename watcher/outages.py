"""The service's own health on the alert channel: a watch source (feeds, whole-index
reconcile, change log, catalog) failing for longer than ``WATCHER_SOURCE_ALERT_AFTER`` is
alerted once, and its recovery once.

A failing source is a blind spot: squats published meanwhile are found only when it works
again. The log says so at once; the channel hears it when it has lasted. The outage is
known to this process (a restart during one starts its clock again); private indexes keep
theirs in the database (:mod:`watcher.sources.indexes`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from watcher.alerts.messages import AlertKind, AlertMessage
from watcher.health import SourceHealth
from watcher.store import Database, outbox

log = logging.getLogger(__name__)

# The dispatcher's own failures cannot be told on the channel that is failing.
WATCHED = ("feeds", "reconcile", "journal", "catalog")


class OutageAlerts:
    """Queues one alert per outage of a watch source, and one when it ends."""

    def __init__(self, db: Database, alert_after: float, *, clock: Callable[[], datetime]) -> None:
        self._db = db
        self._alert_after = alert_after
        self._clock = clock
        self._alerted: dict[str, datetime] = {}  # source -> start of the outage alerted

    async def check(self, health: SourceHealth) -> bool:
        """Look at one source after a run; True if an alert was queued."""
        if health.name not in WATCHED:
            return False
        now = self._clock()
        since = self._alerted.get(health.name)
        if health.failures == 0 and since is not None:
            change = f"failing from {since:%Y-%m-%d %H:%M} UTC until {now:%Y-%m-%d %H:%M} UTC"
            queued = await self._queue(AlertKind.SOURCE_BACK, health.name, since, change, now)
            del self._alerted[health.name]
            return queued
        if (
            health.failures
            and health.since is not None
            and since is None
            and (now - health.since).total_seconds() >= self._alert_after
        ):
            change = (
                f"failing since {health.since:%Y-%m-%d %H:%M} UTC ({health.failures} runs in a"
                f" row); squats published meanwhile are found when it works again:"
                f" {health.last_error}"
            )
            queued = await self._queue(
                AlertKind.SOURCE_DOWN, health.name, health.since, change, now
            )
            self._alerted[health.name] = health.since
            return queued
        return False

    async def _queue(
        self, kind: AlertKind, source: str, since: datetime, change: str, now: datetime
    ) -> bool:
        notice = AlertMessage(
            kind=kind,
            public_name="",
            display_name=source,
            matches=[],
            severity="high",
            project_url=None,
            source="service",
            change=change,
        )
        async with self._db.write() as session:
            queued = await outbox.enqueue_alert(
                session,
                event_key=f"{kind}:{source}:{since.isoformat()}",
                public_name="",
                payload=notice.to_payload(),
                now=now,
            )
        if queued:
            log.warning("ALERT %s", notice.text)
        return queued
