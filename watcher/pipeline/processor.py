"""The pipeline: claimed events -> matches, details, history, findings and the outbox.

Every source records what it saw as index events (in the transaction that moves its
cursor); :meth:`Pipeline.process_pending` claims them in batches with a lease, fetches each
project's details once, decides (a squat? ours? a stranger on our own project?), records,
and finishes the events. Feed polls, reconciles and the change log may all call it at
once: claims make sure every event is processed by one of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from itertools import groupby
from typing import TYPE_CHECKING

from packaging.utils import NormalizedName

from watcher.alerts.messages import RoleGrant
from watcher.errors import DatabaseUnavailable, IndexClientError, ProjectNotFound
from watcher.matching.live import CatalogView, LiveCatalog
from watcher.pipeline.observation import Observation
from watcher.pipeline.recorder import Recorder
from watcher.pypi import IndexClient, ProjectInfo
from watcher.store import Database, DatabaseError, events, ownership
from watcher.store.base import utcnow
from watcher.store.events import ClaimedEvent

if TYPE_CHECKING:
    from watcher.metrics import Metrics

log = logging.getLogger(__name__)

# A worker renews its claims every third of this while it works (a slow index cannot make
# it lose them); a worker that died hands its events on within this.
DEFAULT_LEASE = timedelta(seconds=15)
_BATCH = 100

# Role rows that give somebody a role ("add Owner mallory", "accepted Maintainer eve").
_ROLE_GAINED = re.compile(r"^(?:add|accepted) (Owner|Maintainer) (\S+)$")


class Pipeline:
    """Turns pending index events into history, findings and alerts."""

    def __init__(
        self,
        db: Database,
        client: IndexClient,
        catalog: LiveCatalog,
        *,
        recorder: Recorder | None = None,
        lease: timedelta = DEFAULT_LEASE,
        clock: Callable[[], datetime] = utcnow,
        metrics: Metrics | None = None,
    ) -> None:
        self._db = db
        self._client = client
        self._catalog = catalog
        self.recorder = recorder or Recorder(client.project_url, metrics=metrics)
        self._metrics = metrics  # events processed and failed, by source
        self._lease = lease
        self._clock = clock
        self._worker = uuid.uuid4().hex

    async def process_pending(self, limit: int = 500) -> int:
        """Claim and process pending events (up to ``limit``); return how many alerts they
        queued. Events other workers hold are left to them."""
        alerts = 0
        done = 0
        while done < limit:
            async with self._db.write() as session:
                claimed = await events.claim_events(
                    session, self._worker, self._clock(), self._lease, min(_BATCH, limit - done)
                )
            if not claimed:
                break
            done += len(claimed)
            view = self._catalog.current
            # One project's events together: its details are fetched once for all of them.
            by_name = sorted(claimed, key=lambda e: (e.normalized_name, e.id))
            groups = [list(g) for _, g in groupby(by_name, key=lambda e: e.normalized_name)]
            held = {e.id for e in claimed}
            heartbeat = asyncio.create_task(self._keep(held))
            try:
                for index, group in enumerate(groups):
                    try:
                        alerts += await self._process(view, group)
                    except (DatabaseError, DatabaseUnavailable):
                        # The database's failure, not the project's: no attempt counted (a
                        # long outage must not dead-letter real squats). This run ends; what
                        # it holds goes back to the queue for the next one.
                        with contextlib.suppress(DatabaseError, DatabaseUnavailable):
                            await self._release([e.id for g in groups[index:] for e in g])
                        raise
                    except Exception as exc:
                        # One bad project must not hold up the others: the rest go on, and
                        # its events are retried with backoff, then dead-lettered.
                        await self._failed(group, exc)
                        if self._metrics is not None:
                            self._metrics.events_failed(e.source for e in group)
                    except BaseException:
                        # Cancelled (shutting down): hand the rest back at once rather
                        # than when the lease runs out.
                        await self._release([e.id for g in groups[index:] for e in g])
                        raise
                    else:
                        if self._metrics is not None:
                            self._metrics.events_processed(e.source for e in group)
                    held.difference_update(e.id for e in group)
            finally:
                heartbeat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await heartbeat
        return alerts

    async def release_stale_claims(self) -> int:
        """Release every claim; only for a database no other process can use (SQLite),
        at start-up, where claims left behind belong to a process that died."""
        async with self._db.write() as session:
            return await events.release_all(session)

    async def _keep(self, held: set[int]) -> None:
        """Renew the lease on the events still held until cancelled."""
        while True:
            await asyncio.sleep(self._lease.total_seconds() / 3)
            try:
                async with self._db.write() as session:
                    await events.extend_leases(
                        session, list(held), self._worker, self._clock() + self._lease
                    )
            except Exception as exc:  # the database hiccuped: the next beat tries again
                log.warning("could not renew the claims on %d index events: %s", len(held), exc)

    async def _failed(self, group: list[ClaimedEvent], exc: Exception) -> None:
        """Count a failed attempt on a project's events (retried with backoff; after too
        many, dead-lettered). If even that cannot be written (the database is down), the
        events are taken again once their lease runs out."""
        name = group[0].normalized_name
        attempt = max(e.attempts for e in group) + 1
        # The traceback once per project, not once per retry.
        log.error(
            "events of %s not processed (attempt %d of %d): %s",
            name,
            attempt,
            events.MAX_ATTEMPTS,
            exc,
            exc_info=attempt == 1,
        )
        error = f"{type(exc).__name__}: {exc}"
        try:
            async with self._db.write() as session:
                dead = await events.fail_events(
                    session, [e.id for e in group], self._worker, error, self._clock()
                )
        except Exception as write_error:
            log.warning(
                "could not record the failure of %s's events (retried after %s): %s",
                name,
                self._lease,
                write_error,
            )
            return
        if dead:
            log.error(
                "gave up on %d events of %s after %d attempts (dead-lettered; see the status): %s",
                len(dead),
                name,
                events.MAX_ATTEMPTS,
                error,
            )
        else:
            log.info("events of %s retried in %s", name, events.retry_delay(attempt))

    async def _release(self, ids: list[int]) -> None:
        async with self._db.transaction() as session:
            await events.release_events(session, ids, self._worker)

    async def _process(self, view: CatalogView, group: list[ClaimedEvent]) -> int:
        norm = NormalizedName(group[0].normalized_name)
        matches = view.matcher.match(norm)
        info: ProjectInfo | None = None
        # Is the public project one of ours? Allowlisted, or owned by our owners.
        ours = view.catalog.is_allowed(norm)
        if matches:
            info = await self.details(norm)
            ours = info is not None and view.catalog.owned_by_us(
                set(info.owners), info.organization
            )
            if ours:
                log.info("%s matches the catalog but is owned by us; not alerted", norm)
        # Every release the group's feed items announced is stored with the first
        # observation (as the JSON details' releases would be): a new project seen by
        # both feeds at once is one message, not "new" then "new release" of one release.
        announced = tuple((e.version, e.published_at) for e in group if e.version)
        alerts = 0
        async with self._db.write() as session:
            now = self._clock()
            if matches and ours:
                assert info is not None
                await self.recorder.record_ours(session, info, now)
            elif matches:
                # Recorded as ours before: still ours when none of our owners is left in
                # its roles (that is a takeover, alerted as one), never a squat.
                ours = await ownership.is_ours(session, norm)
            for event in group:
                if matches and not ours:
                    observation = Observation(
                        announced=announced,
                        public_name=norm,
                        display_name=event.name,
                        version=event.version,
                        source=event.source,
                        matches=matches,
                        info=info,
                        published=event.published_at,
                        feed_author=event.author,
                        change=event.detail,
                        serial=event.serial,
                    )
                    alerts += await self.recorder.record(session, view.catalog, observation, now)
                grants = strangers(event.detail, view.catalog.owners) if ours else []
                if grants:
                    assert event.detail is not None
                    alerts += await self.recorder.record_role_change(
                        session,
                        norm,
                        event.name,
                        grants,
                        change=event.detail,
                        source=event.source,
                        now=now,
                        owners=info.owners if info else (),
                        organization=info.organization if info else None,
                    )
            await events.finish_events(session, [e.id for e in group], self._worker)
        return alerts

    async def details(self, name: NormalizedName) -> ProjectInfo | None:
        """JSON-API details of a public project, or ``None`` when they cannot be had.

        The alert matters more than its details: without them, what the source said is
        recorded.
        """
        try:
            return await self._client.project(name)
        except ProjectNotFound:
            log.info("no JSON details for %s (no visible release yet)", name)
        except IndexClientError as exc:
            log.warning("details of %s unavailable: %s", name, exc)
        return None


def strangers(detail: str | None, owners: frozenset[str]) -> list[RoleGrant]:
    """Each role given to a user who is not one of ``owners``, in a change-log detail."""
    found = []
    for action in (detail or "").split("; "):
        gained = _ROLE_GAINED.match(action)
        if gained and gained[2].lower() not in owners:
            found.append(RoleGrant(role=gained[1], user=gained[2]))
    return found
