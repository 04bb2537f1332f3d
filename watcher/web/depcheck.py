"""``POST /v1/check``: dependency files as a CI gate, over HTTP.

The body is JSON, ``{"files": {"requirements.txt": "...", "ci/base.txt": "..."}, "entry":
["requirements.txt"], "format": "json"}``: every file the check may read (``-r``/``-c``
includes are looked up among them, by path relative to the including file; the disk is never
read), the ones to check (default: all of them), and ``json`` or ``sarif``. A plain-text body
is one requirements file (``?filename=`` names it). The answer is 200 with ``risky`` and the
details (or a SARIF log), whatever the verdict; 400 for input that cannot be used (malformed
file, include cycle, bad JSON), 413 for too much of it.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from watcher import __version__, depcheck, depfiles
from watcher.web.views import CHECKER, error

BODY_LIMIT = 4 * 1024 * 1024
MAX_FILES = 64
MAX_FILE_NAME = 255
INDEX_URL = web.AppKey("index_url", str)


class _TooLarge(Exception):
    pass


async def _body(request: web.Request) -> bytes:
    # The app-wide limit is a few kilobytes (no other route takes more); read this body
    # ourselves, bounded, so an endless one costs at most the limit.
    if (request.content_length or 0) > BODY_LIMIT:
        raise _TooLarge
    body = await request.content.read(BODY_LIMIT + 1)
    if len(body) > BODY_LIMIT:
        raise _TooLarge
    return body


def _files_of(request: web.Request, body: bytes) -> tuple[dict[str, str], list[str], str]:
    """The uploaded files, the entries to check and the output format; ValueError if unusable."""
    if request.content_type in ("text/plain", "application/octet-stream"):
        name = request.query.get("filename", "requirements.txt")
        if not name or len(name) > MAX_FILE_NAME:  # the same limit as a JSON body's names
            raise ValueError(f"'filename' is 1 to {MAX_FILE_NAME} characters")
        return {name: body.decode("utf-8", errors="strict")}, [name], "json"
    document = json.loads(body)
    if not isinstance(document, dict):
        raise ValueError("the body must be a JSON object with 'files'")
    files = document.get("files")
    if not isinstance(files, dict) or not files:
        raise ValueError("'files' must be an object of file name to file text")
    if len(files) > MAX_FILES:
        raise ValueError(f"at most {MAX_FILES} files")
    for name, text in files.items():
        if not name or len(name) > MAX_FILE_NAME or not isinstance(text, str):
            raise ValueError(f"'files' maps names (1 to {MAX_FILE_NAME} characters) to text")
    entry = document.get("entry", list(files))
    if not isinstance(entry, list) or not all(isinstance(e, str) and e in files for e in entry):
        raise ValueError("'entry' must list names of 'files'")
    output = document.get("format", "json")
    if output not in ("json", "sarif"):
        raise ValueError("'format' is 'json' or 'sarif'")
    return files, entry, output


async def check_files(request: web.Request) -> web.Response:
    """``POST /v1/check``: see the module's doc."""
    try:
        body = await _body(request)
    except _TooLarge:
        return error(413, f"the body is over {BODY_LIMIT} bytes")
    try:
        files, entry, output = _files_of(request, body)
    except UnicodeDecodeError:
        return error(400, "the body is not UTF-8 text")
    except ValueError as exc:  # json.JSONDecodeError included
        return error(400, str(exc).splitlines()[0][:300])
    except RecursionError:  # "[[[[..." within the size limit: json's parser recurses
        return error(400, "the body is nested too deeply")
    checker = request.app[CHECKER]
    catalog = checker.catalog.current.catalog
    hosts = depcheck.hosts_of(catalog, request.app.get(INDEX_URL))
    resolver = depfiles.MemoryIncludes(files)
    reports = []
    try:
        for name in entry:
            reports.append(
                depfiles.parse(name, files[name], includes=resolver, allowed_hosts=hosts.allowed)
            )
    except depfiles.UnusableInput as exc:  # deep nesting included (depfiles.parse)
        return error(413 if exc.too_large else 400, str(exc))
    result = await depcheck.check_files(
        reports,
        catalog=catalog,
        hosts=hosts,
        verdict_of=checker.check,
    )
    answer: dict[str, Any] = result.to_sarif(__version__) if output == "sarif" else result.to_json()
    return web.json_response(answer)


def add_routes(app: web.Application, index_url: str | None) -> None:
    """Register ``POST /v1/check``; ``index_url`` is a host direct URLs may point at."""
    if index_url:
        app[INDEX_URL] = index_url
    app.router.add_post("/v1/check", check_files)
