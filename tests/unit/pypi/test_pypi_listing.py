"""The whole-index listing: JSON and HTML, ETag, stale serials, hostile names."""

from __future__ import annotations

import pytest

from tests.fakes.pypi import FakeIndex
from tests.unit.pypi.pypi_helpers import MakeClient
from watcher.errors import BadResponse, StaleIndex
from watcher.pypi.client import _serial_header

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"


async def test_listing_names_and_serials_then_304(
    make_client: MakeClient, fake_index: FakeIndex
) -> None:
    fake_index.add_release("Acme.Utils", "1.0")
    fake_index.add_project("foo_bar")
    client = make_client()
    listing = await client.fetch_index()
    assert listing is not None
    assert listing.names == [b"Acme.Utils", b"foo_bar"]
    # Journal rows: create, add Owner, new release, add file (4); create, add Owner (6).
    assert listing.serials == [4, 6]
    assert listing.serial == fake_index.serial
    assert await client.fetch_index(etag=listing.etag) is None


async def test_stale_listing_raises(make_client: MakeClient, fake_index: FakeIndex) -> None:
    fake_index.add_release("a", "1.0")
    fake_index.stale_serial = 1
    with pytest.raises(StaleIndex):
        await make_client().fetch_index(min_serial=5)


async def test_invalid_names_are_dropped_not_fatal(
    make_client: MakeClient, fake_index: FakeIndex
) -> None:
    body = (
        b'{"meta":{"_last-serial":3},"projects":['
        b'{"_last-serial":1,"name":"ok-name"},{"_last-serial":2,"name":"b\xc3\xa9"},'
        b'{"_last-serial":3,"name":"a b"}]}'
    )
    fake_index.set_body("/simple/", body, content_type=SIMPLE_JSON)
    listing = await make_client().fetch_index()
    assert listing is not None
    assert listing.names == [b"ok-name"]
    assert listing.serials == [1]


async def test_truncated_listing_is_a_clear_error(
    make_client: MakeClient, fake_index: FakeIndex
) -> None:
    body = b'{"meta":{"_last-serial":3},"projects":[{"_last-serial":1,"name":"ok-na'
    fake_index.set_body("/simple/", body, content_type=SIMPLE_JSON)
    with pytest.raises(BadResponse, match="truncated"):
        await make_client().fetch_index()


async def test_a_listing_at_the_known_serial_is_not_parsed_again(
    make_client: MakeClient, fake_index: FakeIndex
) -> None:
    fake_index.add_release("a", "1.0")
    client = make_client()
    listing = await client.fetch_index()
    assert listing is not None
    assert listing.serial is not None
    # No ETag sent: a 200 with the same serial header means nothing changed.
    assert await client.fetch_index(min_serial=listing.serial) is None
    with pytest.raises(StaleIndex):
        await client.fetch_index(min_serial=listing.serial + 1)
    fake_index.add_release("b", "1.0")
    newer = await client.fetch_index(min_serial=listing.serial)
    assert newer is not None
    assert newer.names == [b"a", b"b"]


@pytest.mark.parametrize("header", ["\u00b2", "9" * 5000, "-1", " 5", "12a"])
def test_a_serial_header_that_is_no_plain_number_is_ignored(header: str) -> None:
    # str.isdigit admits "²", which int() refuses; thousands of digits are no serial.
    assert _serial_header(header) is None


def test_a_plain_serial_header_is_read() -> None:
    assert _serial_header("4711") == 4711
    assert _serial_header(None) is None
