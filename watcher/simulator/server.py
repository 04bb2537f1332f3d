"""The simulated index served over HTTP: routes, request log and lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler
from packaging.utils import canonicalize_name

from watcher.simulator import documents, feeds, journal
from watcher.simulator.faults import FaultKnobs, failure_response, stream_junk
from watcher.simulator.local import LocalServer
from watcher.simulator.model import IndexState, Project
from watcher.simulator.responses import SIMPLE_JSON, XML, cacheable, negotiate_simple

__all__ = ["RecordedRequest", "SimulatedIndex"]

# Links rendered before start() (e.g. a feed body built for a test) need some base.
_UNSTARTED_BASE = "http://127.0.0.1"


@dataclass(frozen=True)
class RecordedRequest:
    """One request the simulated index received, failed or not."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


class SimulatedIndex(IndexState, FaultKnobs, LocalServer):
    """An in-memory package index served over HTTP by a real aiohttp server.

    It serves the three RSS feeds, the JSON API, the simple API (PEP 503 HTML and
    PEP 691 JSON) and the XML-RPC journal (``changelog_since_serial``) in the
    index's formats, from state changed between polls with the mutators of
    :class:`~watcher.simulator.model.IndexState`. The knobs of
    :class:`~watcher.simulator.faults.FaultKnobs` make it misbehave. Every request
    is appended to :attr:`requests`.
    """

    def __init__(self) -> None:
        """Create an empty index; call :meth:`start` (or ``async with``) to serve it."""
        IndexState.__init__(self)
        FaultKnobs.__init__(self)
        self.requests: list[RecordedRequest] = []
        self.journal_page: int = journal.JOURNAL_PAGE
        LocalServer.__init__(self)

    # -- serving -----------------------------------------------------------

    def build_app(self) -> web.Application:
        """The index's routes, behind the request log and the failure knobs."""

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
        return app

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` with no trailing slash; only once started."""
        return self.root

    @property
    def _base(self) -> str:
        return self.root if self.started else _UNSTARTED_BASE

    # -- rendering without a request -------------------------------------

    def render_updates_feed(self) -> bytes:
        """The body ``/rss/updates.xml`` answers right now."""
        return feeds.updates_feed(self.projects(), self._base)

    def render_packages_feed(self) -> bytes:
        """The body ``/rss/packages.xml`` answers right now."""
        return feeds.packages_feed(self.projects(), self._base)

    # -- serving ---------------------------------------------------------

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake up at once when the server closes."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers=dict(request.headers),
            )
        )
        resource = request.match_info.route.resource
        delay = self._delay_for(resource.canonical if resource is not None else None)
        if delay > 0:
            await self._sleep(delay)
        status = self._take_failure(request.path)
        if status is not None:
            return failure_response(status)
        override = self._override(request.path)
        if override is not None:
            if override.huge_size is not None:
                return await stream_junk(request, override, self._closing)
            return web.Response(body=override.body, headers={"Content-Type": override.content_type})
        return await handler(request)

    def _found(self, request: web.Request) -> Project:
        """The project named in the route; a plain-text 404 when unknown."""
        project = self.lookup(request.match_info["name"])
        if project is None:
            raise web.HTTPNotFound(text="404 Not Found")
        return project

    # -- RSS -------------------------------------------------------------

    async def _rss_updates(self, request: web.Request) -> web.StreamResponse:
        return cacheable(request, self.render_updates_feed(), XML)

    async def _rss_packages(self, request: web.Request) -> web.StreamResponse:
        return cacheable(request, self.render_packages_feed(), XML)

    async def _rss_project(self, request: web.Request) -> web.StreamResponse:
        project = self._found(request)
        return cacheable(request, feeds.project_feed(project, self._base), XML)

    # -- JSON API --------------------------------------------------------

    @staticmethod
    def _json_answer(
        request: web.Request, project: Project | None, body: bytes | None
    ) -> web.Response:
        """The JSON API's answer: ``body``, or its JSON 404 when there is none."""
        if project is None or body is None:
            return web.Response(
                status=404,
                body=documents.json_bytes({"message": "Not Found"}),
                content_type="application/json",
            )
        headers = {
            "X-PyPI-Last-Serial": str(project.last_serial),
            "Cache-Control": "max-age=900, public",
        }
        return cacheable(request, body, "application/json", headers)

    async def _json_project(self, request: web.Request) -> web.StreamResponse:
        project = self.lookup(request.match_info["name"])
        body = None if project is None else documents.project_document(project, self._base)
        return self._json_answer(request, project, body)

    async def _json_release(self, request: web.Request) -> web.StreamResponse:
        project = self.lookup(request.match_info["name"])
        version = request.match_info["version"]
        body = None if project is None else documents.release_document(project, version, self._base)
        return self._json_answer(request, project, body)

    # -- XML-RPC journal -------------------------------------------------

    async def _xmlrpc(self, request: web.Request) -> web.StreamResponse:
        """``POST /pypi``: the journal calls of the index's XML-RPC interface."""
        try:
            method, params = journal.parse_call(await request.read())
        except journal.BadCall:
            return web.Response(status=400, text="bad XML-RPC request")
        if self._take_journal_fault():
            body = journal.rate_limit_fault()
        else:
            body = journal.answer_call(
                method, params, serial=self.serial, journal=self.journal, page=self.journal_page
            )
        # The index answers faults with HTTP 200, like any XML-RPC server.
        return web.Response(body=body, headers={"Content-Type": "text/xml"})

    # -- simple API ------------------------------------------------------

    @staticmethod
    def _simple_answer(
        request: web.Request, kind: str | None, body: bytes, serial: int
    ) -> web.Response:
        headers = {
            "X-PyPI-Last-Serial": str(serial),
            "Vary": "Accept",
            "Cache-Control": "max-age=600, public",
        }
        return cacheable(request, body, kind or "text/html; charset=utf-8", headers)

    async def _simple_no_slash(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPMovedPermanently("/simple/")

    async def _simple_index(self, request: web.Request) -> web.StreamResponse:
        serial, listing = self.listing()
        if self.stale_serial is not None:
            serial = self.stale_serial
        kind = negotiate_simple(request)
        if kind == SIMPLE_JSON:
            body = documents.simple_index_json(serial, listing)
        else:
            body = documents.simple_index_html(listing)
        return self._simple_answer(request, kind, body, serial)

    async def _simple_project_no_slash(self, request: web.Request) -> web.StreamResponse:
        normalized = canonicalize_name(request.match_info["name"])
        raise web.HTTPMovedPermanently(f"/simple/{normalized}/")

    async def _simple_project(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        normalized = canonicalize_name(name)
        if name != normalized:
            raise web.HTTPMovedPermanently(f"/simple/{normalized}/")
        project = self._found(request)
        kind = negotiate_simple(request)
        if kind == SIMPLE_JSON:
            body = documents.simple_project_json(project, self._base)
        else:
            body = documents.simple_project_html(project, self._base)
        return self._simple_answer(request, kind, body, project.last_serial)
