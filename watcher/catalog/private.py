"""Reading a private index (a catalog ``[[indexes]]`` entry): every project on it is ours.

    async with open_private_index(spec) as reader:
        loaded = await reader.load(previous)

:func:`open_private_index` owns the reader's HTTP session (one per index, closed with the
block). A load reads the simple API's root (PEP 691 JSON, else PEP 503 HTML) and then every
project page it lists, a few at a time, each conditional on the ETag of the previous load
(a 304 reuses the previous result). Credentials come from environment variables the spec
names, never from the catalog file, and appear in no log line, error or result.

A load is all or nothing: a page that still fails after the retries fails the whole load
(:class:`PrivateIndexError`), so the caller keeps its last good load; a catalog built from a
partial load would silently stop protecting the names it missed. Only a project the root
lists but whose page answers 404 (removed in between) is skipped, with a log line.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING
from urllib.parse import urljoin

import aiohttp
from packaging.utils import NormalizedName

from watcher import __version__
from watcher.catalog.model import IndexSpec, InternalPackage
from watcher.errors import IndexClientError, PrivateIndexError
from watcher.names import canonicalize_many
from watcher.pypi.http import Requester, new_session
from watcher.pypi.pages import parse_project_page
from watcher.pypi.probe import Answer
from watcher.pypi.simple import parse_index_html, parse_index_json, valid_names_only
from watcher.redaction import redact_url, register_secret, split_credentials

if TYPE_CHECKING:
    from watcher.config_views import PrivateIndexSettings

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_MAX_PAGE_BYTES",
    "DEFAULT_MAX_ROOT_BYTES",
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT",
    "PrivateIndexReader",
    "PrivateLoad",
    "open_private_index",
]

log = logging.getLogger(__name__)

# Proposed settings (the caller passes its own): pages in flight at once, seconds per
# attempt, caps on a project page and on the root listing, retries per request.
DEFAULT_CONCURRENCY = 8
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_PAGE_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_ROOT_BYTES = 256 * 1024 * 1024
DEFAULT_RETRIES = 3

_ACCEPT = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"


@dataclass(frozen=True)
class PrivateLoad:
    """One complete read of a private index, and the ETags that make the next one cheap.

    ``packages`` maps each project's canonical name to what its page says (the root's
    spelling, versions, files). ``incomplete`` names projects whose page had entries that
    could not be read: such a project cannot be proved a mirror of a public one (pass it to
    :func:`watcher.catalog.mirrors.classify`).
    """

    url: str
    packages: dict[NormalizedName, InternalPackage]
    # ETags of complete pages only: an incomplete page is read in full every time, so its
    # incompleteness is never lost, even by a caller that stores only packages and ETags.
    etags: dict[NormalizedName, str] = field(default_factory=dict)
    incomplete: frozenset[NormalizedName] = frozenset()
    fetched: int = 0  # project pages read in full
    unchanged: int = 0  # project pages answered 304 (taken from ``previous``)
    missing: int = 0  # projects listed at the root whose page answered 404
    seconds: float = 0.0


@asynccontextmanager
async def open_private_index(
    spec: IndexSpec,
    *,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - per HTTP attempt, not this call
    concurrency: int = DEFAULT_CONCURRENCY,
    max_page_bytes: int = DEFAULT_MAX_PAGE_BYTES,
    max_root_bytes: int = DEFAULT_MAX_ROOT_BYTES,
    retries: int = DEFAULT_RETRIES,
    backoff: float = 0.5,
    user_agent: str = f"watcher/{__version__}",
    environ: Mapping[str, str] | None = None,
) -> AsyncIterator[PrivateIndexReader]:
    """A reader of the private index ``spec`` on its own HTTP session, closed on exit.

    Credentials are read from ``environ`` (default: the process environment) here, before
    any request: a variable the spec names but that is unset raises
    :class:`PrivateIndexError` naming the variable.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    url = _index_url(spec)
    auth = _auth(spec, url, os.environ if environ is None else environ)
    session = new_session(timeout=timeout, user_agent=user_agent, connections=concurrency)
    async with session:
        yield PrivateIndexReader(
            url,
            Requester(session, retries=retries, backoff=backoff, auth=auth),
            concurrency=concurrency,
            max_page_bytes=max_page_bytes,
            max_root_bytes=max_root_bytes,
        )


async def load_private_index(
    spec: IndexSpec,
    settings: PrivateIndexSettings,
    previous: Mapping[NormalizedName, InternalPackage] | None = None,
    etags: Mapping[NormalizedName, str] | None = None,
) -> PrivateLoad:
    """Read the private index ``spec`` whole, as the service's settings say to
    (:meth:`PrivateIndexReader.load`; ``previous`` and ``etags``: its last good load)."""
    async with open_private_index(
        spec,
        user_agent=settings.user_agent,
        timeout=settings.timeout,
        retries=settings.retries,
        concurrency=settings.concurrency,
    ) as reader:
        return await reader.load(previous, etags)


def _index_url(spec: IndexSpec) -> str:
    bare, user, password = split_credentials(spec.url)
    if user is not None or password is not None:
        # Refused rather than used: a password in the catalog file is in version control.
        raise PrivateIndexError(
            redact_url(spec.url),
            "credentials in the URL are not accepted; name environment variables "
            "(username_env and password_env, or token_env)",
        )
    return bare if bare.endswith("/") else bare + "/"


def _auth(spec: IndexSpec, url: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The Authorization header the spec asks for, its secrets registered for redaction."""

    def value(variable: str) -> str:
        found = environ.get(variable)
        if not found:
            # The variable's name only: its value (if any) is a secret.
            raise PrivateIndexError(url, f"environment variable {variable} is not set")
        if not found.isprintable():
            # A line break would split the header (aiohttp refuses it mid-request).
            raise PrivateIndexError(
                url, f"environment variable {variable} holds control characters"
            )
        return found

    if spec.token_env and (spec.username_env or spec.password_env):
        raise PrivateIndexError(url, "give token_env or username_env/password_env, not both")
    if spec.token_env:
        token = value(spec.token_env)
        register_secret(token)
        return {"Authorization": f"Bearer {token}"}
    if spec.username_env or spec.password_env:
        if not (spec.username_env and spec.password_env):
            raise PrivateIndexError(url, "basic auth needs both username_env and password_env")
        password = value(spec.password_env)
        header = aiohttp.encode_basic_auth(value(spec.username_env), password)
        register_secret(password)
        register_secret(header)  # base64 of both: masked too, should a library log headers
        return {"Authorization": header}
    return {}


class PrivateIndexReader:
    """Reads one private index's projects (see :func:`open_private_index`)."""

    def __init__(
        self,
        url: str,
        http: Requester,
        *,
        concurrency: int,
        max_page_bytes: int,
        max_root_bytes: int,
    ) -> None:
        self._url = url
        self._http = http
        self._concurrency = concurrency
        self._max_page_bytes = max_page_bytes
        self._max_root_bytes = max_root_bytes

    @property
    def url(self) -> str:
        """The index's simple API root, ending in ``/`` (never with credentials)."""
        return self._url

    async def load(
        self,
        previous: Mapping[NormalizedName, InternalPackage] | None = None,
        etags: Mapping[NormalizedName, str] | None = None,
    ) -> PrivateLoad:
        """Every project on the index with its versions and files.

        ``previous`` and ``etags`` are the packages and ETags of this index's last good
        load: a page is asked "changed since?" (If-None-Match) when both hold its project,
        and a 304 takes the project from ``previous``. The root listing is read in full
        each time (it is what says which projects exist). Raises :class:`PrivateIndexError`
        when the root or any listed page cannot be read after the retries.
        """
        started = time.perf_counter()
        listing = await self._listing()
        before = _Before(previous or {}, etags or {})
        results: dict[NormalizedName, _Read] = {}
        queue: Iterator[tuple[NormalizedName, str]] = iter(listing)

        async def worker() -> None:
            # Workers share one iterator: each project is taken once, and at most
            # `concurrency` requests are in flight, however many projects there are.
            for norm, display in queue:
                results[norm] = await self._page(norm, display, before)

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(self._concurrency, len(listing))):
                    group.create_task(worker())
        except* PrivateIndexError as failed:
            raise failed.exceptions[0] from None
        outcomes = [read.outcome for read in results.values()]
        return PrivateLoad(
            url=self._url,
            packages={n: r.package for n, r in sorted(results.items()) if r.package is not None},
            etags={n: r.etag for n, r in results.items() if r.etag is not None},
            incomplete=frozenset(n for n, r in results.items() if r.incomplete),
            fetched=outcomes.count("fetched"),
            unchanged=outcomes.count("unchanged"),
            missing=outcomes.count("missing"),
            seconds=time.perf_counter() - started,
        )

    async def _listing(self) -> list[tuple[NormalizedName, str]]:
        """(canonical, display) of every project the root lists, by canonical name."""
        answer = await self._get(self._url, {"Accept": _ACCEPT}, self._max_root_bytes)
        if answer.status != 200:
            raise PrivateIndexError(self._url, _status_problem(answer.status, "its project list"))
        parse = parse_index_json if "json" in _content_type(answer) else parse_index_html
        try:
            # A private index need not give a serial; none is compared here.
            listing = valid_names_only(
                parse(answer.body, url=self._url, header_serial=None, etag=None), self._url
            )
        except IndexClientError as exc:
            raise PrivateIndexError(self._url, str(exc)) from None
        canonical = canonicalize_many(listing.names)
        # Two spellings of one project: the first wins (one page serves both).
        unique: dict[NormalizedName, str] = {}
        for norm, name in zip(canonical, listing.names, strict=True):
            unique.setdefault(NormalizedName(norm), name.decode())
        return sorted(unique.items())

    async def _page(self, norm: NormalizedName, display: str, before: _Before) -> _Read:
        """One project's page, or the previous load's package when the page is unchanged."""
        # Built from the canonical name (PEP 503's URL scheme), never from the root's
        # links: a hostile link to another host would carry our credentials there.
        url = urljoin(self._url, f"{norm}/")
        headers = {"Accept": _ACCEPT}
        old, etag = before.packages.get(norm), before.etags.get(norm)
        if old is not None and etag:
            headers["If-None-Match"] = etag
        answer = await self._get(url, headers, self._max_page_bytes)
        if answer.status == 304 and old is not None and etag:
            # The root's spelling may have changed even though the page did not.
            return _Read("unchanged", replace(old, name=display, source=self._url), etag)
        if answer.status == 404:
            log.warning(
                "private index %s lists %s, but its page answers 404; skipped", self._url, display
            )
            return _Read("missing")
        if answer.status != 200:
            raise PrivateIndexError(self._url, _status_problem(answer.status, f"page {url}"))
        try:
            page = parse_project_page(
                answer.body,
                url=url,
                name=norm,
                content_type=_content_type(answer),
                etag=answer.headers.get("ETag"),
            )
        except IndexClientError as exc:
            raise PrivateIndexError(self._url, str(exc)) from None
        package = InternalPackage(
            name=display, source=self._url, versions=page.versions, files=page.files
        )
        if page.skipped:
            log.warning(
                "private index %s: %d file entries of %s could not be read; ignored",
                self._url,
                page.skipped,
                display,
            )
            return _Read("fetched", package, None, incomplete=True)
        return _Read("fetched", package, page.etag)

    async def _get(self, url: str, headers: dict[str, str], max_bytes: int) -> Answer:
        try:
            return await self._http.request("GET", url, headers=headers, max_bytes=max_bytes)
        except IndexClientError as exc:  # unreachable after the retries, or too large
            raise PrivateIndexError(self._url, str(exc)) from None


@dataclass(frozen=True)
class _Before:
    """The last good load's packages and ETags."""

    packages: Mapping[NormalizedName, InternalPackage]
    etags: Mapping[NormalizedName, str]


@dataclass(frozen=True)
class _Read:
    """What reading one project's page gave: ``fetched``, ``unchanged`` (304) or
    ``missing`` (404); its package and the ETag to send next time."""

    outcome: str
    package: InternalPackage | None = None
    etag: str | None = None
    incomplete: bool = False


def _content_type(answer: Answer) -> str:
    return answer.headers.get("Content-Type", "").lower()


def _status_problem(status: int, what: str) -> str:
    if status in (401, 403):
        return f"{what} answered HTTP {status}: our credentials were refused or are missing"
    return f"{what} answered HTTP {status}"
