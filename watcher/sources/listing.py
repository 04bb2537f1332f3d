"""The whole simple index: the complete answer the feeds' small windows cannot give.

One write transaction loads the listing, matches every new or changed name (in bulk),
resolves the findings of removed names, records the matched ones as events and advances
the stored listing and its serial. A crash anywhere leaves either the old listing or the
new one with its events.

A listing is believed only when it is complete and plausible (see
:mod:`watcher.sources.plausible`): its serial within what other sources have shown, or
confirmed by another answer, and no more new names than the index can have gained. A
watched name it no longer lists is removed only once a second look confirms it: the
index's own page of that project answers 404; anything else keeps it. After a feed gap
(:meth:`ListingSource.expect_newer`) the index has changed, so a listing that has not
(a cached copy) is refused as not refreshed, to be retried soon, not applied as "nothing
new".
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from watcher.errors import AnswerRefused, IndexClientError, ListingNotRefreshed, StaleIndex
from watcher.matching.live import CatalogView, LiveCatalog
from watcher.pipeline import Recorder
from watcher.pypi import IndexClient, IndexListing
from watcher.sources import plausible
from watcher.store import Database, Session, events, findings, listing, outbox
from watcher.store.base import utcnow
from watcher.store.events import NewEvent
from watcher.store.listing import ListingState
from watcher.store.models import EventKind, EventSource

log = logging.getLogger(__name__)


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


SECOND_LOOKS = 50
"""Vanished watched names looked up per reconcile; the rest are kept until a later one."""
SECOND_LOOK_SECONDS = 10.0
"""How long those look-ups may take; names without an answer by then are kept."""

GAP_PATIENCE = timedelta(minutes=45)
"""How long after a feed gap an unchanged listing is refused (the index caches it ~30 min)."""

NOT_REFRESHED_RETRY = 120.0
"""Seconds before a reconcile refused as not refreshed is tried again."""


class ListingSource:
    """Reconciles the stored listing with the index's whole project list."""

    def __init__(
        self,
        db: Database,
        client: IndexClient,
        catalog: LiveCatalog,
        recorder: Recorder,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = db
        self._client = client
        self._catalog = catalog
        self._recorder = recorder
        self._clock = clock
        self._url = f"{client.base_url}/simple/"
        # Until when a listing no newer than the stored one is refused (after a feed gap).
        self._newer_due: datetime | None = None

    def expect_newer(self) -> None:
        """The feeds lost changes (a gap): until a newer listing is applied (or
        :data:`GAP_PATIENCE` has passed), an unchanged one is refused as not refreshed."""
        if self._newer_due is None:
            self._newer_due = self._clock() + GAP_PATIENCE

    async def reconcile(self) -> ReconcileReport:
        """Fetch the whole simple index, store it, record what is new or changed and matches.

        Raises :class:`~watcher.errors.WatcherError` when the index cannot be read or the
        listing is stale, not refreshed after a feed gap (:class:`ListingNotRefreshed`) or
        refused (:class:`~watcher.errors.AnswerRefused`); then nothing is stored.
        """
        report = ReconcileReport()
        async with self._db.transaction() as session:
            state = await listing.get_state(session)
            seen = await plausible.seen_serials(session)
        known_serial = state.serial if state else None
        try:
            fetched = await self._client.fetch_index(
                etag=state.etag if state else None, min_serial=known_serial
            )
        except StaleIndex:
            self._unchanged(known_serial)
            raise
        now = self._clock()
        if fetched is None or (fetched.serial is not None and fetched.serial == known_serial):
            # 304, or the same global serial: every change to the index moves the serial.
            self._unchanged(known_serial)
            report.not_modified = True
            return report
        await self._check_serial(fetched, seen, now)
        view = self._catalog.current
        matched: list[NewEvent] = []
        async with self._db.write() as session:
            await listing.lock_state(session)
            count = await listing.load_snapshot(
                session, fetched.names, fetched.serials, serial=fetched.serial
            )
            self._check_growth(state, fetched, await listing.count_new(session), now)
            async for batch in listing.new_or_changed(session):
                hits = {m.public_name for m in view.matcher.match_many([b[0] for b in batch])}
                matched += [
                    NewEvent(
                        normalized_name=norm,
                        name=name,
                        event=EventKind(event),
                        source=EventSource.INDEX,
                        serial=serial,
                    )
                    for norm, name, serial, event in batch
                    if norm in hits
                ]
            await self._second_look(session, view)
            gone = await listing.gone_names(session)
            removed = await findings.resolve_open_findings(session, gone, now)
            stamp = fetched.serial if fetched.serial is not None else now.isoformat()
            report.resolved = await self._recorder.announce_removed(
                session, view.catalog, removed, stamp, now
            )
            diff = await listing.apply_snapshot(session, now)
            await events.add_events(session, matched, now)
            if state is None:
                # The first listing ever applied: what it matched already existed before
                # we looked; its squats are told in one summary, not one message each.
                await outbox.open_baseline(session, now)
            await listing.save_state(
                session,
                serial=fetched.serial,
                etag=fetched.etag,
                projects=diff.stored + diff.new - diff.removed,
                now=now,
            )
        self._newer_due = None
        report.projects = count
        report.new, report.changed, report.removed = diff.new, diff.changed, diff.removed
        report.matched = len(matched)
        log.info(
            "reconciled %d projects (serial %s): %d new, %d changed, %d removed, %d matched",
            report.projects,
            fetched.serial,
            diff.new,
            diff.changed,
            diff.removed,
            report.matched,
        )
        return report

    def _unchanged(self, serial: int | None) -> None:
        """The index answered the listing already applied (or an older one): after a feed
        gap, that is a cached copy, refused until :data:`GAP_PATIENCE` has passed."""
        if self._newer_due is None:
            return
        if self._clock() < self._newer_due:
            raise ListingNotRefreshed(self._url, serial, NOT_REFRESHED_RETRY)
        self._newer_due = None
        log.warning(
            "the index's listing at %s is still the one applied (serial %s) %d minutes after "
            "a feed gap; what the feeds lost is left to the scheduled reconciles",
            self._url,
            serial,
            GAP_PATIENCE.total_seconds() // 60,
        )

    async def _check_serial(
        self, fetched: IndexListing, seen: list[plausible.Seen], now: datetime
    ) -> None:
        """Refuse a listing whose serial is beyond what the other sources have shown and is
        not confirmed by the JSON API of its newest projects (see :mod:`.plausible`)."""
        if fetched.serial is None:
            return
        bound = plausible.ceiling(seen, now)
        if bound is not None and fetched.serial <= bound.serial:
            return
        other = await self._newest_serial(fetched)
        if other is not None and plausible.confirms(fetched.serial, other):
            if bound is not None:
                log.info(
                    "listing serial %d is beyond the usual bound (%s) but its newest "
                    "project confirms it (serial %d)",
                    fetched.serial,
                    bound.describe(),
                    other,
                )
            return
        if bound is None and other is None:
            return  # the first listing, and nothing to compare it with
        reasons = []
        if bound is not None:
            reasons.append(f"beyond {bound.serial} ({bound.describe()})")
        reasons.append(
            "not confirmed by its newest projects"
            if other is None
            else f"its newest project's JSON says serial {other}"
        )
        raise AnswerRefused(
            self._url, f"listing claims serial {fetched.serial}: {'; '.join(reasons)}"
        )

    async def _newest_serial(self, fetched: IndexListing) -> int | None:
        """The serial the JSON API gives for one of the listing's newest projects."""
        serials = fetched.serials
        newest = heapq.nlargest(3, range(len(serials)), key=lambda i: serials[i] or -1)
        for index in newest:
            if serials[index] is None:
                break
            try:
                info = await self._client.project(fetched.names[index].decode())
            except IndexClientError:
                continue  # no release (JSON 404), or no answer: try the next one
            if info.last_serial is not None:
                return info.last_serial
        return None

    def _check_growth(
        self, state: ListingState | None, fetched: IndexListing, new: int, now: datetime
    ) -> None:
        """Refuse a listing adding more names than the index can have gained since the last."""
        if state is None or state.reconciled_at is None:
            return  # the first listing: everything is new
        growth = (
            fetched.serial - state.serial
            if fetched.serial is not None and state.serial is not None
            else None
        )
        allowed = plausible.new_names_allowed(
            state.projects,
            serial_growth=growth,
            elapsed=(now - state.reconciled_at).total_seconds(),
        )
        if allowed is not None and new > allowed:
            raise AnswerRefused(
                self._url,
                f"listing adds {new} names to the {state.projects} stored; the index cannot "
                f"have gained more than {allowed} since the last listing",
            )

    async def _second_look(self, session: Session, view: CatalogView) -> None:
        """Keep the watched names the listing lacks unless the index confirms them gone.

        A name a listing leaves out is only removed from the index when its own page
        answers 404; a page that answers (or no answer) keeps it, so a listing missing a
        name never announces a live squat as removed.
        """
        gone = await listing.gone_names(session)
        if not gone:
            return
        suspects: set[str] = {m.public_name for m in view.matcher.match_many(gone)}
        suspects.update(await listing.gone_with_findings(session))
        if not suspects:
            return
        # In the reconcile's write transaction (the names gone are known only against the
        # snapshot staged there), so the look is bounded: on SQLite every other writer
        # waits for it. A sample, so that names that keep answering cannot hide the rest.
        looked = random.sample(sorted(suspects), min(len(suspects), SECOND_LOOKS))
        limit = asyncio.Semaphore(4)
        answers: dict[str, bool] = {}

        async def look(name: str) -> None:
            async with limit:
                with contextlib.suppress(IndexClientError):  # no answer: kept
                    answers[name] = await self._client.exists(name)

        with contextlib.suppress(TimeoutError):  # not looked at in time: kept
            async with asyncio.timeout(SECOND_LOOK_SECONDS):
                await asyncio.gather(*(look(name) for name in looked))
        kept = sorted(n for n in suspects if answers.get(n, True))
        if kept:
            log.warning(
                "the listing lacks %d watched names the index did not confirm removed; kept: %s",
                len(kept),
                ", ".join(kept[:20]) + (" ..." if len(kept) > 20 else ""),
            )
            await listing.keep(session, kept)
