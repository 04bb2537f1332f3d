"""Parsing the index's simple API project list (PEP 691 JSON, PEP 503 HTML), lean on memory.

The whole index is about a million projects and tens of megabytes. ``json.loads`` would
build a million dicts (hundreds of MB); the list's objects are flat and its names plain
ASCII, so two regular expressions over the bytes give (name, serial) pairs directly.

A listing is used only when it is complete and consistent, since a listing that lacks a
name says the name was removed. JSON: the ``projects`` array must be a closed run of flat
objects, and the document around it (the array spliced out, so only a few bytes) must
parse as JSON with a ``meta`` object; the listing's serial must agree with the
``X-PyPI-Last-Serial`` header when both are given, and no project may claim a serial
beyond the listing's own (the global serial is the newest project's). HTML: the document
must end with its closing ``</body>`` and ``</html>`` tags. Anything else is refused with
:class:`AnswerRefused`.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from watcher.errors import AnswerRefused
from watcher.names import is_valid

log = logging.getLogger(__name__)

_PROJECTS = re.compile(rb'"projects"\s*:\s*(?=\[)')
# The whole array: flat objects separated by commas, closed. One C-speed match (about a
# second for a million projects) proves the list was not cut off after any entry.
_ARRAY = re.compile(rb"\[\s*(?:\{[^{}]*\}\s*,\s*)*\{[^{}]*\}\s*\]|\[\s*\]")
_OBJECT = re.compile(rb"\{[^{}]*\}")
_COMPACT_NAME = re.compile(rb'\{"_last-serial":\d+,"name":"([^"\\]*)"\}')
_COMPACT_SERIAL = re.compile(rb'\{"_last-serial":(\d+),"name":"[^"\\]*"\}')
_ANCHOR = re.compile(rb"<a\s[^>]*>([^<]*)</a>", re.IGNORECASE)


@dataclass(frozen=True)
class IndexListing:
    """Every project on the index: display names with their last serials (HTML has none)."""

    serial: int | None
    etag: str | None
    names: list[bytes]
    serials: list[int | None]


def parse_index_json(
    body: bytes, *, url: str, header_serial: int | None, etag: str | None
) -> IndexListing:
    """Parse a PEP 691 JSON project list; refuse one cut short or inconsistent."""
    start = _PROJECTS.search(body)
    if start is None:
        raise AnswerRefused(url, "no 'projects' list in the simple index")
    array = _ARRAY.match(body, start.end())
    if array is None:
        raise AnswerRefused(url, "truncated simple index: its 'projects' list is not closed")
    serial = _frame_serial(body[: array.start()] + b"[]" + body[array.end() :], url)
    if serial is not None and header_serial is not None and serial != header_serial:
        raise AnswerRefused(
            url, f"simple index says serial {serial} but its header says {header_serial}"
        )
    serial = header_serial if serial is None else serial
    begin, end = array.start(), array.end()
    # The index writes compact JSON with sorted keys: one regular expression takes every
    # project at C speed. Anything else (spacing, key order, extra keys) takes the general
    # path, object by object.
    objects = body.count(b"{", begin, end)
    names = _COMPACT_NAME.findall(body, begin, end)
    serials: list[int | None] = []
    if len(names) == objects:
        try:
            serials = list(map(int, _COMPACT_SERIAL.findall(body, begin, end)))
        except ValueError:  # a serial beyond int()'s digit limit: no index has one
            raise AnswerRefused(url, "a project serial with thousands of digits") from None
    if len(names) != objects or len(serials) != objects:
        names, serials = _general_objects(body, begin, end, url)
    newest = max((s for s in serials if s is not None), default=None)
    if newest is not None and serial is not None and newest > serial:
        # The global serial is the newest change's: a project beyond it is a broken listing.
        raise AnswerRefused(
            url, f"a project claims serial {newest}, beyond the listing's own serial {serial}"
        )
    return IndexListing(serial=serial, etag=etag, names=names, serials=serials)


def _frame_serial(frame: bytes, url: str) -> int | None:
    """Check the document around the projects array (spliced out): its ``_last-serial``."""
    try:
        document = json.loads(frame, object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, ValueError, RecursionError):  # JSONDecodeError is one
        raise AnswerRefused(url, "truncated or malformed simple index") from None
    if not isinstance(document, dict) or document.get("projects") != []:
        raise AnswerRefused(url, "simple index is not one object with one 'projects' list")
    meta = document.get("meta")
    if not isinstance(meta, dict):
        raise AnswerRefused(url, "simple index has no 'meta' object")
    serial = meta.get("_last-serial")
    if serial is None:
        return None
    if not isinstance(serial, int) or isinstance(serial, bool) or serial < 0:
        raise AnswerRefused(url, f"simple index has serial {str(serial)[:40]!r}")
    return serial


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # A key given twice: parsers disagree on which one counts (a second "projects" list
    # would be the one json.loads keeps, unseen by the scan above).
    if len({key for key, _ in pairs}) != len(pairs):
        raise ValueError("duplicate key")
    return dict(pairs)


def _general_objects(
    body: bytes, begin: int, end: int, url: str
) -> tuple[list[bytes], list[int | None]]:
    """Names and serials of a listing not in the index's compact form, object by object."""
    names: list[bytes] = []
    serials: list[int | None] = []
    for match in _OBJECT.finditer(body, begin, end):
        try:
            entry = json.loads(match.group(0))
        except (UnicodeDecodeError, ValueError, RecursionError):  # JSONDecodeError is one
            # ValueError also covers a number beyond int()'s digit limit.
            raise AnswerRefused(url, "a malformed project in the simple index") from None
        name, serial = entry.get("name"), entry.get("_last-serial")
        if not isinstance(name, str):
            raise AnswerRefused(url, "a project without a name in the simple index")
        if serial is not None and (not isinstance(serial, int) or isinstance(serial, bool)):
            raise AnswerRefused(url, f"project {name[:60]!r} has serial {str(serial)[:40]!r}")
        # Non-ASCII names are dropped later (valid_names_only), never decoded as names.
        names.append(name.encode(errors="replace"))
        serials.append(serial)
    return names, serials


def parse_index_html(
    body: bytes, *, url: str, header_serial: int | None, etag: str | None
) -> IndexListing:
    """Parse a PEP 503 HTML project list (no per-project serials); refuse one cut short."""
    tail = body[-256:].lower().rstrip()
    if not tail.endswith(b"</html>") or b"</body>" not in tail:
        raise AnswerRefused(url, "truncated simple index: no closing </body></html>")
    names = [m.group(1).strip() for m in _ANCHOR.finditer(body)]
    return IndexListing(serial=header_serial, etag=etag, names=names, serials=[None] * len(names))


_NAME_BYTES = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."


def valid_names_only(listing: IndexListing, url: str) -> IndexListing:
    """Drop names with characters no project name has (non-ASCII would crash decoding).

    One C-speed check covers the usual listing; only a listing that fails it is validated
    name by name.
    """
    # Joined with a byte no name may hold: a line break inside a name (later split on line
    # breaks, see canonicalize_many) fails the check like any other bad byte.
    text = b"".join(listing.names)
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
