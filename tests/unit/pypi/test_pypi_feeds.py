"""parse_feed: the index's RSS feeds into items, hostile or broken bodies into FeedError."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.fakes.pypi import (
    FakeIndex,
    billion_laughs_feed,
    external_entity_feed,
    truncated_feed,
)
from watcher.errors import FeedError, IndexClientError
from watcher.pypi import FeedKind
from watcher.pypi.feeds import parse_feed

URL = "http://index.invalid/rss/updates.xml"
WHEN = datetime(2024, 3, 5, 14, 7, 9, tzinfo=UTC)
ZERO = timedelta(0)


def rss(*items: str, encoding: str = "UTF-8") -> bytes:
    """A minimal RSS 2.0 document around hand-written ``<item>`` elements."""
    return (
        f'<?xml version="1.0" encoding="{encoding}"?>\n'
        '<rss version="2.0"><channel><title>PyPI recent updates</title>\n'
        + "\n".join(items)
        + "\n</channel></rss>\n"
    ).encode()


def item(title: str, pub_date: str | None = "Tue, 05 Mar 2024 14:07:09 GMT") -> str:
    date = f"<pubDate>{pub_date}</pubDate>" if pub_date is not None else ""
    return f"<item><title>{title}</title><description>None</description>{date}</item>"


# -- well-formed feeds from the fake -------------------------------------------


async def test_updates_feed_from_the_fake(fake_index: FakeIndex) -> None:
    fake_index.add_release("Acme.Utils", "1.2.3", upload_time=WHEN, author_email="jane@example.com")
    fake_index.add_release("foo", "0.1", author_email=None, upload_time=WHEN + timedelta(1))
    fake_index.add_release(
        "Zope_Interface.EXT",
        "2.0rc1",
        author_email="Jane <jane@example.com>, bob@example.com",
        upload_time=WHEN + timedelta(2),
    )

    page = parse_feed(FeedKind.UPDATES, fake_index.render_updates_feed(), url=URL, etag='"e1"')

    assert page.kind is FeedKind.UPDATES
    assert page.etag == '"e1"'
    assert page.skipped == []
    zope, foo, acme = page.items  # newest first, as the feed lists them
    assert (zope.name, zope.canonical, zope.version) == (
        "Zope_Interface.EXT",
        "zope-interface-ext",
        "2.0rc1",
    )
    assert zope.author == "jane@example.com, bob@example.com"
    assert zope.key == "zope-interface-ext==2.0rc1"
    assert (foo.name, foo.canonical, foo.version, foo.author) == ("foo", "foo", "0.1", None)
    assert (acme.name, acme.canonical, acme.version) == ("Acme.Utils", "acme-utils", "1.2.3")
    assert acme.author == "jane@example.com"
    assert acme.key == "acme-utils==1.2.3"
    for parsed, expected in ((zope, WHEN + timedelta(2)), (foo, WHEN + timedelta(1)), (acme, WHEN)):
        assert parsed.published == expected
        assert parsed.published is not None
        assert parsed.published.utcoffset() == ZERO


async def test_packages_feed_from_the_fake(fake_index: FakeIndex) -> None:
    fake_index.add_release("Acme.Utils", "1.0", upload_time=WHEN)
    fake_index.add_project("no-release-yet")  # not in the packages feed
    fake_index.add_release("Other_PKG", "0.1", author_email="x@example.com")
    fake_index.add_release("Acme.Utils", "1.1")  # a release, not a new project

    page = parse_feed(FeedKind.PACKAGES, fake_index.render_packages_feed(), url=URL, etag=None)

    assert page.kind is FeedKind.PACKAGES
    assert page.etag is None
    assert page.skipped == []
    other, acme = page.items
    assert (other.name, other.canonical, other.version) == ("Other_PKG", "other-pkg", None)
    assert other.key == "other-pkg"
    assert other.author == "x@example.com"
    assert (acme.name, acme.canonical, acme.version) == ("Acme.Utils", "acme-utils", None)
    assert acme.key == "acme-utils"
    assert acme.published == WHEN
    assert acme.published is not None
    assert acme.published.utcoffset() == ZERO


async def test_invalid_name_from_the_fake_is_skipped_not_fatal(fake_index: FakeIndex) -> None:
    fake_index.add_release("before", "1.0")
    fake_index.add_release("-not-a-name-", "1.0")
    fake_index.add_release("after", "2.0")

    updates = parse_feed(FeedKind.UPDATES, fake_index.render_updates_feed(), url=URL, etag=None)
    packages = parse_feed(FeedKind.PACKAGES, fake_index.render_packages_feed(), url=URL, etag=None)

    assert [i.key for i in updates.items] == ["after==2.0", "before==1.0"]
    assert updates.skipped == ["-not-a-name- 1.0"]
    assert [i.key for i in packages.items] == ["after", "before"]
    assert packages.skipped == ["-not-a-name- added to PyPI"]


# -- titles, dates, authors ---------------------------------------------------


def test_updates_title_is_split_on_its_last_space() -> None:
    body = rss(
        item("Acme.Tools 1.0.post1"),
        item("Acme Utils 2.0"),  # a first-space split would read name "Acme"
        item("no-version"),
        item("bad/name 1.0"),
        item(""),
        item("bar 3.0"),
    )

    page = parse_feed(FeedKind.UPDATES, body, url=URL, etag=None)

    assert [(i.name, i.canonical, i.version) for i in page.items] == [
        ("Acme.Tools", "acme-tools", "1.0.post1"),
        ("bar", "bar", "3.0"),
    ]
    assert page.skipped == ["Acme Utils 2.0", "no-version", "bad/name 1.0", ""]


def test_packages_title_must_end_with_added_to_pypi() -> None:
    body = rss(
        item("Good.Name added to PyPI"),
        item("Good.Name 1.0"),
        item("Bad Name added to PyPI"),
    )

    page = parse_feed(FeedKind.PACKAGES, body, url=URL, etag=None)

    assert [(i.name, i.canonical, i.version) for i in page.items] == [
        ("Good.Name", "good-name", None)
    ]
    assert page.skipped == ["Good.Name 1.0", "Bad Name added to PyPI"]


def test_skipped_title_is_truncated() -> None:
    title = "x" * 300 + " !"
    page = parse_feed(FeedKind.UPDATES, rss(item(title)), url=URL, etag=None)
    assert page.items == []
    assert page.skipped == [title[:200]]


@pytest.mark.parametrize(
    ("pub_date", "expected"),
    [
        ("Tue, 05 Mar 2024 14:07:09 GMT", WHEN),
        ("Tue, 05 Mar 2024 14:07:09 +0000", WHEN),
        ("Tue, 05 Mar 2024 14:07:09 -0000", WHEN),  # RFC 2822 "unknown zone": read as UTC
        ("Tue, 05 Mar 2024 16:07:09 +0200", WHEN),  # another zone: converted to UTC
        ("yesterday", None),
        ("Tue, 05 Mar 2024 25:61:61 GMT", None),
        ("Fri, 31 Dec 9999 23:30:00 -0100", None),  # out of range once in UTC
        ("", None),
        (None, None),
    ],
)
def test_pub_date_is_an_aware_utc_datetime_or_none(
    pub_date: str | None, expected: datetime | None
) -> None:
    page = parse_feed(FeedKind.UPDATES, rss(item("foo 1.0", pub_date)), url=URL, etag=None)

    (parsed,) = page.items  # a bad date never costs the item
    assert parsed.published == expected
    if parsed.published is not None:
        assert parsed.published.tzinfo is UTC


def test_author_absent_or_blank_is_none() -> None:
    body = rss(
        "<item><title>a 1.0</title><author>  </author></item>",
        "<item><title>b 1.0</title></item>",
        "<item><title> c 1.0 </title><author> c@example.com </author></item>",
    )
    page = parse_feed(FeedKind.UPDATES, body, url=URL, etag=None)
    assert [(i.name, i.author) for i in page.items] == [
        ("a", None),
        ("b", None),
        ("c", "c@example.com"),
    ]


def test_empty_channel_is_an_empty_page() -> None:
    page = parse_feed(FeedKind.UPDATES, rss(), url=URL, etag='"x"')
    assert (page.items, page.skipped, page.etag) == ([], [], '"x"')


# -- refused bodies -----------------------------------------------------------


def test_billion_laughs_is_refused_before_expansion() -> None:
    started = time.monotonic()
    with pytest.raises(FeedError) as info:
        parse_feed(FeedKind.UPDATES, billion_laughs_feed(), url=URL, etag=None)
    assert time.monotonic() - started < 1.0
    assert info.value.reason.startswith("forbidden XML construct")
    assert info.value.url == URL
    assert URL in str(info.value)
    assert "lol" not in str(info.value)


def test_external_entity_is_refused() -> None:
    with pytest.raises(FeedError) as info:
        parse_feed(FeedKind.UPDATES, external_entity_feed(), url=URL, etag=None)
    assert info.value.reason.startswith("forbidden XML construct")
    assert "root:" not in str(info.value)  # nothing of the local file leaked


def test_any_doctype_is_refused() -> None:
    body = b'<?xml version="1.0"?>\n<!DOCTYPE rss>\n<rss version="2.0"><channel/></rss>'
    with pytest.raises(FeedError, match="forbidden XML construct"):
        parse_feed(FeedKind.UPDATES, body, url=URL, etag=None)


async def test_truncated_feed_is_refused(fake_index: FakeIndex) -> None:
    for n in range(5):
        fake_index.add_release(f"pkg{n}", "1.0")
    with pytest.raises(FeedError) as info:
        parse_feed(FeedKind.UPDATES, truncated_feed(fake_index), url=URL, etag=None)
    assert info.value.reason.startswith("malformed XML")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'<feed xmlns="http://www.w3.org/2005/Atom"><entry/></feed>', id="atom"),
        pytest.param(b"<html><body>Service Unavailable</body></html>", id="html"),
        pytest.param(b'<rss version="2.0"><item><title>a 1.0</title></item></rss>', id="no-chan"),
    ],
)
def test_non_rss_document_is_refused(body: bytes) -> None:
    with pytest.raises(FeedError) as info:
        parse_feed(FeedKind.UPDATES, body, url=URL, etag=None)
    assert info.value.reason.startswith("not an RSS document (root element")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"   \n", id="blank"),
        pytest.param(b"\x80\x81\xfe\xff\x00garbage\x9c", id="non-utf8-garbage"),
        pytest.param(rss(item("caf\xe9 1.0")).replace(b"\xc3\xa9", b"\xe9"), id="bad-utf8-item"),
        pytest.param(b"Service Unavailable", id="plain-text"),
        pytest.param(b'{"message": "Not Found"}', id="json"),
    ],
)
def test_malformed_body_is_refused(body: bytes) -> None:
    with pytest.raises(FeedError) as info:
        parse_feed(FeedKind.UPDATES, body, url=URL, etag=None)
    assert info.value.reason.startswith("malformed XML: ")


@pytest.mark.parametrize("encoding", ["x-no-such-codec", "rot13", "utf-7", "idna"])
def test_unusable_encoding_declaration_is_a_feed_error(encoding: str) -> None:
    # Whatever the XML declaration says, the caller must get an IndexClientError it
    # handles, never a LookupError/ValueError that escapes the poll.
    with pytest.raises(FeedError) as info:
        parse_feed(FeedKind.UPDATES, rss(item("foo 1.0"), encoding=encoding), url=URL, etag=None)
    assert isinstance(info.value, IndexClientError)
    assert info.value.reason.startswith("undecodable XML")
