"""HTTP client of the index: feeds, JSON, simple and XML-RPC APIs; retries, caps, ETags here."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy
from packaging.utils import NormalizedName
from packaging.version import InvalidVersion, Version

from watcher.config import IndexSettings
from watcher.errors import (
    BadResponse,
    IndexUnavailable,
    ProjectNotFound,
    ResponseTooLarge,
    StaleIndex,
)
from watcher.names import canonical, is_valid
from watcher.pypi.feeds import parse_feed
from watcher.pypi.journal import JournalRow, call_body, parse_answer, parse_rows, parse_serial
from watcher.pypi.models import FeedKind, FeedPage, ProjectInfo, ReleaseInfo
from watcher.pypi.simple import IndexListing, parse_index_html, parse_index_json

log = logging.getLogger(__name__)

_FEED_PATHS = {FeedKind.UPDATES: "/rss/updates.xml", FeedKind.PACKAGES: "/rss/packages.xml"}
_SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_MAX_RETRY_AFTER = 60.0
_CONNECT_TIMEOUT = 10.0


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


@asynccontextmanager
async def open_index_client(settings: IndexSettings) -> AsyncIterator[IndexClient]:
    """An :class:`IndexClient` on the index's own HTTP session, closed when the block exits.

    The session is created here, inside the running event loop; every request attempt is
    bounded by ``settings.timeout`` seconds (10 s to connect) and sends
    ``settings.user_agent``. Non-2xx answers are handled by the client, not raised by aiohttp.
    """
    session = aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=settings.timeout, connect=_CONNECT_TIMEOUT),
        headers={"User-Agent": settings.user_agent},
        raise_for_status=False,
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
        self._session = session
        self._base = base_url.rstrip("/")
        self._retries = retries
        self._max_feed_bytes = max_feed_bytes
        self._max_json_bytes = max_json_bytes
        self._max_index_bytes = max_index_bytes
        self._max_journal_bytes = max_journal_bytes
        self._backoff = backoff

    @property
    def base_url(self) -> str:
        """The index's base URL, without a trailing slash."""
        return self._base

    def project_url(self, name: str, version: str | None = None) -> str:
        """The human-facing page of a project (or one release) on the index."""
        norm = canonical(name)
        return (
            f"{self._base}/project/{norm}/{version}/"
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
        norm = canonical(name)
        url = f"{self._base}/pypi/{norm}/json"
        answer = await self._get(
            url, headers={"Accept": "application/json"}, max_bytes=self._max_json_bytes
        )
        if answer.status == 404:
            raise ProjectNotFound(norm)
        if answer.status != 200:
            raise BadResponse(url, f"HTTP {answer.status}")
        try:
            data = json.loads(answer.body)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            # RecursionError: a hostile body of deeply nested arrays ("[[[[...").
            raise BadResponse(url, f"malformed JSON: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("info"), dict):
            raise BadResponse(url, "JSON has no 'info' object")
        return _project_info(norm, data)

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
        header_serial = int(header) if header and header.isdigit() else None
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
        return _valid_names_only(listing, url)

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
        answer = await self._request(
            "POST",
            url,
            headers={"Content-Type": "text/xml", "Accept": "text/xml"},
            data=call_body(method, *params),
            max_bytes=self._max_journal_bytes,
        )
        if answer.status != 200:
            raise BadResponse(url, f"HTTP {answer.status} to XML-RPC {method}")
        return url, parse_answer(answer.body, url=url)

    async def _get(self, url: str, *, headers: Mapping[str, str], max_bytes: int) -> _Answer:
        """GET with retries. ``max_bytes=0`` means the body is not wanted and not read."""
        return await self._request("GET", url, headers=headers, max_bytes=max_bytes)

    async def _request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        max_bytes: int,
        data: bytes | None = None,
    ) -> _Answer:
        # Only idempotent calls come here (GETs and read-only XML-RPC), so retrying is safe.
        attempt = 0
        while True:
            delay: float | None = None
            try:
                async with self._session.request(
                    method, url, headers=dict(headers), data=data
                ) as resp:
                    if resp.status in _RETRY_STATUSES:
                        reason = f"HTTP {resp.status}"
                        delay = _retry_after(resp.headers.get("Retry-After"))
                    else:
                        body = await _read_capped(resp, url, max_bytes) if max_bytes else b""
                        return _Answer(resp.status, resp.headers, body)
            except (aiohttp.ClientError, TimeoutError) as exc:
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if attempt >= self._retries:
                raise IndexUnavailable(url, f"{reason} (after {attempt + 1} attempts)")
            wait = delay if delay is not None else self._backoff * 2**attempt
            wait *= 1 + random.random() / 4  # noqa: S311 - jitter, not cryptography
            log.warning(
                "index request %s failed (%s); retry %d in %.1fs", url, reason, attempt + 1, wait
            )
            await asyncio.sleep(wait)
            attempt += 1


async def _read_capped(resp: aiohttp.ClientResponse, url: str, max_bytes: int) -> bytes:
    if resp.content_length is not None and resp.content_length > max_bytes:
        raise ResponseTooLarge(url, max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise ResponseTooLarge(url, max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


_NAME_BYTES = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.\n"


def _valid_names_only(listing: IndexListing, url: str) -> IndexListing:
    """Drop names with characters no project name has (non-ASCII would crash decoding).

    One C-speed check covers the usual listing; only a listing that fails it is validated
    name by name.
    """
    text = b"\n".join(listing.names)
    if not text.translate(None, _NAME_BYTES) and all(listing.names):
        return listing
    keep = [i for i, name in enumerate(listing.names) if name.isascii() and is_valid(name.decode())]
    log.warning(
        "simple index at %s lists %d invalid project names; ignored",
        url,
        len(listing.names) - len(keep),
    )
    return IndexListing(
        serial=listing.serial,
        etag=listing.etag,
        names=[listing.names[i] for i in keep],
        serials=[listing.serials[i] for i in keep],
    )


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    if math.isnan(seconds):  # "nan" passes float() and min/max, then sleeps forever
        return None
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER)


def _project_info(norm: NormalizedName, data: dict[str, Any]) -> ProjectInfo:
    info: dict[str, Any] = data["info"]
    ownership = data.get("ownership") if isinstance(data.get("ownership"), dict) else {}
    assert isinstance(ownership, dict)
    roles = ownership.get("roles") if isinstance(ownership.get("roles"), list) else []
    assert isinstance(roles, list)
    owners = tuple(
        str(role["user"]) for role in roles if isinstance(role, dict) and role.get("user")
    )
    organization = ownership.get("organization")
    releases_raw = data.get("releases") if isinstance(data.get("releases"), dict) else {}
    assert isinstance(releases_raw, dict)
    releases = [_release(str(v), files) for v, files in releases_raw.items()]
    releases.sort(key=_version_order)
    serial = data.get("last_serial")
    return ProjectInfo(
        name=str(info.get("name") or norm),
        canonical=norm,
        latest_version=_str_or_none(info.get("version")),
        summary=_str_or_none(info.get("summary")),
        author=_str_or_none(info.get("author")),
        author_email=_str_or_none(info.get("author_email")),
        owners=owners,
        organization=organization if isinstance(organization, str) else None,
        releases=tuple(releases),
        last_serial=serial if isinstance(serial, int) else None,
    )


def _release(version: str, files: Any) -> ReleaseInfo:
    names: list[str] = []
    times: list[datetime] = []
    yanked = False
    for item in files if isinstance(files, list) else []:
        if not isinstance(item, dict):
            continue
        if isinstance(item.get("filename"), str):
            names.append(item["filename"])
        stamp = _timestamp(item.get("upload_time_iso_8601") or item.get("upload_time"))
        if stamp is not None:
            times.append(stamp)
        yanked = yanked or bool(item.get("yanked"))
    return ReleaseInfo(
        version=version,
        upload_time=min(times) if times else None,
        files=tuple(sorted(names)),
        yanked=yanked,
    )


def _version_order(release: ReleaseInfo) -> tuple[int, Version | str]:
    # Invalid versions are data, not crashes: they sort after every valid one.
    try:
        return (0, Version(release.version))
    except InvalidVersion:
        return (1, release.version)


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return stamp.astimezone(UTC) if stamp.tzinfo else stamp.replace(tzinfo=UTC)
    except (ValueError, OverflowError):  # OverflowError: e.g. year 9999 at -01:00
        return None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
