"""The XML-RPC change log: calls against the fake index, and hostile or broken answers."""

from __future__ import annotations

import xmlrpc.client
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.fakes.pypi import FakeIndex, billion_laughs_feed
from tests.unit.pypi.pypi_helpers import MakeClient
from watcher.errors import BadResponse, IndexUnavailable, JournalRateLimited, ResponseTooLarge
from watcher.pypi.journal import JournalRow, parse_answer, parse_rows

URL = "http://127.0.0.1/pypi"


def _answer(value: Any) -> bytes:
    return xmlrpc.client.dumps((value,), methodresponse=True, allow_none=True).encode()


def _fault(code: int, text: str) -> bytes:
    return xmlrpc.client.dumps(xmlrpc.client.Fault(code, text), methodresponse=True).encode()


async def test_rows_after_a_serial_in_the_index_s_words(
    make_client: MakeClient, fake_index: FakeIndex
) -> None:
    client = make_client()
    start = await client.journal_last_serial()
    assert start == 0
    fake_index.add_release("Acme.Utils", "1.0", owners=("alice",))
    fake_index.set_owners("Acme.Utils", ["alice", "mallory"])
    fake_index.remove_project("Acme.Utils")
    rows = await client.journal_since(start)
    assert [(r.name, r.version, r.action) for r in rows] == [
        ("Acme.Utils", None, "create"),
        ("Acme.Utils", None, "add Owner alice"),
        ("Acme.Utils", "1.0", "new release"),
        ("Acme.Utils", "1.0", "add source file acme_utils-1.0.tar.gz"),
        ("Acme.Utils", None, "add Owner mallory"),
        ("Acme.Utils", None, "remove project"),
    ]
    assert [r.serial for r in rows] == list(range(1, 7))
    assert all(r.timestamp.tzinfo is UTC for r in rows)
    assert await client.journal_last_serial() == 6
    # Strictly after the serial asked for.
    assert [r.serial for r in await client.journal_since(4)] == [5, 6]
    assert await client.journal_since(6) == []
    posts = [r for r in fake_index.requests if r.method == "POST"]
    assert posts
    assert all(r.path == "/pypi" for r in posts)
    assert all(r.headers["Content-Type"].startswith("text/xml") for r in posts)


async def test_rate_limit_fault_is_its_own_error_with_the_reset_hint(
    make_client: MakeClient, fake_index: FakeIndex
) -> None:
    fake_index.rate_limit_journal()
    with pytest.raises(JournalRateLimited) as caught:
        await make_client().journal_since(0)
    assert caught.value.retry_after == 1.0
    assert "HTTPTooManyRequests" in str(caught.value)
    # The next call goes through.
    assert await make_client().journal_since(0) == []


async def test_server_errors_are_retried_then_reported(
    make_client: MakeClient, fake_index: FakeIndex
) -> None:
    fake_index.add_project("foo")
    fake_index.fail("/pypi", 503, times=1)
    assert len(await make_client(retries=1).journal_since(0)) == 2
    fake_index.fail("/pypi", 502, times=None)
    with pytest.raises(IndexUnavailable):
        await make_client(retries=1).journal_since(0)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (billion_laughs_feed(), "forbidden XML construct"),
        (
            b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b"<methodResponse><params><param><value>&x;</value></param></params>"
            b"</methodResponse>",
            "forbidden XML construct",
        ),
        (b"<methodResponse><params><param><value><array>", "malformed XML"),
        (b"not xml at all", "malformed XML"),
        (b"<rss><channel/></rss>", "not an XML-RPC answer"),
        (_fault(-32601, "method not found"), "XML-RPC fault -32601"),
        (_answer({"not": "rows"}), "not an array"),
        (_answer([["acme", None, 1, "create"]]), "row 0 is malformed"),
        (_answer([["acme", None, 1, "create", "7"]]), "row 0 is malformed"),
        (_answer([["acme", None, 1, "create", True]]), "row 0 is malformed"),
        (_answer([["acme", 1.0, 1, "create", 7]]), "row 0 is malformed"),
        (_answer([[b"acme", None, 1, "create", 7]]), "row 0 is malformed"),
    ],
)
async def test_hostile_or_broken_answers_are_refused(
    make_client: MakeClient, fake_index: FakeIndex, body: bytes, reason: str
) -> None:
    fake_index.set_body("/pypi", body, content_type="text/xml")
    with pytest.raises(BadResponse) as caught:
        await make_client().journal_since(0)
    assert reason in str(caught.value)


async def test_a_huge_answer_is_cut_off_at_the_cap(
    make_client: MakeClient, fake_index: FakeIndex
) -> None:
    fake_index.set_huge_body("/pypi", 3 * 1024 * 1024)
    with pytest.raises(ResponseTooLarge):
        await make_client(max_journal_bytes=1024 * 1024).journal_since(0)


def test_rows_are_sorted_by_serial_and_empty_versions_are_none() -> None:
    body = _answer(
        [["b", "", 1_700_000_000, "create", 9], ["a", "1.0", 2**31 - 1, "new release", 3]]
    )
    # The marshaller refuses ints beyond 32 bits; an index (or a mirror) may still send one.
    body = body.replace(b"<int>2147483647</int>", b"<int>100000000000000000000</int>")
    value = parse_answer(body, url=URL)
    rows = parse_rows(value, url=URL)
    assert rows == [
        # An impossible time is not a reason to drop a row: it is informative only.
        JournalRow("a", "1.0", datetime.fromtimestamp(0, UTC), "new release", 3),
        JournalRow("b", None, datetime.fromtimestamp(1_700_000_000, UTC), "create", 9),
    ]


def test_a_rate_limit_fault_without_a_hint_has_no_retry_after() -> None:
    with pytest.raises(JournalRateLimited) as caught:
        parse_answer(_fault(-32500, "HTTPTooManyRequests"), url=URL)
    assert caught.value.retry_after is None
