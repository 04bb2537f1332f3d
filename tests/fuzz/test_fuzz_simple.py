"""Fuzzing the simple-index listing parsers (PEP 691 JSON, PEP 503 HTML): a listing of
valid names or a BadResponse, never a crash and never a wrong name.

The index's per-project pages (``/simple/<name>/``) are not parsed: the client only reads
their status (``IndexClient.exists``), so there is no project-page parser to fuzz.
"""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.fuzz.fuzz_support import FUZZ, index_states, mutated, nested
from watcher.errors import BadResponse
from watcher.names import canonicalize_many
from watcher.pypi.simple import (
    IndexListing,
    parse_index_html,
    parse_index_json,
    valid_names_only,
)
from watcher.simulator.documents import simple_index_html, simple_index_json
from watcher.simulator.model import IndexState

pytestmark = pytest.mark.fuzz

URL = "http://index.invalid/simple/"
NAME_CHARS = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."
header_serials = st.none() | st.integers(0, 2**40)


def parse_or_refuse(body: bytes, *, html: bool, header_serial: int | None) -> IndexListing | None:
    """The contract of parse + filter, as the client chains them."""
    parse = parse_index_html if html else parse_index_json
    try:
        listing = parse(body, url=URL, header_serial=header_serial, etag=None)
    except BadResponse as exc:
        refused: BadResponse | None = exc
    else:
        refused = None
    if refused is not None:
        assert refused.url == URL
        return None
    assert len(listing.names) == len(listing.serials)
    kept = valid_names_only(listing, URL)
    assert len(kept.names) == len(kept.serials)
    # What valid_names_only promises: names of name characters only, so that the bulk
    # canonicalization (one newline-joined buffer) gives exactly one form per name.
    assert all(name and not name.translate(None, NAME_CHARS) for name in kept.names)
    assert len(canonicalize_many(kept.names)) == len(kept.names)
    assert kept.serial == listing.serial
    return kept


def listing_json(state: IndexState) -> bytes:
    serial, entries = state.listing()
    return simple_index_json(serial, entries)


def listing_html(state: IndexState) -> bytes:
    return simple_index_html(state.listing()[1])


HUGE = b"9" * 5000
# Found by this fuzzer: int() and json.loads refuse a serial of more than 4300 digits with
# a plain ValueError, which escaped as a crash instead of a refused answer.
HUGE_META_SERIAL = b'{"meta":{"_last-serial":' + HUGE + b'},"projects":[]}'
HUGE_PROJECT_SERIAL = b'{"meta":{},"projects":[{"_last-serial":' + HUGE + b',"name":"a"}]}'
HUGE_LOOSE_SERIAL = b'{"meta":{},"projects":[{"name": "a", "_last-serial": ' + HUGE + b"}]}"


@pytest.mark.parametrize(
    "body",
    [
        HUGE_META_SERIAL,
        HUGE_PROJECT_SERIAL,
        HUGE_LOOSE_SERIAL,
    ],
)
def test_serials_beyond_the_int_limit_are_a_bad_response(body: bytes) -> None:
    with pytest.raises(BadResponse):
        parse_index_json(body, url=URL, header_serial=None, etag=None)


# Found by this fuzzer: valid_names_only's fast check allowed b"\n" (its own join
# separator), so a listed name with a line break inside was kept; canonicalize_many then
# splits it in two and the reconcile's zip(..., strict=True) raises ValueError on every run
# while the name is listed.
NEWLINE_HTML = b'<html><body><a href="/simple/a/">a\nb</a><a href="/simple/c/">c</a></body></html>'
NEWLINE_JSON = b'{"meta":{},"projects":[{"name":"a\\nb"},{"name":"c"}]}'


@pytest.mark.parametrize(("body", "html"), [(NEWLINE_HTML, True), (NEWLINE_JSON, False)])
def test_a_name_with_a_line_break_is_dropped(body: bytes, html: bool) -> None:
    parse = parse_index_html if html else parse_index_json
    listing = valid_names_only(parse(body, url=URL, header_serial=None, etag=None), URL)
    assert listing.names == [b"c"]


@FUZZ
@given(st.binary(max_size=2048), st.booleans(), header_serials)
@example(b'{"meta":{},"projects":' + nested(b"[", b"]", 100_000) + b"}", False, None)
@example(b'{"meta":' + nested(b"[", b"]", 100_000) + b',"projects":[]}', False, None)
@example(b'{"meta":{},"projects":[{"name":"\\ud800"}]}', False, None)
@example(b'{"meta":{},"projects":[{"name":"a\\u0000b"}, {"name":1}]}', False, None)
@example(b"<html><body><a href='/'>\xff\xfe</a></body></html>", True, None)
def test_arbitrary_bytes(body: bytes, html: bool, header_serial: int | None) -> None:
    parse_or_refuse(body, html=html, header_serial=header_serial)


@FUZZ
@given(index_states(), st.booleans(), st.data())
def test_mutated_simulator_listings(state: IndexState, html: bool, data: st.DataObject) -> None:
    document = listing_html(state) if html else listing_json(state)
    body = data.draw(mutated(st.just(document)))
    parse_or_refuse(body, html=html, header_serial=data.draw(header_serials))


@FUZZ
@given(index_states(), st.booleans())
def test_simulator_listings_parse_to_their_projects(state: IndexState, html: bool) -> None:
    serial, entries = state.listing()
    body = listing_html(state) if html else listing_json(state)
    listing = parse_or_refuse(body, html=html, header_serial=serial)
    assert listing is not None
    assert [n.decode() for n in listing.names] == [name for _, name, _ in entries]
    if not html:
        assert listing.serials == [s for _, _, s in entries]
        assert listing.serial == serial


@FUZZ
@given(index_states(), st.integers(0, 4), st.randoms(use_true_random=False))
def test_any_json_layout_gives_the_same_listing(
    state: IndexState, indent: int, rnd: random.Random
) -> None:
    # The index writes compact sorted JSON; a mirror may not. The general path must agree
    # with the fast one whatever the spacing and key order.
    serial, entries = state.listing()
    projects = []
    for _, name, last in entries:
        fields = [("name", name), ("_last-serial", last)]
        rnd.shuffle(fields)
        projects.append(dict(fields))
    body = json.dumps(
        {"projects": projects, "meta": {"api-version": "1.4", "_last-serial": serial}},
        indent=indent or None,
    ).encode()
    listing = parse_or_refuse(body, html=False, header_serial=None)
    assert listing is not None
    assert [n.decode() for n in listing.names] == [name for _, name, _ in entries]
    assert listing.serials == [s for _, _, s in entries]
    assert listing.serial == serial
