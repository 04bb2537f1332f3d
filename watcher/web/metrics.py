"""``GET /metrics``: the service's metrics in the Prometheus text format.

Not behind the API token, like ``/healthz``: Prometheus scrapes it, and it carries no text
a package supplied (every label is one of a fixed set, see :mod:`watcher.metrics`).
"""

from __future__ import annotations

from aiohttp import web

from watcher.metrics import Metrics
from watcher.web.views import DATABASE

PATH = "/metrics"
METRICS = web.AppKey("metrics", Metrics)


async def metrics_text(request: web.Request) -> web.Response:
    """The exposition; the store's counts as last read (at most every 10 s)."""
    metrics = request.app[METRICS]
    await metrics.refresh(request.app[DATABASE])
    body, content_type = metrics.render(request.headers.get("Accept"))
    return web.Response(body=body, headers={"Content-Type": content_type})


def add_routes(app: web.Application, metrics: Metrics | None) -> None:
    """Register ``GET /metrics``, serving ``metrics`` (a registry of the app's own when
    ``None``: the build, no runs)."""
    app[METRICS] = metrics if metrics is not None else Metrics()
    app.router.add_get(PATH, metrics_text)
