"""Fuzzing the RSS feed parser: whatever the body, a FeedPage or a FeedError, nothing else."""

from __future__ import annotations

import html
import re
from datetime import UTC

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.fuzz.fuzz_support import FUZZ, any_names, index_states, mutated, nested, versions
from watcher.errors import FeedError
from watcher.names import canonical, is_valid
from watcher.pypi.feeds import parse_feed
from watcher.pypi.models import FeedKind, FeedPage
from watcher.simulator.feeds import packages_feed, updates_feed
from watcher.simulator.model import IndexState

pytestmark = pytest.mark.fuzz

URL = "http://index.invalid/rss/updates.xml"
BASE = "http://index.invalid"
kinds = st.sampled_from(FeedKind)


def parse_or_refuse(kind: FeedKind, body: bytes) -> FeedPage | None:
    """The parser's whole contract: a page whose every item is sound, or a FeedError."""
    try:
        page = parse_feed(kind, body, url=URL, etag=None)
    except FeedError as exc:
        refused: FeedError | None = exc
    else:
        refused = None
    if refused is not None:
        assert refused.url == URL
        return None
    assert page.kind is kind
    for item in page.items:
        assert is_valid(item.name)
        assert item.canonical == canonical(item.name)
        if kind is FeedKind.UPDATES:
            assert item.version
            assert " " not in item.version
        else:
            assert item.version is None
        assert item.published is None or item.published.tzinfo is UTC
    assert all(len(title) <= 200 for title in page.skipped)
    return page


real_feeds = st.builds(
    lambda state, kind: (
        kind,
        (updates_feed if kind is FeedKind.UPDATES else packages_feed)(state.projects(), BASE),
    ),
    index_states(),
    kinds,
)


@FUZZ
@given(kinds, st.binary(max_size=4096))
@example(FeedKind.UPDATES, b"")
@example(FeedKind.UPDATES, b"<?xml version='1.0' encoding='utf-32'?><rss/>")
@example(FeedKind.UPDATES, b"<?xml version='1.0' encoding='base64'?><rss/>")
@example(FeedKind.UPDATES, nested(b"<a>", b"</a>", 100_000))
def test_arbitrary_bytes(kind: FeedKind, body: bytes) -> None:
    parse_or_refuse(kind, body)


@FUZZ
@given(real_feeds, st.data())
def test_mutated_simulator_feeds(feed: tuple[FeedKind, bytes], data: st.DataObject) -> None:
    kind, body = feed
    parse_or_refuse(kind, data.draw(mutated(st.just(body))))


@FUZZ
@given(index_states(), kinds)
def test_simulator_feeds_parse_to_exactly_their_projects(state: IndexState, kind: FeedKind) -> None:
    render = updates_feed if kind is FeedKind.UPDATES else packages_feed
    page = parse_or_refuse(kind, render(state.projects(), BASE))
    assert page is not None
    assert page.skipped == []
    if kind is FeedKind.UPDATES:
        expected = sorted(
            ((p.name, r.version, r.seq) for p in state.projects() for r in p.releases),
            key=lambda t: -t[2],
        )
        assert [(i.name, i.version) for i in page.items] == [(n, v) for n, v, _ in expected]
    else:
        newest = sorted(state.projects(), key=lambda p: -p.seq)
        assert [i.name for i in page.items] == [p.name for p in newest]


_XML_CHAR = st.characters(blacklist_categories=["Cs"])


# XML 1.0 forbids these characters even escaped: a document holding one is malformed.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str) -> str:
    """``text`` as XML character data: escaped, characters XML cannot hold dropped."""
    return html.escape(_NOT_XML.sub("", text))


def rss_item(title: str, pub_date: str | None, author: str | None) -> str:
    parts = [f"<title>{xml_text(title)}</title>"]
    if pub_date is not None:
        parts.append(f"<pubDate>{xml_text(pub_date)}</pubDate>")
    if author is not None:
        parts.append(f"<author>{xml_text(author)}</author>")
    return "<item>" + "".join(parts) + "</item>"


titles = st.one_of(
    st.builds(lambda n, v: f"{n} {v}", any_names, st.one_of(versions, st.text(_XML_CHAR))),
    st.builds(lambda n: f"{n} added to PyPI", any_names),
    st.text(_XML_CHAR, max_size=300),
)
dates = st.one_of(
    st.none(),
    st.text(_XML_CHAR, max_size=40),
    st.from_regex(
        r"\A(Mon, )?[0-9]{1,2} (Jan|Feb|Xyz) [0-9]{1,6} [0-9]{1,2}:[0-9]{2}(:[0-9]{2})?"
        r" ([+-][0-9]{4}|GMT|UT|EST|[A-Z]{1,5})\Z"
    ),
)


@FUZZ
@given(kinds, st.lists(st.tuples(titles, dates, st.none() | st.text(_XML_CHAR)), max_size=8))
@example(FeedKind.UPDATES, [("a 1", "Fri, 31 Dec 9999 23:59:59 -0100", None)])
@example(FeedKind.UPDATES, [("a 1", "Mon, 01 Jan 0 00:00:00 +0000", None)])
@example(FeedKind.UPDATES, [("a 1", "1 Jan 99999999 00:00 +9999", None)])
def test_well_formed_rss_with_any_item_text(
    kind: FeedKind, items: list[tuple[str, str | None, str | None]]
) -> None:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        + "".join(rss_item(*item) for item in items)
        + "</channel></rss>"
    ).encode()
    page = parse_or_refuse(kind, body)
    # A well-formed RSS document is never refused as a whole; bad items are skipped alone.
    assert page is not None
    assert len(page.items) + len(page.skipped) == len(items)


_DOCTYPES = (
    b'<!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>',
    b'<!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
    b'<!DOCTYPE rss SYSTEM "http://127.0.0.1:9/evil.dtd">',
    b"<!DOCTYPE rss>",
    b'<!DOCTYPE rss [<!ENTITY % p SYSTEM "http://127.0.0.1:9/p.dtd"> %p;]>',
)


@FUZZ
@given(real_feeds, st.sampled_from(_DOCTYPES), st.sampled_from((b"", b"&a;", b"&x;", b"&b;")))
def test_any_doctype_refuses_the_whole_feed(
    feed: tuple[FeedKind, bytes], doctype: bytes, reference: bytes
) -> None:
    kind, body = feed
    declaration, _, rest = body.partition(b"\n")
    hostile = (
        declaration + b"\n" + doctype + re.sub(rb"<title>", b"<title>" + reference, rest, count=1)
    )
    with pytest.raises(FeedError):
        parse_feed(kind, hostile, url=URL, etag=None)
