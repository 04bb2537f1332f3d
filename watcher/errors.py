"""Errors that cross module boundaries. Each carries its data and builds its own message."""

from __future__ import annotations


class WatcherError(Exception):
    """Base class of every error the watcher raises on purpose."""


class ConfigError(WatcherError):
    """A setting is missing or invalid; the process exits 2 with this one-line message."""


class NotAnIndex(ConfigError):
    """The index base URL answers, but not as a package index: a wrong setting, not an outage.

    ``answer`` says what answered instead; ``parent`` is the likely right base URL when the
    configured one looks like a path inside an index (``.../simple``, ``.../pypi``).
    """

    def __init__(
        self,
        url: str,
        answer: str,
        *,
        parent: str | None = None,
        looks_like: str | None = None,
        lead: str | None = None,
    ) -> None:
        self.url = url
        self.answer = answer
        self.parent = parent
        message = f"{lead or f'no package index answers at {url}'}: {answer}"
        if parent is not None:
            message += (
                f"; this looks like {looks_like or 'a page of an index'}; use its parent {parent}"
            )
        super().__init__(message)


class CatalogError(WatcherError):
    """The internal catalog file cannot be used."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"catalog {path}: " + "; ".join(problems))


class InvalidName(WatcherError, ValueError):
    """A string is not a valid Python project name."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        shown = name if len(name) <= 60 else name[:57] + "..."
        super().__init__(f"invalid project name {shown!r}: {reason}")


class IndexClientError(WatcherError):
    """The package index could not give a usable answer."""


class IndexUnavailable(IndexClientError):
    """The index kept failing (5xx, connection errors, timeouts) after our retries."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"index unavailable for {url}: {reason}")


class ResponseTooLarge(IndexClientError):
    """A response body exceeded the configured cap; it was not read further."""

    def __init__(self, url: str, limit: int) -> None:
        self.url = url
        self.limit = limit
        super().__init__(f"response from {url} exceeds {limit} bytes; discarded")


class FeedError(IndexClientError):
    """An RSS feed body was not acceptable XML (malformed, truncated, DTD or entities)."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"feed {url} rejected: {reason}")


class FeedsFailed(IndexClientError):
    """Every feed failed in one poll; ``errors`` holds each feed's error by feed name."""

    def __init__(self, errors: dict[str, IndexClientError]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{feed} feed: {exc}" for feed, exc in errors.items()))

    @property
    def unavailable(self) -> bool:
        """True when every feed failed because the index could not be reached."""
        return all(isinstance(exc, IndexUnavailable) for exc in self.errors.values())


class BadResponse(IndexClientError):
    """The index answered something we cannot interpret (bad JSON, unexpected status)."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"unusable answer from {url}: {reason}")


class ProjectNotFound(IndexClientError):
    """The index answered 404 for a project."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"project {name!r} not found")


class StaleIndex(IndexClientError):
    """The index answered with a serial older than one we already applied (a stale cache)."""

    def __init__(self, url: str, serial: int, expected: int) -> None:
        self.url = url
        self.serial = serial
        self.expected = expected
        super().__init__(f"index at {url} is stale: serial {serial} < {expected} already seen")


class JournalRateLimited(IndexClientError):
    """The index refused an XML-RPC journal call with its rate-limit fault (-32500)."""

    def __init__(self, url: str, message: str, retry_after: float | None) -> None:
        self.url = url
        self.message = message
        self.retry_after = retry_after
        super().__init__(f"journal at {url} is rate-limited: {message}")


class SchemaNotCurrent(WatcherError):
    """The database schema is not at the migrations' head."""

    def __init__(self, current: str | None, head: str) -> None:
        self.current = current
        self.head = head
        super().__init__(
            f"database schema is at {current or 'nothing'}, code needs {head}: "
            "run `watcher db upgrade`"
        )


class DatabaseUnavailable(WatcherError):
    """The connection to the database was lost (or could not be made) during a transaction.

    An expected failure (a database restart, a failover, a network blip), said in one line:
    the jobs record it and retry on schedule; its cause is chained for debugging.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"database connection lost: {reason}")


class AnswerRefused(BadResponse):
    """An answer refused as incomplete or implausible (a listing cut short or inconsistent,
    a serial far beyond what other answers have shown): nothing of it is used.

    Unlike an index that cannot be reached, this is an answer that would have changed what
    we store had we believed it: the source's health shows it failing at once.
    """


class ListingRefused(WatcherError):
    """The listing would remove an implausible share of the index."""

    def __init__(self, removed: int, stored: int) -> None:
        self.removed = removed
        self.stored = stored
        super().__init__(
            f"listing would remove {removed} of {stored} stored projects; refused as broken"
        )


class ListingNotRefreshed(IndexClientError):
    """The feeds showed the index changed, but its listing is still the one applied before
    (a cached copy): retried in ``retry_in`` seconds rather than taken as "nothing new"."""

    def __init__(self, url: str, serial: int | None, retry_in: float) -> None:
        self.url = url
        self.serial = serial
        self.retry_in = retry_in
        super().__init__(
            f"feed gap: the index has changed, but its listing at {url} is still the one "
            f"applied (serial {serial}); a cached copy: retried in {retry_in:.0f} s"
        )


class LookupsSaturated(IndexClientError):
    """Every look-up slot of the HTTP API stayed busy for the whole bounded wait: try again
    later (the API answers 503 with ``Retry-After``)."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"too many index look-ups in flight; retry in {retry_after} s")


class PrivateIndexError(WatcherError):
    """A private index (a catalog ``[[indexes]]`` entry) could not be read: a credential
    variable unset, the index down, refusing us, or answering something unusable.

    ``url`` is the index's URL without credentials; no credential is ever in the message.
    """

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"private index {url}: {reason}")


class FindingNotFound(WatcherError):
    """No finding has this id."""

    def __init__(self, finding_id: int) -> None:
        self.finding_id = finding_id
        super().__init__(f"no finding {finding_id}")


class TransitionRefused(WatcherError):
    """A finding cannot take this action from the status it is in (acknowledging a resolved
    finding, reopening an open one)."""

    def __init__(self, finding_id: int, action: str, status: str, allowed: list[str]) -> None:
        self.finding_id = finding_id
        self.action = action
        self.status = status
        super().__init__(
            f"finding {finding_id} is {status}: cannot {action} it (only a finding that is"
            f" {' or '.join(allowed)})"
        )
