"""HTTP semantics the index applies to every body: ETags, 304s and content negotiation."""

from __future__ import annotations

import hashlib

from aiohttp import web

__all__ = [
    "SIMPLE_HTML",
    "SIMPLE_JSON",
    "XML",
    "cacheable",
    "negotiate_simple",
]

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
SIMPLE_HTML = "application/vnd.pypi.simple.v1+html"
XML = "text/xml; charset=UTF-8"

_SIMPLE_JSON_TYPES = frozenset({SIMPLE_JSON, "application/vnd.pypi.simple.latest+json"})
_SIMPLE_HTML_TYPES = frozenset(
    {SIMPLE_HTML, "application/vnd.pypi.simple.latest+html", "text/html", "*/*"}
)


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in candidates or etag in candidates


def cacheable(
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


def negotiate_simple(request: web.Request) -> str | None:
    """The simple content type to answer: SIMPLE_JSON, SIMPLE_HTML or None (text/html).

    JSON wins ties, as on the index; the versioned HTML type is only named when
    the client asked for it explicitly.
    """
    accept = request.headers.get("Accept", "")
    q_json = _quality(accept, _SIMPLE_JSON_TYPES)
    q_html = _quality(accept, _SIMPLE_HTML_TYPES)
    if q_json > 0 and q_json >= q_html:
        return SIMPLE_JSON
    if _quality(accept, frozenset({SIMPLE_HTML})) > 0:
        return SIMPLE_HTML
    return None
