"""Draining the alert outbox: claim due rows, send, record; failures back off and retry.

Delivery is at-least-once by construction (a row is only marked sent after Slack accepted
it) and made effectively exactly-once by recovery: rows found in ``sending`` at start-up
belong to a process that died mid-post, and are looked up in the channel history by the
alert id carried in the message metadata before being sent again. A retry is looked up the
same way, since a failed attempt (a timeout after Slack accepted the post) may have landed;
that is why the sender itself never retries a post. A rate limit pauses the whole queue for
as long as Slack asks, capped at :data:`~watcher.alerts.slack.MAX_RETRY_AFTER`.

Each run first routes what was queued (:mod:`watcher.alerts.planner`: baseline summary,
digests, threads, the daily digest), then sends, never faster than one message per
``pace`` seconds whatever the backlog: a channel flooded is a channel muted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from watcher.alerts.delivery import retry_delay
from watcher.alerts.digests import Digest, is_digest
from watcher.alerts.messages import AlertMessage
from watcher.alerts.planner import Planner, Routing
from watcher.alerts.slack import MAX_RETRY_AFTER, AlertSender, DeliveryError, RateLimited
from watcher.alerts.terminal import TerminalSender
from watcher.metrics import DeliveryResult, Destination, Metrics
from watcher.store import Database, outbox
from watcher.store.base import utcnow
from watcher.store.outbox import QueuedAlert

log = logging.getLogger(__name__)

# How far before a row's claim time to search the channel history for it (clock skew).
_HISTORY_SLACK = timedelta(minutes=2)


@dataclass
class DispatchReport:
    """What one dispatch run did."""

    sent: int = 0
    failed: int = 0
    recovered: int = 0
    digests: int = 0  # digests (and the baseline summary) queued by this run's routing


def message_of(alert: QueuedAlert) -> AlertMessage | Digest:
    """What an outbox row says: one alert, or a digest of many."""
    if is_digest(alert.payload):
        return Digest.from_payload(alert.payload)
    return AlertMessage.from_payload(alert.payload)


class Dispatcher:
    """Sends outbox rows through an :class:`AlertSender`; no sender means alerts stay queued."""

    def __init__(
        self,
        db: Database,
        sender: AlertSender | None,
        *,
        clock: Callable[[], datetime] = utcnow,
        batch: int = 20,
        retry_base: float = 5.0,
        retry_max: float = 300.0,
        routing: Routing | None = None,
        metrics: Metrics | None = None,
        lease: timedelta = timedelta(0),
    ) -> None:
        self._db = db
        # Rows another process left in 'sending' are only looked up once claimed this long
        # ago: a leader that just lost its lock may still be finishing one (see
        # watcher.leader); a replica alone (SQLite) looks at once.
        self._lease = lease
        self._routing = routing or Routing()
        self._planner = Planner(self._routing)
        # When the last post ended (the event loop's clock): the next waits for the pace.
        self._last_post: float | None = None
        self._sender = sender
        self._metrics = metrics  # each attempt's result, to Slack (or the demo's terminal)
        self._destination = (
            Destination.TERMINAL if isinstance(sender, TerminalSender) else Destination.SLACK
        )
        self._clock = clock
        self._batch = batch
        self._retry_base = retry_base
        self._retry_max = retry_max
        self._recovered = False
        self._unattempted: list[int] = []  # claimed in this batch, not tried yet
        # After a failure nothing is sent until this time: one failing alert stands for
        # Slack being down, so the rest of the queue waits instead of probing every second.
        self._paused_until: datetime | None = None

    async def recover(self) -> int:
        """Settle rows left in ``sending`` by a dead process; return how many were found sent."""
        if self._sender is None:
            return 0
        async with self._db.transaction() as session:
            in_flight = await outbox.in_flight_alerts(session)
        stuck = in_flight
        if self._lease:
            expired = self._clock() - self._lease
            stuck = [a for a in in_flight if (a.claimed_at or a.created_at) <= expired]
        if not stuck:
            self._recovered = not in_flight  # else: looked at again once their lease ends
            return 0
        since = min(a.claimed_at or a.created_at for a in stuck) - _HISTORY_SLACK
        try:
            found: dict[int, str] = {}
            # Replies are not in the channel's history, only in their thread's.
            for thread in sorted({a.thread_ts or "" for a in stuck}):
                ids = [a.id for a in stuck if (a.thread_ts or "") == thread]
                found |= await self._sender.find_sent(ids, since, thread_ts=thread or None)
        except RateLimited as exc:
            # Told to wait: the rows stay in 'sending' and recovery is tried after the pause.
            self._pause(exc.retry_after if exc.retry_after is not None else self._retry_base)
            log.warning("cannot check %d in-flight alerts against Slack yet (%s)", len(stuck), exc)
            return 0
        except DeliveryError as exc:
            # Without the history we cannot tell; sending again risks a duplicate, never a loss.
            log.warning(
                "cannot check %d in-flight alerts against Slack (%s); resending", len(stuck), exc
            )
            found = {}
        now = self._clock()
        async with self._db.transaction() as session:
            for alert in stuck:
                if alert.id in found:
                    await outbox.mark_alert_sent(
                        session,
                        alert.id,
                        slack_ts=found[alert.id],
                        now=now,
                        thread_ts=alert.thread_ts,
                    )
                else:
                    await outbox.mark_alert_failed(
                        session,
                        alert.id,
                        error="interrupted while sending",
                        retry_in=timedelta(0),
                        now=now,
                    )
        self._recovered = len(stuck) == len(in_flight)
        for _ in found:
            self._count(DeliveryResult.ALREADY_DELIVERED)
        log.info("recovered %d in-flight alerts: %d had reached Slack", len(stuck), len(found))
        return len(found)

    def recover_again(self) -> None:
        """Look for alerts left in flight at the next dispatch (leadership was won: the
        previous leader may have left some)."""
        self._recovered = False

    async def _found_in_history(self, alert: QueuedAlert) -> bool:
        """Whether an earlier, failed attempt reached Slack anyway; if so, record it as sent.

        A timeout after Slack accepted the post looks like any other failure: look before
        posting again, so the retry does not duplicate the message.
        """
        assert self._sender is not None
        try:
            found = await self._sender.find_sent(
                [alert.id], alert.created_at - _HISTORY_SLACK, thread_ts=alert.thread_ts
            )
        except RateLimited:
            raise  # a rate limit is waited out like a failed post, not answered with one
        except DeliveryError as exc:
            log.warning("cannot check alert %d against Slack (%s); resending", alert.id, exc)
            return False
        if alert.id not in found:
            return False
        async with self._db.transaction() as session:
            await outbox.mark_alert_sent(
                session,
                alert.id,
                slack_ts=found[alert.id],
                now=self._clock(),
                thread_ts=alert.thread_ts,
            )
        log.info("alert %d for %s had reached Slack already", alert.id, alert.public_name)
        return True

    async def _send(self, alert: QueuedAlert) -> str:
        """Post one row, at the pace: a reply in its thread, a critical top-level message
        with the configured mention."""
        assert self._sender is not None
        message = message_of(alert)
        mention = None
        if alert.thread_ts is None and alert.risk == "critical":
            mention = self._routing.critical_mention
        loop = asyncio.get_running_loop()
        if self._last_post is not None:
            wait = self._last_post + self._routing.pace - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
        try:
            return await self._sender.send(
                alert.id, message, thread_ts=alert.thread_ts, mention=mention
            )
        finally:
            # From the end of the request: Slack received it before that, so two messages
            # arrive at least ``pace`` apart however long each request took.
            self._last_post = loop.time()

    def _pause(self, seconds: float) -> None:
        self._paused_until = self._clock() + timedelta(seconds=min(seconds, MAX_RETRY_AFTER))

    def _delay(self, alert: QueuedAlert, exc: Exception) -> float:
        """How long ``alert`` waits after ``exc``: Slack's Retry-After (capped) on a rate
        limit, else the doubling backoff."""
        return retry_delay(alert.attempts, exc, base=self._retry_base, most=self._retry_max)

    async def _reschedule(self, alert: QueuedAlert, exc: Exception, delay: float) -> None:
        log.warning(
            "alert %d for %s not delivered (attempt %d), retry in %.1fs: %s",
            alert.id,
            alert.public_name,
            alert.attempts,
            delay,
            exc,
        )
        async with self._db.transaction() as session:
            await outbox.mark_alert_failed(
                session,
                alert.id,
                error=str(exc) or type(exc).__name__,
                retry_in=timedelta(seconds=delay),
                now=self._clock(),
            )

    async def dispatch(self) -> DispatchReport:
        """Send every due alert (in batches); failures are rescheduled with backoff."""
        report = DispatchReport()
        if self._sender is None:
            # Routed all the same (the baseline closes, digests are decided), sent never.
            async with self._db.write() as session:
                report.digests = (await self._planner.plan(session, self._clock())).digests
            return report
        if self._paused_until is not None and self._clock() < self._paused_until:
            return report
        if not self._recovered:
            report.recovered = await self.recover()
            if self._paused_until is not None and self._clock() < self._paused_until:
                return report  # rate limited while looking: paused
        async with self._db.write() as session:
            report.digests = (await self._planner.plan(session, self._clock())).digests
        while True:
            async with self._db.write() as session:
                claimed = await outbox.claim_due_alerts(session, self._clock(), self._batch)
            if not claimed:
                return report
            try:
                await self._send_batch(claimed, report)
            except asyncio.CancelledError:
                # Shutting down: the alerts not attempted go back at once (the one in flight
                # stays 'sending', for recovery to look up).
                with contextlib.suppress(Exception):
                    async with self._db.transaction() as session:
                        await outbox.release_alerts(session, self._unattempted)
                raise
            if report.failed:
                return report

    async def _send_batch(self, claimed: list[QueuedAlert], report: DispatchReport) -> None:
        assert self._sender is not None
        for index, alert in enumerate(claimed):
            self._unattempted = [a.id for a in claimed[index + 1 :]]
            if report.failed:
                # Don't hammer a failing Slack within one run: hand the rest back.
                async with self._db.transaction() as session:
                    await outbox.release_alerts(session, [a.id for a in claimed[index:]])
                return
            try:
                if alert.attempts > 1 and await self._found_in_history(alert):
                    report.recovered += 1
                    self._count(DeliveryResult.ALREADY_DELIVERED)
                    continue
                ts = await self._send(alert)
            except Exception as exc:
                delay = self._delay(alert, exc)
                await self._reschedule(alert, exc, delay)
                if isinstance(exc, DeliveryError):
                    # Slack (or the way to it) is failing: pause the whole queue.
                    report.failed += 1
                    self._count(DeliveryResult.FAILED)
                    self._pause(delay)
                else:
                    # A bug or a bad payload concerns this alert only: record it and go
                    # on, rather than strand the batch or stall the queue behind it.
                    log.exception("alert %d could not be sent", alert.id)
                    self._count(DeliveryResult.ERROR)
                continue
            async with self._db.transaction() as session:
                await outbox.mark_alert_sent(
                    session, alert.id, slack_ts=ts, now=self._clock(), thread_ts=alert.thread_ts
                )
            report.sent += 1
            self._count(DeliveryResult.DELIVERED)
            log.info("alert %d for %s delivered", alert.id, alert.public_name or alert.kind)

    def _count(self, result: DeliveryResult) -> None:
        if self._metrics is not None:
            self._metrics.delivery(self._destination, result)
