"""Parsing the index's simple API project list (PEP 691 JSON, PEP 503 HTML), lean on memory.

The whole index is about a million projects and tens of megabytes. ``json.loads`` would
build a million dicts (hundreds of MB); the list's objects are flat and its names plain
ASCII, so two regular expressions over the bytes give (name, serial) pairs directly.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from watcher.errors import BadResponse
from watcher.names import is_valid

log = logging.getLogger(__name__)

_META_SERIAL = re.compile(rb'"meta"\s*:\s*\{[^{}]*?"_last-serial"\s*:\s*(\d+)')
_PROJECTS = re.compile(rb'"projects"\s*:\s*\[')
_OBJECT = re.compile(rb"\{([^{}]*)\}")
_NAME = re.compile(rb'"name"\s*:\s*"([^"\\]*)"')
_SERIAL = re.compile(rb'"_last-serial"\s*:\s*(\d+)')
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
    """Parse a PEP 691 JSON project list."""
    start = _PROJECTS.search(body)
    if start is None:
        raise BadResponse(url, "no 'projects' list in the simple index")
    meta = _META_SERIAL.search(body)
    serial = int(meta.group(1)) if meta else header_serial
    # The index writes compact JSON with sorted keys: one regular expression takes every
    # project at C speed. Anything else (spacing, key order, extra keys) takes the general
    # path, object by object.
    objects = body.count(b"{", start.end())
    names = _COMPACT_NAME.findall(body, start.end())
    if len(names) == objects:
        if not body.rstrip().endswith(b"}"):
            _truncated(url)
        serials: list[int | None] = list(map(int, _COMPACT_SERIAL.findall(body, start.end())))
        if len(serials) == objects:
            return IndexListing(serial=serial, etag=etag, names=names, serials=serials)
    names = []
    serials = []
    for match in _OBJECT.finditer(body, start.end()):
        fields = match.group(1)
        name = _NAME.search(fields)
        if name is None:
            raise BadResponse(url, "a project without a name in the simple index")
        names.append(name.group(1))
        found = _SERIAL.search(fields)
        serials.append(int(found.group(1)) if found else None)
    if not body.rstrip().endswith(b"}"):
        raise BadResponse(url, "truncated simple index")
    return IndexListing(serial=serial, etag=etag, names=names, serials=serials)


def _truncated(url: str) -> None:
    raise BadResponse(url, "truncated simple index")


def parse_index_html(
    body: bytes, *, url: str, header_serial: int | None, etag: str | None
) -> IndexListing:
    """Parse a PEP 503 HTML project list (no per-project serials)."""
    if b"</html>" not in body.lower()[-64:] and b"</body>" not in body.lower()[-64:]:
        raise BadResponse(url, "truncated simple index")
    names = [m.group(1).strip() for m in _ANCHOR.finditer(body)]
    return IndexListing(serial=header_serial, etag=etag, names=names, serials=[None] * len(names))


_NAME_BYTES = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.\n"


def valid_names_only(listing: IndexListing, url: str) -> IndexListing:
    """Drop names with characters no project name has (non-ASCII would crash decoding).

    One C-speed check covers the usual listing; only a listing that fails it is validated
    name by name.
    """
    text = b"\n".join(listing.names)
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
