"""Following the index's change log (opt-in, ``WATCHER_JOURNAL=true``).

The XML-RPC journal is the only gap-free stream of what happens on the index: every
``create``, release, ``remove project`` and role change has a serial. Each page of rows is
folded into one change per project, and ONE write transaction then

- updates the stored listing (``index_projects``: names, serials, removals), so the next
  whole-index reconcile does not report the same changes again;
- resolves the findings of removed projects and queues their Slack notes;
- records the matched changes as index events, for the pipeline; and
- moves the cursor past the page.

A crash repeats a page, never skips one. The index rate-limits XML-RPC: its fault -32500
backs the follower off (persisted, so a restart honours it) and leaves the cursor where
it was.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import groupby

from packaging.utils import NormalizedName

from watcher.errors import AnswerRefused, InvalidName, JournalRateLimited
from watcher.matching.live import LiveCatalog
from watcher.names import canonical
from watcher.pipeline import Observation, Recorder
from watcher.pypi import IndexClient
from watcher.pypi.journal import JournalRow
from watcher.sources import plausible
from watcher.store import Database, Session, events, findings, journal, listing
from watcher.store.base import utcnow
from watcher.store.events import NewEvent
from watcher.store.models import EventKind, EventSource

log = logging.getLogger(__name__)

PAGE_ROWS = 50_000  # the most rows the index returns per call: a full page means "ask again"
_BACKOFF_START = 60.0
# Role changes, in the words the index's journal uses ("add Owner alice",
# "remove Maintainer bob", "accepted Owner carol", "change Owner dave to Maintainer").
_ROLE_CHANGE = re.compile(r"^(add|remove|accepted|change) (Owner|Maintainer) ")
_DETAIL_MAX = 300


@dataclass
class ProjectChange:
    """What one page of rows did to one project, folded in serial order."""

    name: str  # display spelling of the newest row
    serial: int  # newest serial of the project in the page
    exists: bool = True  # False when the newest create/remove row is a removal
    created: bool = False  # a create row after the last removal
    # Role changes, not counting the first owners: the role rows right after "create".
    roles: list[str] = field(default_factory=list)
    founding: bool = False  # still in the role rows that directly follow a create row
    # A project created and removed within the page ("came and went"): when, and its
    # newest release, for the alert. Nobody may have looked at it while it was public.
    appeared_at: datetime | None = None
    gone_at: datetime | None = None
    version: str | None = None

    @property
    def came_and_went(self) -> bool:
        """Created, then removed, within this page."""
        return self.appeared_at is not None and not self.exists

    @property
    def event(self) -> EventKind:
        """The index event this change becomes, when it matches the catalog."""
        if self.created:
            return EventKind.NEW
        return EventKind.OWNER if self.roles else EventKind.CHANGED

    @property
    def detail(self) -> str | None:
        """Role changes in the index's words, clipped (they end up in a Slack message)."""
        if not self.roles:
            return None
        text = "; ".join(self.roles)
        return text if len(text) <= _DETAIL_MAX else text[: _DETAIL_MAX - 1] + "…"


def fold(
    rows: list[JournalRow], founding: Collection[str] = frozenset()
) -> dict[str, ProjectChange]:
    """One change per project (canonical name) from rows in ascending serial order.

    ``founding`` names projects whose previous page ended right after their create row
    (and first owners): role rows that open this page are still their first owners.

    Rows whose name is not a valid project name are dropped with a warning: they cannot
    match anything, and the index does not create such projects.
    """
    changes: dict[str, ProjectChange] = {}
    invalid = 0
    for row in rows:
        try:
            norm = canonical(row.name)
        except InvalidName:
            invalid += 1
            continue
        change = changes.get(norm)
        if change is None:
            change = changes[norm] = ProjectChange(
                name=row.name, serial=row.serial, founding=norm in founding
            )
        change.name, change.serial = row.name, max(change.serial, row.serial)
        change.version = row.version or change.version
        if row.action == "create":
            change.exists, change.created, change.roles, change.founding = True, True, [], True
            change.appeared_at, change.gone_at = row.timestamp, None
        elif row.action == "remove project":
            change.exists, change.created, change.roles, change.founding = False, False, [], False
            change.gone_at = row.timestamp
        elif _ROLE_CHANGE.match(row.action):
            if not change.founding:
                change.roles.append(_printable(row.action))
        else:
            change.exists, change.founding = True, False  # a release or file: it is there
    if invalid:
        log.warning("change log had %d rows with invalid project names; ignored", invalid)
    return changes


@dataclass
class JournalReport:
    """What one run of the follower did."""

    rows: int = 0
    pages: int = 0
    serial: int | None = None
    matched: int = 0
    removed: int = 0
    resolved: int = 0
    came_and_went: int = 0  # squats created and removed between two looks (alerted)
    rate_limited: bool = False
    backing_off: bool = False


class JournalSource:
    """Reads the change log from its stored cursor and records what it says as events."""

    def __init__(
        self,
        db: Database,
        client: IndexClient,
        catalog: LiveCatalog,
        recorder: Recorder,
        *,
        max_pages: int = 20,
        page_rows: int = PAGE_ROWS,
        max_backoff: float = 3600.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = db
        self._client = client
        self._catalog = catalog
        self._recorder = recorder
        self._max_pages = max_pages
        self._page_rows = page_rows
        self._max_backoff = max_backoff
        self._clock = clock
        # Backoff before any cursor exists (rate-limited asking where to start).
        self._retry_at: datetime | None = None
        self._failures = 0

    async def poll(self) -> JournalReport:
        """Read pages after the cursor (up to ``max_pages``) and process them.

        Raises :class:`IndexClientError` for failures other than the rate limit (which is
        handled here: the backoff is stored and the run ends), and
        :class:`~watcher.errors.AnswerRefused` for rows whose serial is implausible
        (after applying the rows before them; the cursor stays before the refused ones).
        """
        report = JournalReport()
        async with self._db.transaction() as session:
            state = await journal.get_cursor(session)
            bound = plausible.ceiling(await plausible.seen_serials(session), self._clock())
        refused: AnswerRefused | None = None
        retry_at = state.retry_at if state is not None else self._retry_at
        if retry_at is not None and self._clock() < retry_at:
            report.backing_off = True
            return report
        try:
            if state is None:
                cursor = await self._start_serial()
                await self._save_cursor(cursor)
            else:
                cursor = state.serial
            founding: set[str] = set()
            while report.pages < self._max_pages:
                rows = await self._client.journal_since(cursor)
                report.pages += 1
                if rows and rows[0].serial <= cursor:
                    # Always asked for "> cursor": rows at or below it mean a broken answer.
                    rows = [row for row in rows if row.serial > cursor]
                # A serial far beyond what was seen would move the cursor past every
                # true row to come: such rows are refused (see watcher.sources.plausible).
                rows, refused = await plausible.plausible_rows(self._client, rows, bound)
                if not rows:
                    await self._save_cursor(cursor)
                    break
                founding = await self._apply(rows, report, founding)
                cursor = report.serial = rows[-1].serial
                report.rows += len(rows)
                if len(rows) < self._page_rows or refused is not None:
                    break
        except JournalRateLimited as exc:
            # Pages applied before the fault stay applied; their events are processed below.
            report.rate_limited = True
            await self._back_off(exc)
        if report.rows:
            log.info(
                "change log: %d rows up to serial %s, %d matched, %d removed",
                report.rows,
                report.serial,
                report.matched,
                report.removed,
            )
        if refused is not None:
            raise refused  # after the true rows before it were applied
        return report

    async def _start_serial(self) -> int:
        """Where a first run starts: the last listing applied, else the log's newest serial.

        Everything before that is covered by the whole-index reconcile.
        """
        async with self._db.transaction() as session:
            index = await listing.get_state(session)
        if index is not None and index.serial is not None:
            return index.serial
        return await self._client.journal_last_serial()

    async def _apply(
        self, rows: list[JournalRow], report: JournalReport, founding: Collection[str]
    ) -> set[str]:
        """Apply one page; return the projects it left right after their creation.

        (A run ends on a short page, at the head of the log, where the index has written
        an upload's rows together; so only page boundaries within a run split them.)
        """
        changes = fold(rows, founding)
        view = self._catalog.current
        matched = {m.public_name for m in view.matcher.match_many(list(changes))}
        now = self._clock()
        async with self._db.write() as session:
            await journal.get_cursor(session, lock=True)
            # What the stored listing already knows. A row older than that is history a
            # newer listing (or an earlier page) already applied: a log that lags behind
            # must not report a re-created project as removed, or a removed one as back.
            stored = await listing.stored_serials(
                session,
                [n for n, c in changes.items() if n in matched or not c.exists or c.roles],
            )
            fresh = {n: c for n, c in changes.items() if c.serial > stored.get(n, (-1, False))[0]}
            await _store_listing(session, fresh, now)
            gone = [n for n, c in fresh.items() if not c.exists]
            report.removed += len(gone)
            resolved = await findings.resolve_open_findings(session, gone, now)
            for public, group in groupby(resolved, key=lambda row: row[0]):
                report.resolved += await self._recorder.announce_removed(
                    session, view.catalog, list(group), fresh[public].serial, now
                )
            for norm in sorted(n for n in gone if n in matched and fresh[n].came_and_went):
                change = fresh[norm]
                first, last = (
                    t.strftime("%Y-%m-%d %H:%M:%S UTC") if t else "?"
                    for t in (change.appeared_at, change.gone_at)
                )
                observation = Observation(
                    public_name=NormalizedName(norm),
                    display_name=change.name,
                    version=change.version,
                    source=EventSource.JOURNAL,
                    matches=view.matcher.match(NormalizedName(norm)),
                    change=f"public from {first} to {last}",
                    serial=change.serial,
                )
                report.came_and_went += await self._recorder.record_came_and_went(
                    session, observation, view.catalog, now
                )
            news = [
                NewEvent(
                    normalized_name=norm,
                    name=change.name,
                    event=change.event,
                    source=EventSource.JOURNAL,
                    serial=change.serial,
                    detail=change.detail,
                )
                for norm, change in changes.items()
                if (
                    norm in matched
                    or (change.roles and view.catalog.is_allowed(NormalizedName(norm)))
                )
                and change.exists
                and _news(norm, change, fresh, stored)
            ]
            await events.add_events(session, news, now)
            report.matched += len(news)
            await journal.save_cursor(session, rows[-1].serial, now)
        return {norm for norm, change in changes.items() if change.founding}

    async def _save_cursor(self, serial: int) -> None:
        # Reads the cursor row, then writes it: a write transaction (on SQLite a deferred
        # one fails as "locked" when another connection committed in between).
        async with self._db.write() as session:
            await journal.save_cursor(session, serial, self._clock())
        self._failures, self._retry_at = 0, None

    async def _back_off(self, exc: JournalRateLimited) -> None:
        """Wait longer after each fault in a row (stored with the cursor, which stays)."""
        now = self._clock()
        async with self._db.write() as session:
            state = await journal.get_cursor(session, lock=True)
            failures = (state.failures if state is not None else self._failures) + 1
            wait = min(_BACKOFF_START * 2 ** (failures - 1), self._max_backoff)
            if exc.retry_after is not None:
                wait = min(max(wait, exc.retry_after), self._max_backoff)
            retry_at = now + timedelta(seconds=wait)
            if not await journal.save_backoff(
                session, failures=failures, retry_at=retry_at, error=str(exc), now=now
            ):
                # Refused before a cursor existed: nothing to keep but the wait.
                self._failures, self._retry_at = failures, retry_at
        log.warning(
            "change log rate-limited (%d in a row); next call in %.0f s, cursor kept at %s",
            failures,
            wait,
            state.serial if state is not None else "none yet",
        )


def _news(
    norm: str,
    change: ProjectChange,
    fresh: dict[str, ProjectChange],
    stored: dict[str, tuple[int, bool]],
) -> bool:
    """Whether a matched, existing project's change is worth an event.

    Rows newer than the stored listing are. Older ones were covered by a listing, except
    role changes: a listing cannot show who owns a project, so those still count, unless
    the project has been removed since.
    """
    if norm in fresh:
        return True
    return bool(change.roles) and not stored.get(norm, (-1, False))[1]


async def _store_listing(
    session: Session, changes: dict[str, ProjectChange], now: datetime
) -> None:
    """Bring the stored listing up to the page: one bulk upsert, newer serials only."""
    rows = [
        {
            "normalized_name": norm,
            "name": change.name,
            "last_serial": change.serial,
            "first_seen_at": now,
            "removed_at": None if change.exists else now,
        }
        for norm, change in changes.items()
    ]
    await listing.upsert_rows(session, rows)


def _printable(text: str) -> str:
    # Role changes end up in Slack: keep them to one plain line.
    return "".join(ch if ch.isprintable() else " " for ch in text)
