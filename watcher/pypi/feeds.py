"""Parsing the index's RSS feeds safely (no DTDs, no entities, no network)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from watcher.errors import FeedError, InvalidName
from watcher.names import canonical
from watcher.pypi.models import FeedItem, FeedKind, FeedPage

log = logging.getLogger(__name__)

_PACKAGES_SUFFIX = " added to PyPI"


def parse_feed(kind: FeedKind, body: bytes, *, url: str, etag: str | None) -> FeedPage:
    """Parse an RSS body into items (newest first); raise :class:`FeedError` if unusable.

    A single malformed item is skipped and listed in ``skipped``; it never aborts the page.
    """
    try:
        # forbid_dtd refuses any DOCTYPE, which also stops entity bombs and external
        # entities before expansion; defusedxml forbids entities on top of that.
        root: Element = fromstring(body, forbid_dtd=True, forbid_entities=True)
    except DefusedXmlException as exc:
        raise FeedError(url, f"forbidden XML construct ({type(exc).__name__})") from None
    except ParseError as exc:
        raise FeedError(url, f"malformed XML: {exc}") from None
    except (LookupError, ValueError) as exc:
        # An XML declaration naming an unknown, non-text or multi-byte codec makes expat
        # raise these instead of ParseError; they must not escape as non-index errors.
        raise FeedError(url, f"undecodable XML: {exc}") from None
    if root.tag != "rss" or root.find("channel") is None:
        raise FeedError(url, f"not an RSS document (root element {root.tag!r})")

    items: list[FeedItem] = []
    skipped: list[str] = []
    for element in root.iterfind("channel/item"):
        title = (element.findtext("title") or "").strip()
        try:
            items.append(_item(kind, title, element))
        except (ValueError, InvalidName) as exc:
            skipped.append(title[:200])
            log.warning("skipping feed item %r from %s: %s", title[:200], url, exc)
    return FeedPage(kind=kind, items=items, etag=etag, skipped=skipped)


def _item(kind: FeedKind, title: str, element: Element) -> FeedItem:
    version: str | None
    if kind is FeedKind.UPDATES:
        # A version never contains a space; a display name never does either, but split on
        # the last space to be safe.
        name, sep, version = title.rpartition(" ")
        if not sep or not version:
            raise ValueError("title is not '<name> <version>'")
    else:
        if not title.endswith(_PACKAGES_SUFFIX):
            raise ValueError(f"title does not end with {_PACKAGES_SUFFIX!r}")
        name, version = title.removesuffix(_PACKAGES_SUFFIX), None
    author = (element.findtext("author") or "").strip() or None
    return FeedItem(
        name=name,
        canonical=canonical(name),
        version=version,
        published=_date(element.findtext("pubDate")),
        author=author,
    )


def _date(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = parsedate_to_datetime(text.strip())
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):  # OverflowError: e.g. year 9999 at -0100
        return None
