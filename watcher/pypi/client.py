"""HTTP client of the index: feeds, JSON, simple and XML-RPC APIs; retries, caps, ETags here."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import aiohttp

from watcher.config import IndexSettings
from watcher.errors import (
    BadResponse,
    IndexUnavailable,
    NotAnIndex,
    ProjectNotFound,
    StaleIndex,
)
from watcher.names import canonical
from watcher.pypi.details import project_info
from watcher.pypi.feeds import parse_feed
from watcher.pypi.http import Requester, new_session
from watcher.pypi.journal import JournalRow, call_body, parse_answer, parse_rows, parse_serial
from watcher.pypi.models import FeedKind, FeedPage, ProjectInfo
from watcher.pypi.pages import ProjectPage, parse_project_page
from watcher.pypi.probe import (
    PROBE_BYTES,
    Answer,
    feed_problem,
    parent_candidates,
    simple_root_problem,
)
from watcher.pypi.simple import (
    IndexListing,
    parse_index_html,
    parse_index_json,
    valid_names_only,
)
from watcher.redaction import register_secret, split_credentials

log = logging.getLogger(__name__)

_FEED_PATHS = {FeedKind.UPDATES: "/rss/updates.xml", FeedKind.PACKAGES: "/rss/packages.xml"}
_SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"


@asynccontextmanager
async def open_index_client(
    settings: IndexSettings, *, connections: int = 100
) -> AsyncIterator[IndexClient]:
    """An :class:`IndexClient` on the index's own HTTP session, closed when the block exits.

    The session is created here, inside the running event loop; every request attempt is
    bounded by ``settings.timeout`` seconds (10 s to connect) and sends
    ``settings.user_agent``, over at most ``connections`` connections at once. Non-2xx
    answers are handled by the client, not raised by aiohttp.
    """
    session = new_session(
        timeout=settings.timeout, user_agent=settings.user_agent, connections=connections
    )
    async with session:
        yield IndexClient(
            session,
            settings.url,
            retries=settings.retries,
            max_feed_bytes=settings.max_feed_bytes,
            max_json_bytes=settings.max_json_bytes,
            max_index_bytes=settings.max_index_bytes,
            max_journal_bytes=settings.max_journal_bytes,
        )


class IndexClient:
    """Talks to the index at ``base_url`` through ``session`` (see :func:`open_index_client`).

    Every request retries 429/5xx answers, connection errors and timeouts with exponential
    backoff and jitter, then raises :class:`IndexUnavailable`. Bodies are read up to a cap and
    refused beyond it (:class:`ResponseTooLarge`), so a hostile or broken mirror cannot make
    us buffer gigabytes.

    Credentials in ``base_url`` (a private mirror's ``https://user:password@host``) are
    sent as HTTP Basic auth and kept out of every URL the client builds, so no log line,
    error message or alert link repeats them.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        *,
        retries: int = 3,
        max_feed_bytes: int = 5 * 1024 * 1024,
        max_json_bytes: int = 32 * 1024 * 1024,
        max_index_bytes: int = 512 * 1024 * 1024,
        max_journal_bytes: int = 64 * 1024 * 1024,
        backoff: float = 0.5,
    ) -> None:
        bare, user, password = split_credentials(base_url)
        self._base = bare.rstrip("/")
        auth = (
            {"Authorization": aiohttp.encode_basic_auth(user, password or "")}
            if user is not None
            else {}
        )
        register_secret(password)  # the log handler masks it, should a library repeat it
        self._http = Requester(session, retries=retries, backoff=backoff, auth=auth)
        self._max_feed_bytes = max_feed_bytes
        self._max_json_bytes = max_json_bytes
        self._max_index_bytes = max_index_bytes
        self._max_journal_bytes = max_journal_bytes
        self._confirmed = False
        self._root: tuple[str, int | None] | None = None  # what confirm_index() saw

    @property
    def base_url(self) -> str:
        """The index's base URL, without a trailing slash."""
        return self._base

    @property
    def confirmed(self) -> bool:
        """True once :meth:`confirm_index` found a package index at the base URL."""
        return self._confirmed

    @property
    def simple_root(self) -> tuple[str, int | None] | None:
        """What :meth:`confirm_index` read of ``/simple/``: its format (``"JSON (PEP 691)"``
        or ``"HTML (PEP 503)"``) and its ``X-PyPI-Last-Serial`` (None when not sent), from
        the head of the answer only; None before the index was confirmed."""
        return self._root if self._confirmed else None

    async def confirm_index(self) -> None:
        """Make sure the base URL really is a package index, before trusting its answers.

        A wrong base URL (``.../simple``, ``.../pypi``, another web server) would answer 404
        to every ``/simple/<name>/`` and make every name look free. So the simple API's root
        (``/simple/``) must answer a project list (PEP 691 JSON or PEP 503 HTML) and the
        updates feed (``/rss/updates.xml``) RSS; only the head of each answer is read.

        Raises :class:`NotAnIndex` (a :class:`~watcher.errors.ConfigError`) naming what
        answered instead and, when the URL looks like a page inside an index, its likely
        base URL; :class:`IndexUnavailable` when the index cannot be reached (after the
        retries), which says nothing about the URL.
        """
        root = f"{self._base}/simple/"
        answer = await self._http.request(
            "GET",
            root,
            headers={"Accept": f"{_SIMPLE_JSON}, text/html;q=0.1"},
            max_bytes=PROBE_BYTES,
            head_only=True,
        )
        problem = simple_root_problem(answer)
        if problem is not None:
            raise await self._not_an_index(f"/simple/ {problem}")
        json_root = "json" in answer.headers.get("Content-Type", "")
        serial = _serial_header(answer.headers.get("X-PyPI-Last-Serial"))
        self._root = ("JSON (PEP 691)" if json_root else "HTML (PEP 503)", serial)
        feed = self._base + _FEED_PATHS[FeedKind.UPDATES]
        answer = await self._http.request(
            "GET", feed, headers={}, max_bytes=PROBE_BYTES, head_only=True
        )
        problem = feed_problem(answer)
        if problem is not None:
            raise await self._not_an_index(
                f"/rss/updates.xml {problem}",
                lead=f"{self._base} serves a simple index but not the index's RSS feeds "
                "(the watcher needs PyPI or a mirror serving its RSS, JSON and simple APIs)",
            )
        self._confirmed = True

    async def _not_an_index(self, answer: str, *, lead: str | None = None) -> NotAnIndex:
        """The error for a base URL that is not an index, with its likely parent, if any."""
        candidates = parent_candidates(self._base)
        chosen = candidates[0] if candidates else None
        if len(candidates) > 1:
            # Ambiguous (".../pypi/simple"): suggest the first parent that is an index.
            for parent, looks_like in candidates:
                try:
                    probe = await self._http.request(
                        "GET",
                        f"{parent}/simple/",
                        headers={"Accept": f"{_SIMPLE_JSON}, text/html;q=0.1"},
                        max_bytes=PROBE_BYTES,
                        head_only=True,
                        retries=0,
                    )
                except IndexUnavailable:
                    continue
                if simple_root_problem(probe) is None:
                    chosen = (parent, looks_like)
                    break
        return NotAnIndex(
            self._base,
            answer,
            parent=chosen[0] if chosen else None,
            looks_like=chosen[1] if chosen else None,
            lead=lead,
        )

    def project_url(self, name: str, version: str | None = None) -> str:
        """The human-facing page of a project (or one release) on the index."""
        norm = canonical(name)
        # The version is the index's text: encoded so that it stays one path segment.
        return (
            f"{self._base}/project/{norm}/{quote(version, safe='')}/"
            if version
            else f"{self._base}/project/{norm}/"
        )

    async def fetch_feed(self, kind: FeedKind, etag: str | None = None) -> FeedPage | None:
        """The feed's items, or ``None`` when the index says it has not changed (304)."""
        url = self._base + _FEED_PATHS[kind]
        headers = {"If-None-Match": etag} if etag else {}
        answer = await self._get(url, headers=headers, max_bytes=self._max_feed_bytes)
        if answer.status == 304:
            return None
        if answer.status != 200:
            raise BadResponse(url, f"HTTP {answer.status}")
        return parse_feed(kind, answer.body, url=url, etag=answer.headers.get("ETag"))

    async def project(self, name: str) -> ProjectInfo:
        """Details of a public project from the JSON API.

        Raises :class:`ProjectNotFound` on 404, which does NOT mean the name is free: the
        JSON API also answers 404 for projects with no visible release.
        """
        info, _ = await self.project_since(name, None)
        assert info is not None  # asked without an ETag: never "not modified"
        return info

    async def project_since(
        self, name: str, etag: str | None
    ) -> tuple[ProjectInfo | None, str | None]:
        """:meth:`project`, revalidating an earlier answer: ``(None, etag)`` when the index
        says the details have not changed since the answer with ``etag`` (304), else the
        details and the ETag to send next time (None when the index sent none)."""
        norm = canonical(name)
        url = f"{self._base}/pypi/{norm}/json"
        headers = {"Accept": "application/json"}
        if etag:
            headers["If-None-Match"] = etag
        answer = await self._get(url, headers=headers, max_bytes=self._max_json_bytes)
        if answer.status == 304 and etag:
            return None, etag
        if answer.status == 404:
            raise ProjectNotFound(norm)
        if answer.status != 200:
            raise BadResponse(url, f"HTTP {answer.status}")
        try:
            data = json.loads(answer.body)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            # RecursionError: a hostile body of deeply nested arrays ("[[[["); ValueError
            # (JSONDecodeError is one) also: a number beyond int()'s digit limit.
            raise BadResponse(url, f"malformed JSON: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("info"), dict):
            raise BadResponse(url, "JSON has no 'info' object")
        return project_info(norm, data), answer.headers.get("ETag")

    async def fetch_index(
        self, *, etag: str | None = None, min_serial: int | None = None
    ) -> IndexListing | None:
        """Every project on the index (``/simple/``, PEP 691 JSON, else PEP 503 HTML).

        ``None`` when the index says nothing changed since ``etag`` (304), or when its
        serial header equals ``min_serial`` (every change moves the serial). Raises
        :class:`StaleIndex` when its serial is older than ``min_serial``: the simple index
        is cached for about half an hour and a stale copy must not undo newer knowledge.
        """
        url = f"{self._base}/simple/"
        headers = {"Accept": f"{_SIMPLE_JSON}, text/html;q=0.1"}
        if etag:
            headers["If-None-Match"] = etag
        answer = await self._get(url, headers=headers, max_bytes=self._max_index_bytes)
        if answer.status == 304:
            return None
        if answer.status != 200:
            raise BadResponse(url, f"HTTP {answer.status}")
        header = answer.headers.get("X-PyPI-Last-Serial")
        header_serial = _serial_header(header)
        if header_serial is not None and min_serial is not None:
            # Decided by the header alone: no need to parse tens of MB of names.
            if header_serial < min_serial:
                raise StaleIndex(url, header_serial, min_serial)
            if header_serial == min_serial:
                return None  # the same serial: nothing on the index changed
        kind = answer.headers.get("Content-Type", "")
        parse = parse_index_json if "json" in kind else parse_index_html
        listing = parse(
            answer.body, url=url, header_serial=header_serial, etag=answer.headers.get("ETag")
        )
        if min_serial is not None and listing.serial is not None and listing.serial < min_serial:
            raise StaleIndex(url, listing.serial, min_serial)
        return valid_names_only(listing, url)

    async def exists(self, name: str) -> bool:
        """True if ``name`` is registered on the index (``/simple/<name>/`` answers 200).

        This is the only reliable existence check: a registered project with no release has
        a simple page but no JSON API page.
        """
        url = f"{self._base}/simple/{canonical(name)}/"
        answer = await self._get(url, headers={"Accept": _SIMPLE_JSON}, max_bytes=0)
        if answer.status == 200:
            return True
        if answer.status == 404:
            return False
        raise BadResponse(url, f"HTTP {answer.status}")

    async def project_page(self, name: str) -> ProjectPage | None:
        """The public project's files and versions from its simple page (``/simple/<name>/``,
        PEP 691 JSON, else PEP 503 HTML), or ``None`` when the index answers 404 (no such
        project). Used to tell a private index's mirror of a public project from our own.
        """
        norm = canonical(name)
        url = f"{self._base}/simple/{norm}/"
        answer = await self._get(
            url,
            headers={"Accept": f"{_SIMPLE_JSON}, text/html;q=0.1"},
            max_bytes=self._max_json_bytes,
        )
        if answer.status == 404:
            return None
        if answer.status != 200:
            raise BadResponse(url, f"HTTP {answer.status}")
        return parse_project_page(
            answer.body,
            url=url,
            name=norm,
            content_type=answer.headers.get("Content-Type", ""),
            etag=answer.headers.get("ETag"),
        )

    async def journal_last_serial(self) -> int:
        """The newest serial of the index's change log (XML-RPC ``changelog_last_serial``)."""
        url, value = await self._xmlrpc("changelog_last_serial")
        return parse_serial(value, url=url)

    async def journal_since(self, serial: int) -> list[JournalRow]:
        """Change-log rows after ``serial``, ascending (at most 50,000 per call).

        Raises :class:`JournalRateLimited` when the index answers its rate-limit fault.
        """
        url, value = await self._xmlrpc("changelog_since_serial", serial)
        return parse_rows(value, url=url)

    async def _xmlrpc(self, method: str, *params: int) -> tuple[str, Any]:
        url = f"{self._base}/pypi"
        answer = await self._http.request(
            "POST",
            url,
            headers={"Content-Type": "text/xml", "Accept": "text/xml"},
            data=call_body(method, *params),
            max_bytes=self._max_journal_bytes,
        )
        if answer.status != 200:
            raise BadResponse(url, f"HTTP {answer.status} to XML-RPC {method}")
        return url, parse_answer(answer.body, url=url)

    async def _get(self, url: str, *, headers: Mapping[str, str], max_bytes: int) -> Answer:
        """GET with retries. ``max_bytes=0`` means the body is not wanted and not read."""
        return await self._http.request("GET", url, headers=headers, max_bytes=max_bytes)


def _serial_header(header: str | None) -> int | None:
    """``X-PyPI-Last-Serial`` as a number, or ``None`` when absent or not plain ASCII digits
    (``isdigit`` alone admits "²"; a serial of thousands of digits is no serial)."""
    if header and len(header) <= 20 and header.isascii() and header.isdecimal():
        return int(header)
    return None
