"""App factory and middlewares (JSON errors, bearer auth)."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from watcher.alerts.acted_notes import ActedNotes
from watcher.checks import NameChecker
from watcher.metrics import Metrics
from watcher.store import Database
from watcher.web import depcheck, findings, openapi, slack_actions, ui
from watcher.web import metrics as metrics_route
from watcher.web.slack_actions import SlackActions
from watcher.web.views import (
    CHECKER,
    DATABASE,
    SOURCES,
    SourcesProbe,
    error,
    healthz,
    name_verdict,
    status,
)

log = logging.getLogger(__name__)

API_TOKEN = web.AppKey("api_token", str)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error answers JSON, including aiohttp's own 404/405."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error(exc.status, exc.reason)
    except Exception:
        log.exception("unhandled error serving %s", request.path)
        return error(500, "internal error")


@web.middleware
async def bearer_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """When an API token is configured, every ``/v1/`` request must present it."""
    token = request.app[API_TOKEN]
    if token and request.path.startswith("/v1/"):
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
            response = error(401, "missing or wrong bearer token")
            response.headers["WWW-Authenticate"] = 'Bearer realm="watcher"'
            return response
    return await handler(request)


def create_app(
    checker: NameChecker,
    database: Database,
    api_token: str | None,
    *,
    sources: SourcesProbe | None = None,
    slack: SlackActions | None = None,
    index_url: str | None = None,
    metrics: Metrics | None = None,
    acted_notes: ActedNotes | None = None,
) -> web.Application:
    """Build the HTTP application. ``sources`` tells ``/healthz`` how each source's runs
    went (the service passes its jobs' health); without it no source is shown. ``slack``
    verifies and carries out the alerts' button clicks (``POST /slack/actions``);
    ``index_url`` is the index whose host dependency files may point at (``POST /v1/check``);
    ``metrics`` is what ``GET /metrics`` serves (the service's); ``acted_notes`` updates the
    Slack alerts of findings changed through the API or the page (when Slack is set)."""
    app = web.Application(middlewares=[json_errors, bearer_auth], client_max_size=64 * 1024)
    app[CHECKER] = checker
    app[DATABASE] = database
    app[API_TOKEN] = api_token or ""
    if sources is not None:
        app[SOURCES] = sources
    if acted_notes is not None:
        app[findings.ACTED_NOTES] = acted_notes
    app.router.add_get("/healthz", healthz)
    metrics_route.add_routes(app, metrics)  # no token, like /healthz (no package's text)
    app.router.add_get("/v1/status", status)
    openapi.add_routes(app)  # the document of every route here (tests keep them in step)
    # Match everything below /v1/names/ (slashes, empty, line breaks: `.` alone stops at a
    # newline) so bad names get a JSON 400, not a routing 404.
    app.router.add_get(r"/v1/names/{name:[\s\S]*}", name_verdict)
    findings.add_routes(app)
    depcheck.add_routes(app, index_url)
    slack_actions.add_routes(app, slack)  # signed by Slack, not behind the bearer token
    ui.add_routes(app, api_token or "", index_url)  # the findings page: a session cookie
    return app
