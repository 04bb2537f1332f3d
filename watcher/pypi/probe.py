"""Reading answers of the index: capped bodies, and what ``IndexClient.confirm_index``
checks an answer for (recognising a package index).

A wrong base URL (``.../simple``, ``.../pypi``, another web server) answers 404 to every
``/simple/<name>/`` and would make every name look free; these functions tell a project
list and an RSS feed from anything else, and name the likely base URL.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from multidict import CIMultiDictProxy
from packaging.utils import canonicalize_name

from watcher.errors import ResponseTooLarge

# How much of an answer confirm_index() reads: enough to recognise the format; the rest of
# a whole-index listing (tens of MB) is never downloaded for it.
PROBE_BYTES = 64 * 1024
# Path segments of the index's own pages: a base URL ending in one is a page inside an
# index, whose parent is the likely base URL.
_INDEX_SEGMENTS = {
    "simple": "the simple index",
    "pypi": "the index's JSON/XML-RPC API path",
    "rss": "the index's feeds",
    "project": "a project page",
}


@dataclass(frozen=True)
class Answer:
    """One HTTP answer as the index client read it."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    truncated: bool = False  # only the head of the body was read (``head_only``)
    redirected_to: str | None = None  # where the answer came from after redirects, if any


# -- recognising an index (confirm_index) ----------------------------------------------

_ANCHOR = re.compile(r"<a\s[^>]*?href\s*=\s*[\"']([^\"']*)[\"'][^>]*>([^<]*)</a\s*>", re.I)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title", re.I | re.S)
_REPOSITORY_VERSION = re.compile(r"<meta\s[^>]*name\s*=\s*[\"']pypi:repository-version", re.I)
_PROJECT_PAGE = re.compile(r"pypi:project-status|<h1>\s*Links for", re.I)
_RSS = re.compile(rb"<rss[\s>]")


def simple_root_problem(answer: Answer) -> str | None:
    """``None`` when the answer is a simple index's project list, else what it was."""
    if answer.status != 200:
        return _gave(answer)
    kind = _media_type(answer)
    if "json" in kind:
        head = answer.body.lstrip()
        # {"meta": {...}, "projects": [...]}; a project page has "files", no "projects".
        if head.startswith(b"{") and (
            b'"projects"' in head or (answer.truncated and b'"meta"' in head)
        ):
            return None
        return _gave(answer, "that is not a PEP 691 project list")
    if "html" in kind or not kind:
        if _is_simple_html(answer.body.decode("utf-8", "replace")):
            return None
        return _gave(answer, "that is not a PEP 503 project list")
    return _gave(answer, "that is not a simple index")


def _is_simple_html(text: str) -> bool:
    """A PEP 503 root: one anchor per project, its text the name, its href the project's
    page (ending in ``/``). A project page (file links) or any other page is not."""
    if _PROJECT_PAGE.search(text):
        return False
    anchors = _ANCHOR.findall(text)[:50]
    if not anchors:
        # An empty index: only its markers say what it is.
        title = _TITLE.search(text)
        return bool(_REPOSITORY_VERSION.search(text)) or (
            title is not None and "simple index" in title.group(1).lower()
        )
    projects = 0
    for href, label in anchors:
        name = html.unescape(label).strip()
        path = urlsplit(html.unescape(href)).path
        last = path.rstrip("/").rsplit("/", 1)[-1]
        if path.endswith("/") and name and canonicalize_name(last) == canonicalize_name(name):
            projects += 1
    return projects * 2 >= len(anchors)


def feed_problem(answer: Answer) -> str | None:
    """``None`` when the answer is an RSS document, else what it was."""
    if answer.status != 200:
        return _gave(answer)
    if _RSS.search(answer.body):
        return None
    return _gave(answer, "that is not an RSS feed")


def _media_type(answer: Answer) -> str:
    return answer.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()


def _gave(answer: Answer, what: str | None = None) -> str:
    """``gave HTTP 404 (text/html): "Not Found"``: what answered, on one line."""
    text = f"gave HTTP {answer.status} ({_media_type(answer) or 'no content type'})"
    if what:
        text += f" {what}"
    if answer.redirected_to:
        text += f" after a redirect to {answer.redirected_to}"
    return text + _hint(answer.body)


def _hint(body: bytes) -> str:
    """A short, one-line taste of a body: its HTML title, else its first characters."""
    text = body[:4096].decode("utf-8", "replace")
    title = _TITLE.search(text)
    snippet = html.unescape(title.group(1)) if title else text
    snippet = "".join(ch for ch in " ".join(snippet.split()) if ch.isprintable())
    if not snippet:
        return ", empty body" if not body else ""
    if len(snippet) > 60:
        snippet = snippet[:57] + "..."
    return f": {json.dumps(snippet, ensure_ascii=False)}"


def parent_candidates(base: str) -> list[tuple[str, str]]:
    """Likely base URLs for a base URL that points inside an index, best first, each with
    what the base URL looks like: ``https://h/simple`` -> ``https://h`` (the simple index)."""
    parts = urlsplit(base)
    segments = [s for s in parts.path.split("/") if s]
    found = []
    for i in range(len(segments) - 1, -1, -1):
        what = _INDEX_SEGMENTS.get(segments[i].lower())
        if what is None:
            continue
        if i < len(segments) - 1 and what.startswith("the "):
            what = f"a page of {what}"
        path = "/" + "/".join(segments[:i]) if i else ""
        found.append((urlunsplit((parts.scheme, parts.netloc, path, "", "")), what))
    return found


async def read_capped(resp: aiohttp.ClientResponse, url: str, max_bytes: int) -> bytes:
    """The whole body, refused (:class:`ResponseTooLarge`) once it passes ``max_bytes``."""
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


async def read_head(resp: aiohttp.ClientResponse, limit: int) -> tuple[bytes, bool]:
    """The first ``limit`` bytes of the body, and whether there was more (left unread)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(16 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            break
    body = b"".join(chunks)
    return body[:limit], size > limit
