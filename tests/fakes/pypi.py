"""A fake package index: a real aiohttp server speaking the index's read interfaces.

It serves the three RSS feeds, the JSON API, the simple API (PEP 503 HTML and
PEP 691 JSON) and the XML-RPC journal (``changelog_since_serial``) in the formats
described in the shared reference on the index's public interfaces, from in-memory
state that tests change between polls. Every change writes journal rows the way the
index does (one serial per row). Failure knobs cover HTTP errors, slow answers, a
stale simple index, hostile bodies and XML-RPC rate-limit faults.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import html
import json
import re
import time
import xmlrpc.client
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, getaddresses
from types import TracebackType
from typing import Any, Self

from aiohttp import web
from aiohttp.typedefs import Handler
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

__all__ = [
    "FakeIndex",
    "RecordedRequest",
    "billion_laughs_feed",
    "external_entity_feed",
    "truncated_feed",
]

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
SIMPLE_HTML = "application/vnd.pypi.simple.v1+html"
_SIMPLE_JSON_TYPES = frozenset({SIMPLE_JSON, "application/vnd.pypi.simple.latest+json"})
_SIMPLE_HTML_TYPES = frozenset(
    {SIMPLE_HTML, "application/vnd.pypi.simple.latest+html", "text/html", "*/*"}
)
_XML = "text/xml; charset=UTF-8"
_JOURNAL_PAGE = 50_000  # rows per changelog_since_serial answer, as on the index
_RATE_LIMIT_FAULT = -32500
_UPDATES_LIMIT = 100
_PACKAGES_LIMIT = 40
_PROJECT_FEED_LIMIT = 40
_CHUNK = 64 * 1024
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Used by truncated_feed() on a fake that was never started: it has no port yet.
_UNSTARTED_BASE = "http://127.0.0.1"


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake index received, failed or not."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass(frozen=True)
class _File:
    filename: str
    size: int
    sha256: str
    md5: str
    blake2b_256: str

    @property
    def path(self) -> str:
        h = self.blake2b_256
        return f"/files/{h[:2]}/{h[2:4]}/{h[4:]}/{self.filename}"


@dataclass(frozen=True)
class _Release:
    version: str
    seq: int
    upload_time: datetime
    summary: str | None
    author: str | None
    author_email: str | None
    file: _File


@dataclass
class _Project:
    name: str
    normalized: str
    seq: int
    created: datetime
    owners: tuple[str, ...]
    organization: str | None
    last_serial: int
    releases: list[_Release]


@dataclass
class _Failure:
    prefix: str
    status: int
    remaining: int | None


@dataclass(frozen=True)
class _Override:
    body: bytes | None
    content_type: str
    huge_size: int | None = None
    declare_length: bool = False


def _utc(dt: datetime) -> datetime:
    """Read a naive datetime as UTC; convert an aware one."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def _upload_time(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S")


def _upload_time_iso(dt: datetime) -> str:
    # The index drops the fraction when it is zero.
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if dt.microsecond else "%Y-%m-%dT%H:%M:%SZ"
    return dt.strftime(fmt)


def _version_key(release: _Release) -> tuple[int, Version, int]:
    """Order by version; invalid versions sort below valid ones, then by upload order."""
    try:
        return (1, Version(release.version), release.seq)
    except InvalidVersion:
        return (0, Version("0"), release.seq)


def _is_prerelease(version: str) -> bool:
    try:
        return Version(version).is_prerelease
    except InvalidVersion:
        return False


def _make_file(normalized: str, version: str) -> _File:
    content = f"fake sdist of {normalized} {version}\n".encode() * 32
    return _File(
        filename=f"{normalized.replace('-', '_')}-{version}.tar.gz",
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        md5=hashlib.md5(content, usedforsecurity=False).hexdigest(),
        blake2b_256=hashlib.blake2b(content, digest_size=32).hexdigest(),
    )


def _format_author(author_email: str | None) -> str | None:
    """E-mail addresses only, comma-separated; None when any entry lacks an ``@``."""
    emails: list[str] = []
    for _, address in getaddresses([author_email or ""]):
        if "@" not in address:
            return None
        emails.append(address)
    return ", ".join(emails) or None


def _text(value: str | None) -> str:
    """Render like the index's templates: None becomes "None", then XML-escaped."""
    return html.escape(_CONTROL_CHARS.sub("", str(value)))


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in candidates or etag in candidates


def _quality(accept: str, media_types: frozenset[str]) -> float:
    """The highest q the Accept header gives any of media_types (0 when absent)."""
    best = 0.0
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if media.lower() not in media_types:
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        best = max(best, q)
    return best


def _json_bytes(document: Any) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _rss(title: str, link: str, description: str, items: Sequence[str]) -> bytes:
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0">',
        "  <channel>",
        f"    <title>{html.escape(title)}</title>",
        f"    <link>{html.escape(link)}</link>",
        f"    <description>{html.escape(description)}</description>",
        "    <language>en</language>",
        *items,
        "  </channel>",
        "</rss>",
        "",
    ]
    return "\n".join(lines).encode()


def _rss_item(
    *,
    title: str,
    link: str,
    summary: str | None,
    author_email: str | None,
    published: datetime,
    guid: bool = False,
) -> str:
    lines = [
        "    <item>",
        f"      <title>{html.escape(title)}</title>",
        f"      <link>{html.escape(link)}</link>",
    ]
    if guid:
        lines.append(f"      <guid>{html.escape(link)}</guid>")
    lines.append(f"      <description>{_text(summary)}</description>")
    author = _format_author(author_email)
    if author is not None:
        lines.append(f"      <author>{html.escape(author)}</author>")
    lines.append(f"      <pubDate>{format_datetime(published, usegmt=True)}</pubDate>")
    lines.append("    </item>")
    return "\n".join(lines)


class FakeIndex:
    """In-memory package index served over HTTP on 127.0.0.1 at a random port.

    Projects are looked up by normalized name. Every change bumps the global
    :attr:`serial` and the project's ``_last-serial``.
    """

    def __init__(self) -> None:
        """Create an empty index; call :meth:`start` (or ``async with``) to serve it."""
        self.serial: int = 0
        self.delay: float = 0.0
        self.stale_serial: int | None = None
        self.requests: list[RecordedRequest] = []
        # (display name, version or None, epoch seconds, action, serial), ascending serials
        self.journal: list[tuple[str, str | None, int, str, int]] = []
        self.journal_page = _JOURNAL_PAGE
        self._journal_faults = 0
        self._journal_faults_after = 0
        self._frozen: tuple[int, list[tuple[str, str, int]]] | None = None
        self._projects: dict[str, _Project] = {}
        self._seq = 0
        self._failures: list[_Failure] = []
        self._overrides: dict[str, _Override] = {}
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._closing = asyncio.Event()

    # -- lifecycle -------------------------------------------------------

    async def start(self) -> None:
        """Bind 127.0.0.1 on a free port and start serving."""
        if self._runner is not None:
            raise RuntimeError("FakeIndex already started")
        self._closing.clear()

        @web.middleware
        async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
            return await self._middleware(request, handler)

        app = web.Application(middlewares=[middleware])
        app.router.add_get("/rss/updates.xml", self._rss_updates)
        app.router.add_get("/rss/packages.xml", self._rss_packages)
        app.router.add_get("/rss/project/{name}/releases.xml", self._rss_project)
        app.router.add_get("/pypi/{name}/json", self._json_project)
        app.router.add_get("/pypi/{name}/{version}/json", self._json_release)
        app.router.add_get("/simple", self._simple_no_slash)
        app.router.add_get("/simple/", self._simple_index)
        app.router.add_get("/simple/{name}/", self._simple_project)
        app.router.add_get("/simple/{name}", self._simple_project_no_slash)
        app.router.add_post("/pypi", self._xmlrpc)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])

    async def close(self) -> None:
        """Stop serving; hanging and streaming answers are cut short."""
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = None
        self._port = None

    async def __aenter__(self) -> Self:
        """Start the server."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the server."""
        await self.close()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` with no trailing slash; only once started."""
        if self._port is None:
            raise RuntimeError("FakeIndex is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def _base(self) -> str:
        return self.base_url if self._port is not None else _UNSTARTED_BASE

    # -- state -----------------------------------------------------------

    def _bump(self) -> int:
        self.serial += 1
        return self.serial

    def _log(self, project: _Project, version: str | None, action: str) -> None:
        """Write one journal row; like the index, every row has its own serial."""
        serial = self._bump()
        self.journal.append((project.name, version, int(time.time()), action, serial))
        project.last_serial = serial

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _register(
        self,
        name: str,
        owners: Sequence[str],
        organization: str | None,
        created: datetime,
    ) -> _Project:
        normalized = canonicalize_name(name)
        project = _Project(
            name=name,
            normalized=normalized,
            seq=self._next_seq(),
            created=created,
            owners=tuple(owners),
            organization=organization,
            last_serial=self.serial,
            releases=[],
        )
        self._projects[normalized] = project
        self._log(project, None, "create")
        for user in owners:
            self._log(project, None, f"add Owner {user}")
        return project

    def add_release(
        self,
        name: str,
        version: str,
        *,
        summary: str | None = "A package",
        author_email: str | None = "dev@example.com",
        author: str | None = "Dev",
        owners: Sequence[str] = ("someone",),
        organization: str | None = None,
        upload_time: datetime | None = None,
    ) -> None:
        """Upload ``version`` of ``name`` (any display spelling) with one sdist.

        A new name is registered first, with ``owners`` and ``organization``
        (it then tops the packages feed); for an existing project those two are
        ignored: use :meth:`set_owners`. The release tops the updates feed
        whatever its ``upload_time`` (default now, UTC; naive means UTC).
        """
        when = _utc(upload_time) if upload_time is not None else datetime.now(UTC)
        project = self._projects.get(canonicalize_name(name))
        if project is None:
            project = self._register(name, owners, organization, when)
        if any(r.version == version for r in project.releases):
            raise ValueError(f"{project.name} {version} already exists")
        project.releases.append(
            _Release(
                version=version,
                seq=self._next_seq(),
                upload_time=when,
                summary=summary,
                author=author,
                author_email=author_email,
                file=_make_file(project.normalized, version),
            )
        )
        self._log(project, version, "new release")
        self._log(project, version, f"add source file {project.releases[-1].file.filename}")

    def add_project(
        self,
        name: str,
        *,
        owners: Sequence[str] = ("someone",),
        organization: str | None = None,
    ) -> None:
        """Register ``name`` with no release (simple API 200, JSON API 404).

        Does nothing when the name is already registered.
        """
        if canonicalize_name(name) in self._projects:
            return
        self._register(name, owners, organization, datetime.now(UTC))

    def remove_project(self, name: str) -> None:
        """Delete a project and its releases; raises KeyError when unknown."""
        project = self._projects.pop(canonicalize_name(name))
        self._log(project, None, "remove project")

    def set_owners(self, name: str, owners: Sequence[str], organization: str | None = None) -> None:
        """Replace a project's owners and organization; raises KeyError when unknown.

        The journal gets an ``add Owner``/``remove Owner`` row per user that changed; a
        change of organization alone bumps the serial with no row (the journal has holes).
        """
        project = self._projects[canonicalize_name(name)]
        before = project.owners
        project.owners = tuple(owners)
        project.organization = organization
        changes = [f"remove Owner {u}" for u in before if u not in owners]
        changes += [f"add Owner {u}" for u in owners if u not in before]
        for action in changes:
            self._log(project, None, action)
        if not changes:
            project.last_serial = self._bump()

    def _listing(self) -> list[tuple[str, str, int]]:
        return [
            (p.normalized, p.name, p.last_serial)
            for p in sorted(self._projects.values(), key=lambda p: p.normalized)
        ]

    def freeze_listing(self) -> None:
        """Serve ``/simple/`` as it is now (body and serial) until :meth:`thaw_listing`:
        a cache holding an old listing while the index moves on."""
        self._frozen = (self.serial, self._listing())

    def thaw_listing(self) -> None:
        """Serve the current ``/simple/`` again."""
        self._frozen = None

    def journal_action(self, name: str, action: str, version: str | None = None) -> None:
        """Write a journal row of any other action (``yank release``, ``project quarantined``)."""
        self._log(self._projects[canonicalize_name(name)], version, action)

    def rate_limit_journal(self, times: int = 1, *, after: int = 0) -> None:
        """Answer ``times`` XML-RPC calls with the index's rate-limit fault -32500, once
        ``after`` more calls have been answered normally."""
        self._journal_faults += times
        self._journal_faults_after = after

    def fail(self, path_prefix: str, status: int, times: int | None = 1) -> None:
        """Answer ``status`` (plain text) to the next ``times`` requests under path_prefix.

        ``times=None`` fails until :meth:`clear_failures`. Rules are tried in the
        order they were added.
        """
        self._failures.append(_Failure(path_prefix, status, times))

    def clear_failures(self) -> None:
        """Forget every rule added with :meth:`fail`."""
        self._failures.clear()

    def set_body(self, path: str, body: bytes | None, content_type: str = _XML) -> None:
        """Answer 200 with these raw bytes for exactly ``path``; ``None`` removes it."""
        if body is None:
            self._overrides.pop(path, None)
        else:
            self._overrides[path] = _Override(body, content_type)

    def set_huge_body(
        self,
        path: str,
        size: int,
        *,
        content_type: str = _XML,
        declare_length: bool = False,
    ) -> None:
        """Stream ``size`` bytes of XML-looking junk for ``path`` in 64 KiB chunks.

        The body is never built in memory. By default it is sent chunked, with no
        Content-Length, so only a streaming size cap can stop it;
        ``declare_length=True`` announces the size up front instead.
        """
        self._overrides[path] = _Override(None, content_type, size, declare_length)

    # -- serving ---------------------------------------------------------

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake up at once when the server closes."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    def _take_failure(self, path: str) -> _Failure | None:
        for failure in self._failures:
            if path.startswith(failure.prefix):
                if failure.remaining is not None:
                    failure.remaining -= 1
                    if failure.remaining <= 0:
                        self._failures.remove(failure)
                return failure
        return None

    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers=dict(request.headers),
            )
        )
        if self.delay > 0:
            await self._sleep(self.delay)
        failure = self._take_failure(request.path)
        if failure is not None:
            return web.Response(
                status=failure.status,
                text=f"{failure.status} injected failure",
                content_type="text/plain",
            )
        override = self._overrides.get(request.path)
        if override is not None:
            if override.huge_size is not None:
                return await self._stream_junk(request, override)
            return web.Response(body=override.body, headers={"Content-Type": override.content_type})
        return await handler(request)

    async def _stream_junk(self, request: web.Request, override: _Override) -> web.StreamResponse:
        size = override.huge_size or 0
        response = web.StreamResponse(headers={"Content-Type": override.content_type})
        if override.declare_length:
            response.content_length = size
        await response.prepare(request)
        head = b'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>\n'
        item = b"<item><title>junk 0.0</title><description>xxxxxxxx</description></item>\n"
        chunk = (item * (_CHUNK // len(item) + 1))[:_CHUNK]
        sent = 0
        try:
            first = head[:size]
            await response.write(first)
            sent += len(first)
            while sent < size and not self._closing.is_set():
                piece = chunk[: size - sent]
                await response.write(piece)
                sent += len(piece)
            await response.write_eof()
        except ConnectionError:
            # The client gave up (e.g. its size cap tripped): that is the point.
            pass
        return response

    def _cacheable(
        self,
        request: web.Request,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        """A 200 with an ETag, or a bodiless 304 when If-None-Match matches."""
        etag = _etag(body)
        all_headers = {"ETag": etag, **(headers or {})}
        if _etag_matches(request.headers.get("If-None-Match"), etag):
            return web.Response(status=304, headers=all_headers)
        all_headers["Content-Type"] = content_type
        return web.Response(body=body, headers=all_headers)

    def _lookup(self, name: str) -> _Project | None:
        return self._projects.get(canonicalize_name(name))

    # -- RSS -------------------------------------------------------------

    def _release_link(self, project: _Project, version: str) -> str:
        return f"{self._base}/project/{project.normalized}/{version}/"

    def render_updates_feed(self) -> bytes:
        """The body ``/rss/updates.xml`` answers right now."""
        pairs = [(p, r) for p in self._projects.values() for r in p.releases]
        pairs.sort(key=lambda pr: pr[1].seq, reverse=True)
        items = [
            _rss_item(
                title=f"{project.name} {release.version}",
                link=self._release_link(project, release.version),
                summary=release.summary,
                author_email=release.author_email,
                published=release.upload_time,
            )
            for project, release in pairs[:_UPDATES_LIMIT]
        ]
        return _rss(
            "PyPI recent updates",
            f"{self._base}/",
            "Recent updates to the Python Package Index",
            items,
        )

    def render_packages_feed(self) -> bytes:
        """The body ``/rss/packages.xml`` answers right now."""
        # Like the index, a project without a release is left out.
        projects = sorted(
            (p for p in self._projects.values() if p.releases),
            key=lambda p: p.seq,
            reverse=True,
        )
        items = []
        for project in projects[:_PACKAGES_LIMIT]:
            newest = max(project.releases, key=_version_key)
            items.append(
                _rss_item(
                    title=f"{project.name} added to PyPI",
                    link=f"{self._base}/project/{project.normalized}/",
                    summary=newest.summary,
                    author_email=newest.author_email,
                    published=project.created,
                    guid=True,
                )
            )
        return _rss(
            "PyPI newest packages",
            f"{self._base}/",
            "Newest packages registered at the Python Package Index",
            items,
        )

    async def _rss_updates(self, request: web.Request) -> web.StreamResponse:
        return self._cacheable(request, self.render_updates_feed(), _XML)

    async def _rss_packages(self, request: web.Request) -> web.StreamResponse:
        return self._cacheable(request, self.render_packages_feed(), _XML)

    async def _rss_project(self, request: web.Request) -> web.StreamResponse:
        project = self._lookup(request.match_info["name"])
        if project is None:
            raise web.HTTPNotFound(text="404 Not Found")
        releases = sorted(project.releases, key=lambda r: r.seq, reverse=True)
        items = [
            _rss_item(
                title=release.version,
                link=self._release_link(project, release.version),
                summary=release.summary,
                author_email=release.author_email,
                published=release.upload_time,
            )
            for release in releases[:_PROJECT_FEED_LIMIT]
        ]
        body = _rss(
            f"PyPI recent updates for {project.name}",
            f"{self._base}/project/{project.normalized}/",
            f"Recent updates to the Python Package Index for {project.name}",
            items,
        )
        return self._cacheable(request, body, _XML)

    # -- JSON API --------------------------------------------------------

    def _file_json(self, file: _File, release: _Release) -> dict[str, Any]:
        return {
            "comment_text": "",
            "digests": {
                "blake2b_256": file.blake2b_256,
                "md5": file.md5,
                "sha256": file.sha256,
            },
            "downloads": -1,
            "filename": file.filename,
            "has_sig": False,
            "md5_digest": file.md5,
            "packagetype": "sdist",
            "python_version": "source",
            "requires_python": None,
            "size": file.size,
            "upload_time": _upload_time(release.upload_time),
            "upload_time_iso_8601": _upload_time_iso(release.upload_time),
            "url": f"{self._base}{file.path}",
            "yanked": False,
            "yanked_reason": None,
        }

    def _info_json(self, project: _Project, release: _Release) -> dict[str, Any]:
        project_url = f"{self._base}/project/{project.normalized}/"
        return {
            "author": release.author,
            "author_email": release.author_email,
            "bugtrack_url": None,
            "classifiers": [],
            "description": "",
            "description_content_type": None,
            "docs_url": None,
            "download_url": None,
            "downloads": {"last_day": -1, "last_month": -1, "last_week": -1},
            "dynamic": None,
            "home_page": None,
            "keywords": None,
            "license": None,
            "license_expression": None,
            "license_files": None,
            "maintainer": None,
            "maintainer_email": None,
            "name": project.name,
            "package_url": project_url,
            "platform": None,
            "project_url": project_url,
            "project_urls": None,
            "provides_extra": None,
            "release_url": self._release_link(project, release.version),
            "requires_dist": None,
            "requires_python": None,
            "summary": release.summary,
            "version": release.version,
            "yanked": False,
            "yanked_reason": None,
        }

    def _ownership_json(self, project: _Project) -> dict[str, Any]:
        return {
            "organization": project.organization,
            "roles": [{"role": "Owner", "user": user} for user in project.owners],
        }

    def _json_answer(self, request: web.Request, project: _Project, document: Any) -> web.Response:
        return self._cacheable(
            request,
            _json_bytes(document),
            "application/json",
            {
                "X-PyPI-Last-Serial": str(project.last_serial),
                "Cache-Control": "max-age=900, public",
            },
        )

    @staticmethod
    def _json_not_found() -> web.Response:
        return web.Response(
            status=404,
            body=_json_bytes({"message": "Not Found"}),
            content_type="application/json",
        )

    async def _json_project(self, request: web.Request) -> web.StreamResponse:
        project = self._lookup(request.match_info["name"])
        if project is None or not project.releases:
            return self._json_not_found()
        stable = [r for r in project.releases if not _is_prerelease(r.version)]
        current = max(stable or project.releases, key=_version_key)
        document = {
            "info": self._info_json(project, current),
            "last_serial": project.last_serial,
            "ownership": self._ownership_json(project),
            "releases": {r.version: [self._file_json(r.file, r)] for r in project.releases},
            "urls": [self._file_json(current.file, current)],
            "vulnerabilities": [],
        }
        return self._json_answer(request, project, document)

    async def _json_release(self, request: web.Request) -> web.StreamResponse:
        project = self._lookup(request.match_info["name"])
        wanted = request.match_info["version"]
        release = None
        if project is not None:
            release = next((r for r in project.releases if r.version == wanted), None)
        if project is None or release is None:
            return self._json_not_found()
        document = {
            "info": self._info_json(project, release),
            "last_serial": project.last_serial,
            "ownership": self._ownership_json(project),
            "urls": [self._file_json(release.file, release)],
            "vulnerabilities": [],
        }
        return self._json_answer(request, project, document)

    # -- simple API ------------------------------------------------------

    async def _xmlrpc(self, request: web.Request) -> web.StreamResponse:
        """``POST /pypi``: the journal calls of the index's XML-RPC interface."""
        try:
            params, method = xmlrpc.client.loads(await request.read())
        except Exception:  # any unparsable call is a client error
            return web.Response(status=400, text="bad XML-RPC request")
        if self._journal_faults > 0 and self._journal_faults_after > 0:
            self._journal_faults_after -= 1
        elif self._journal_faults > 0:
            self._journal_faults -= 1
            fault = xmlrpc.client.Fault(
                _RATE_LIMIT_FAULT,
                "HTTPTooManyRequests: The action could not be performed because there were "
                "too many requests by the client. Limit may reset in 1 seconds.",
            )
            return self._xmlrpc_answer(xmlrpc.client.dumps(fault, methodresponse=True))
        if method == "changelog_last_serial" and not params:
            result: Any = self.serial
        elif method == "changelog_since_serial" and len(params) == 1 and isinstance(params[0], int):
            since = params[0]
            rows = [list(row) for row in self.journal if row[4] > since]
            result = rows[: self.journal_page]
        else:
            fault = xmlrpc.client.Fault(-32601, f"requested method not found: {method}")
            return self._xmlrpc_answer(xmlrpc.client.dumps(fault, methodresponse=True))
        body = xmlrpc.client.dumps((result,), methodresponse=True, allow_none=True)
        return self._xmlrpc_answer(body)

    @staticmethod
    def _xmlrpc_answer(body: str) -> web.Response:
        # The index answers faults with HTTP 200, like any XML-RPC server.
        return web.Response(body=body.encode(), headers={"Content-Type": "text/xml"})

    @staticmethod
    def _negotiate(request: web.Request) -> str | None:
        """The simple content type to answer: SIMPLE_JSON, SIMPLE_HTML or None (text/html)."""
        accept = request.headers.get("Accept", "")
        q_json = _quality(accept, _SIMPLE_JSON_TYPES)
        q_html = _quality(accept, _SIMPLE_HTML_TYPES)
        if q_json > 0 and q_json >= q_html:
            return SIMPLE_JSON
        if _quality(accept, frozenset({SIMPLE_HTML})) > 0:
            return SIMPLE_HTML
        return None

    def _simple_answer(
        self, request: web.Request, kind: str | None, body: bytes, serial: int
    ) -> web.Response:
        content_type = kind or "text/html; charset=utf-8"
        return self._cacheable(
            request,
            body,
            content_type,
            {
                "X-PyPI-Last-Serial": str(serial),
                "Vary": "Accept",
                "Cache-Control": "max-age=600, public",
            },
        )

    async def _simple_no_slash(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPMovedPermanently("/simple/")

    async def _simple_index(self, request: web.Request) -> web.StreamResponse:
        if self._frozen is not None:
            serial, projects = self._frozen
        else:
            serial, projects = self.serial, self._listing()
        if self.stale_serial is not None:
            serial = self.stale_serial
        kind = self._negotiate(request)
        if kind == SIMPLE_JSON:
            body = _json_bytes(
                {
                    "meta": {"_last-serial": serial, "api-version": "1.4"},
                    "projects": [{"_last-serial": s, "name": name} for _, name, s in projects],
                }
            )
        else:
            lines = [
                "<!DOCTYPE html>",
                "<html>",
                "  <head>",
                '    <meta name="pypi:repository-version" content="1.4">',
                "    <title>Simple index</title>",
                "  </head>",
                "  <body>",
                *(
                    f'    <a href="/simple/{norm}/">{html.escape(name)}</a>'
                    for norm, name, _ in projects
                ),
                "  </body>",
                "</html>",
                "",
            ]
            body = "\n".join(lines).encode()
        return self._simple_answer(request, kind, body, serial)

    async def _simple_project_no_slash(self, request: web.Request) -> web.StreamResponse:
        normalized = canonicalize_name(request.match_info["name"])
        raise web.HTTPMovedPermanently(f"/simple/{normalized}/")

    async def _simple_project(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        normalized = canonicalize_name(name)
        if name != normalized:
            raise web.HTTPMovedPermanently(f"/simple/{normalized}/")
        project = self._projects.get(normalized)
        if project is None:
            raise web.HTTPNotFound(text="404 Not Found")
        releases = sorted(project.releases, key=_version_key)
        kind = self._negotiate(request)
        if kind == SIMPLE_JSON:
            body = _json_bytes(
                {
                    "meta": {"_last-serial": project.last_serial, "api-version": "1.4"},
                    "name": project.normalized,
                    "project-status": {"status": "active"},
                    "versions": [r.version for r in releases],
                    "files": [
                        {
                            "core-metadata": False,
                            "data-dist-info-metadata": False,
                            "filename": r.file.filename,
                            "hashes": {"sha256": r.file.sha256},
                            "provenance": None,
                            "requires-python": None,
                            "size": r.file.size,
                            "upload-time": _upload_time_iso(r.upload_time),
                            "url": f"{self._base}{r.file.path}",
                            "yanked": False,
                        }
                        for r in releases
                    ],
                }
            )
        else:
            lines = [
                "<!DOCTYPE html>",
                "<html>",
                "  <head>",
                '    <meta name="pypi:repository-version" content="1.4">',
                '    <meta name="pypi:project-status" content="active">',
                f"    <title>Links for {project.normalized}</title>",
                "  </head>",
                "  <body>",
                f"    <h1>Links for {project.normalized}</h1>",
                *(
                    f'    <a href="{self._base}{r.file.path}#sha256={r.file.sha256}">'
                    f"{r.file.filename}</a><br />"
                    for r in releases
                ),
                "  </body>",
                "</html>",
                f"<!--SERIAL {project.last_serial}-->",
                "",
            ]
            body = "\n".join(lines).encode()
        return self._simple_answer(request, kind, body, project.last_serial)


# -- hostile bodies --------------------------------------------------------


def billion_laughs_feed() -> bytes:
    """An RSS document whose title expands to 10**9 "lol"s (entity-expansion bomb)."""
    entities = ['  <!ENTITY lol0 "lol">']
    for level in range(1, 10):
        ref = f"&lol{level - 1};"
        entities.append(f'  <!ENTITY lol{level} "{ref * 10}">')
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        "<!DOCTYPE rss [",
        *entities,
        "]>",
        '<rss version="2.0">',
        "  <channel>",
        "    <title>PyPI recent updates</title>",
        "    <item>",
        "      <title>&lol9; 1.0</title>",
        "      <description>&lol9;</description>",
        "    </item>",
        "  </channel>",
        "</rss>",
        "",
    ]
    return "\n".join(lines).encode()


def external_entity_feed() -> bytes:
    """An RSS document pulling a local file in through an external (SYSTEM) entity."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
        '<rss version="2.0">',
        "  <channel>",
        "    <title>PyPI recent updates</title>",
        "    <item>",
        "      <title>&xxe; 1.0</title>",
        "      <description>&xxe;</description>",
        "    </item>",
        "  </channel>",
        "</rss>",
        "",
    ]
    return "\n".join(lines).encode()


def truncated_feed(fake: FakeIndex) -> bytes:
    """The fake's current updates feed cut off in the middle (never well-formed)."""
    body = fake.render_updates_feed()
    return body[: max(1, len(body) // 2)]
