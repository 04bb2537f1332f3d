"""Draining the webhook's deliveries: claim due rows, POST, record; failures back off.

Every alert is queued for the webhook in its own transaction (:mod:`watcher.store.deliveries`).
A row is marked sent only after the receiver answered 2xx. Rows found in ``sending`` at the
first run belong to a process that died mid-request: they are sent again under the same
delivery id, which the receiver uses to drop a repeat (a webhook has no history to look in,
unlike Slack's channel). A failure pauses the queue: one failing request stands for the
receiver being down, so the rest waits instead of probing it every second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from watcher.alerts.delivery import MAX_RETRY_AFTER, DeliveryError, retry_delay
from watcher.alerts.dispatcher import DispatchReport
from watcher.alerts.webhook import DESTINATION, WebhookSender, delivery_id
from watcher.metrics import DeliveryResult, Destination, Metrics
from watcher.store import Database, deliveries
from watcher.store.base import utcnow
from watcher.store.deliveries import Delivery

log = logging.getLogger(__name__)


class WebhookDispatcher:
    """Sends the webhook's due deliveries through a :class:`WebhookSender`."""

    def __init__(
        self,
        db: Database,
        sender: WebhookSender,
        *,
        clock: Callable[[], datetime] = utcnow,
        batch: int = 50,
        retry_base: float = 5.0,
        retry_max: float = 300.0,
        metrics: Metrics | None = None,
        lease: timedelta = timedelta(0),
    ) -> None:
        self._db = db
        self._lease = lease  # as the Slack dispatcher's: in flight elsewhere until then
        self._sender = sender
        self._metrics = metrics  # each attempt's result
        self._clock = clock
        self._batch = batch
        self._retry_base = retry_base
        self._retry_max = retry_max
        self._recovered = False
        self._paused_until: datetime | None = None
        self._unattempted: list[int] = []

    async def enable(self) -> None:
        """Record the webhook as configured: alerts queued from now on are delivered to it
        (at start-up, before any source runs)."""
        async with self._db.transaction() as session:
            await deliveries.set_destinations(session, {DESTINATION}, self._clock())

    def recover_again(self) -> None:
        """Look for deliveries left in flight at the next dispatch (leadership was won)."""
        self._recovered = False

    async def dispatch(self) -> DispatchReport:
        """Send every due delivery (in batches) until none is left or one fails."""
        report = DispatchReport()
        if self._paused_until is not None and self._clock() < self._paused_until:
            return report
        if not self._recovered:
            async with self._db.transaction() as session:
                report.recovered = await deliveries.requeue_in_flight(
                    session,
                    DESTINATION,
                    claimed_before=self._clock() - self._lease if self._lease else None,
                )
                left = await deliveries.in_flight_count(session, DESTINATION)
            if report.recovered:
                log.info(
                    "%d webhook deliveries were in flight when a process stopped: sending"
                    " them again under the same delivery ids",
                    report.recovered,
                )
            self._recovered = not left  # else: looked at again once their lease ends
        while not report.failed:
            async with self._db.write() as session:
                claimed = await deliveries.claim_due(
                    session, DESTINATION, self._clock(), self._batch
                )
            if not claimed:
                break
            try:
                await self._send_batch(claimed, report)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    async with self._db.transaction() as session:
                        await deliveries.release(session, self._unattempted)
                raise
        return report

    async def _send_batch(self, claimed: list[Delivery], report: DispatchReport) -> None:
        for index, delivery in enumerate(claimed):
            self._unattempted = [d.id for d in claimed[index + 1 :]]
            try:
                await self._sender.send(delivery)
            except DeliveryError as exc:
                self._count(DeliveryResult.FAILED)
                await self._failed(delivery, exc, report)
                return
            except Exception as exc:
                # A bug or a payload that cannot be sent concerns this alert only: recorded
                # and retried with backoff, without holding the queue behind it.
                log.exception("alert %d could not be sent to the webhook", delivery.alert_id)
                self._count(DeliveryResult.ERROR)
                await self._reschedule(delivery, exc)
                continue
            async with self._db.transaction() as session:
                await deliveries.mark_sent(session, delivery.id, self._clock())
            report.sent += 1
            self._count(DeliveryResult.DELIVERED)
            log.info(
                "alert %d delivered to the webhook (%s)", delivery.alert_id, delivery_id(delivery)
            )

    def _count(self, result: DeliveryResult) -> None:
        if self._metrics is not None:
            self._metrics.delivery(Destination.WEBHOOK, result)

    async def _reschedule(self, delivery: Delivery, exc: Exception) -> float:
        delay = retry_delay(delivery.attempts, exc, base=self._retry_base, most=self._retry_max)
        async with self._db.transaction() as session:
            await deliveries.mark_failed(
                session,
                delivery.id,
                error=str(exc) or type(exc).__name__,
                retry_in=timedelta(seconds=delay),
                now=self._clock(),
            )
        return delay

    async def _failed(self, delivery: Delivery, exc: DeliveryError, report: DispatchReport) -> None:
        """The receiver failed: this one is retried later, the rest goes back untried and
        the queue pauses."""
        delay = await self._reschedule(delivery, exc)
        log.warning(
            "alert %d not delivered to the webhook (attempt %d), retry in %.1fs: %s",
            delivery.alert_id,
            delivery.attempts,
            delay,
            exc,
        )
        async with self._db.transaction() as session:
            await deliveries.release(session, self._unattempted)
        self._unattempted = []
        report.failed += 1
        self._paused_until = self._clock() + timedelta(seconds=min(delay, MAX_RETRY_AFTER))
