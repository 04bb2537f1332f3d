"""``GET /v1/openapi.json``: the API's OpenAPI 3.1 document.

The document is data (``openapi.json`` beside this module, shipped in the wheel with the
package) rather than code: it is long, and a test keeps it in step with the routes the app
registers and fuzzes the live app against it (schemathesis). Only ``info.version`` is filled
in here, from the running version.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from aiohttp import web

from watcher import __version__

PATH = "/v1/openapi.json"
_RESOURCE = "openapi.json"


@cache
def _text() -> str:
    # Read once: the document cannot change while the service runs.
    return resources.files(__package__ or "watcher.web").joinpath(_RESOURCE).read_text("utf-8")


def document() -> dict[str, Any]:
    """The OpenAPI document (a fresh copy the caller may change), with this version."""
    doc: dict[str, Any] = json.loads(_text())
    doc["info"]["version"] = __version__
    return doc


@cache
def _body() -> bytes:
    return json.dumps(document(), separators=(",", ":")).encode()


async def openapi_json(request: web.Request) -> web.Response:
    """``GET /v1/openapi.json``: the document (behind the bearer token, like all of ``/v1/``)."""
    return web.Response(body=_body(), content_type="application/json")


def add_routes(app: web.Application) -> None:
    """Register ``GET /v1/openapi.json``."""
    app.router.add_get(PATH, openapi_json)
