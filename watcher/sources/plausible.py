"""How far the index may plausibly have moved since we last looked: the rule that keeps one
bad answer from disabling a source for ever.

Every change on the index takes a serial, and serials only grow. A source stores the
newest serial it applied (the listing's, the change log's cursor) and refuses anything
older, so ONE answer claiming a serial far in the future (10**12) would, once stored, make
every true answer after it look stale. So a serial is stored only when it is plausible:

- **Rate bound.** From each serial another source has shown (the last listing applied,
  the change-log cursor) with the time it was stored, the index can have reached at most
  ``serial + MAX_SERIAL_RATE * elapsed seconds + SERIAL_MARGIN`` by now. The index
  averages well under ten serials a second; the rate allows ten times its busiest hours,
  and the margin covers bursts, the listing's half-hour cache and clock skew, yet stays
  far below a bogus serial.
- **Second opinion.** A serial beyond that bound (or the first one ever, with nothing to
  compare it with) is checked against another answer: a listing's against the JSON API
  of its newest projects (their ``last_serial``, the ``X-PyPI-Last-Serial`` header's
  value), the change log's against ``changelog_last_serial``. Beyond the bound, only a
  confirming answer lets it through; a first serial is refused only when contradicted.
- **Growth bound.** A new project takes at least one serial, so a listing may add at most
  as many names as its serial moved on since the last listing (without serials: the rate
  times the time elapsed), plus a margin for names an earlier listing dropped and this
  one has again. A listing of millions of unknown names is refused before it is stored.

A refused answer raises :class:`~watcher.errors.AnswerRefused`: nothing is stored,
the job logs it (WARNING) and ``/healthz`` shows the source failing at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from watcher.errors import AnswerRefused, IndexClientError
from watcher.pypi import IndexClient
from watcher.pypi.journal import JournalRow
from watcher.store import Session, journal, listing

MAX_SERIAL_RATE = 100.0
"""Serials a second the index could write, sustained (it averages well under ten)."""

SERIAL_MARGIN = 1_000_000
"""Serials allowed beyond the rate bound: bursts, a cached listing, clock skew."""

NEW_NAMES_MARGIN = 1_000
"""New names a listing may add beyond its serial growth (names an earlier one dropped)..."""

NEW_NAMES_SHARE = 0.05
"""...or this share of the stored listing, whichever is more (the removal guard's share)."""


@dataclass(frozen=True)
class Seen:
    """A serial a source stored, when, and what it was (for the log)."""

    serial: int
    at: datetime
    what: str


@dataclass(frozen=True)
class Ceiling:
    """The highest serial the index can plausibly have reached now, and from what."""

    serial: int
    seen: Seen

    def describe(self) -> str:
        """Where the bound comes from, for an error message."""
        return f"{self.seen.what} was {self.seen.serial} at {self.seen.at:%Y-%m-%d %H:%M:%S}"


async def seen_serials(session: Session) -> list[Seen]:
    """The serials the listing and the change log stored, with when they stored them."""
    seen: list[Seen] = []
    state = await listing.get_state(session)
    if state is not None and state.serial is not None and state.reconciled_at is not None:
        seen.append(Seen(state.serial, state.reconciled_at, "the last listing's serial"))
    cursor = await journal.get_cursor(session)
    if cursor is not None:
        seen.append(Seen(cursor.serial, cursor.updated_at, "the change-log cursor"))
    return seen


def ceiling(seen: Iterable[Seen], now: datetime) -> Ceiling | None:
    """The rate bound over every serial seen; ``None`` when nothing was seen yet."""
    best: Ceiling | None = None
    for item in seen:
        elapsed = max(0.0, (now - item.at).total_seconds())
        bound = item.serial + int(MAX_SERIAL_RATE * elapsed) + SERIAL_MARGIN
        if best is None or bound > best.serial:
            best = Ceiling(bound, item)
    return best


def confirms(serial: int, other: int) -> bool:
    """Whether a serial another answer gave makes ``serial`` plausible (caches lag)."""
    return serial <= other + SERIAL_MARGIN


def new_names_allowed(
    stored: int, *, serial_growth: int | None, elapsed: float | None
) -> int | None:
    """How many new names a listing may add to a stored listing of ``stored`` names;
    ``None`` when there is no bound (no serials and no time to go by)."""
    margin = max(NEW_NAMES_MARGIN, int(stored * NEW_NAMES_SHARE))
    if serial_growth is not None:
        return max(serial_growth, 0) + margin
    if elapsed is not None:
        return int(MAX_SERIAL_RATE * max(elapsed, 0.0)) + margin
    return None


async def plausible_rows(
    client: IndexClient, rows: list[JournalRow], bound: Ceiling | None
) -> tuple[list[JournalRow], AnswerRefused | None]:
    """Split change-log rows (ascending) into those to apply and the error for the rest.

    Rows beyond ``bound`` are checked against the log's own newest serial
    (``changelog_last_serial``, asked once): rows up to it are confirmed, rows beyond it
    are refused. A bogus serial sorts last, so the true rows before it are still applied
    and the cursor never jumps past what the index really wrote.
    """
    if not rows or bound is None or rows[-1].serial <= bound.serial:
        return rows, None
    try:
        head: int | None = await client.journal_last_serial()
    except IndexClientError:
        head = None  # no second opinion: only the rate bound counts
    limit = bound.serial if head is None else max(bound.serial, head)
    kept = [row for row in rows if row.serial <= limit]
    if len(kept) == len(rows):
        return rows, None
    first = rows[len(kept)]
    return kept, AnswerRefused(
        f"{client.base_url}/pypi",
        f"change log row {first.action!r} of {first.name[:60]!r} claims serial "
        f"{first.serial}: beyond {bound.serial} ({bound.describe()}) and the log's newest "
        f"serial ({head if head is not None else 'unknown'}); {len(rows) - len(kept)} rows "
        "refused, the cursor stays before them",
    )
