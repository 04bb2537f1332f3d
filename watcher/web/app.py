"""App factory, middlewares (JSON errors, bearer auth) and views."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from watcher import __version__
from watcher.checks import NameChecker
from watcher.errors import IndexClientError, InvalidName
from watcher.store import Database, queries

log = logging.getLogger(__name__)

CHECKER = web.AppKey("checker", NameChecker)
DATABASE = web.AppKey("database", Database)
API_TOKEN = web.AppKey("api_token", str)

_HEALTH_TIMEOUT = 5.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message, "status": status}, status=status)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error answers JSON, including aiohttp's own 404/405."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error(exc.status, exc.reason)
    except Exception:
        log.exception("unhandled error serving %s", request.path)
        return _error(500, "internal error")


@web.middleware
async def bearer_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """When an API token is configured, every ``/v1/`` request must present it."""
    token = request.app[API_TOKEN]
    if token and request.path.startswith("/v1/"):
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
            response = _error(401, "missing or wrong bearer token")
            response.headers["WWW-Authenticate"] = 'Bearer realm="watcher"'
            return response
    return await handler(request)


async def healthz(request: web.Request) -> web.Response:
    """200 while the daemon runs and the database answers, else 503."""
    try:
        # A database that accepts connections but never answers must not hang the probe.
        async with asyncio.timeout(_HEALTH_TIMEOUT):
            await request.app[DATABASE].ping()
    except Exception as exc:  # any driver error or the timeout means "not healthy"
        log.warning("health check: database not answering: %s", exc)
        return web.json_response({"status": "unhealthy", "database": "down"}, status=503)
    return web.json_response({"status": "ok", "version": __version__})


async def status(request: web.Request) -> web.Response:
    """``GET /v1/status``: where each source stands (feeds, whole index, change log, queues)."""
    async with request.app[DATABASE].transaction() as session:
        return web.json_response(await queries.coverage(session))


async def name_verdict(request: web.Request) -> web.Response:
    """``GET /v1/names/{name}``: the risk verdict for one name."""
    name = request.match_info.get("name", "")
    try:
        verdict = await request.app[CHECKER].check(name)
    except InvalidName as exc:
        return _error(400, str(exc))
    except IndexClientError as exc:
        log.warning("name check of %r: index unavailable: %s", name, exc)
        return _error(503, "the package index could not be asked; try again later")
    return web.json_response(verdict.to_json())


def create_app(checker: NameChecker, database: Database, api_token: str | None) -> web.Application:
    """Build the HTTP application."""
    app = web.Application(middlewares=[json_errors, bearer_auth], client_max_size=64 * 1024)
    app[CHECKER] = checker
    app[DATABASE] = database
    app[API_TOKEN] = api_token or ""
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/v1/status", status)
    # Match everything below /v1/names/ (slashes, empty, line breaks: `.` alone stops at a
    # newline) so bad names get a JSON 400, not a routing 404.
    app.router.add_get(r"/v1/names/{name:[\s\S]*}", name_verdict)
    return app
