"""Fuzzing the change-log (XML-RPC) parsers: rows, or BadResponse / JournalRateLimited."""

from __future__ import annotations

import contextlib
import xmlrpc.client
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.fuzz.fuzz_support import FUZZ, mutated, nested
from watcher.errors import BadResponse, JournalRateLimited
from watcher.pypi.journal import RATE_LIMIT_FAULT, parse_answer, parse_rows, parse_serial

pytestmark = pytest.mark.fuzz

URL = "http://index.invalid/pypi"
_INT32 = st.integers(-(2**31), 2**31 - 1)  # XML-RPC's <int>

# XML cannot carry control characters (nor a lone CR: it reads as LF): the index's rows hold
# none, so neither do the well-formed answers built here.
_text = st.text(st.characters(blacklist_categories=["Cs", "Cc"]), max_size=20)
rows = st.tuples(_text, st.none() | _text, _INT32, _text, _INT32).map(list)
# Values an XML-RPC answer can carry, so parse_rows meets rows of every wrong shape too.
xmlrpc_values = st.recursive(
    st.none() | st.booleans() | _INT32 | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=30,
)


def answer(value: Any) -> bytes:
    return xmlrpc.client.dumps((value,), methodresponse=True, allow_none=True).encode()


def read_rows(body: bytes) -> None:
    """The client's whole chain on one answer; only the documented errors may escape."""
    try:
        value = parse_answer(body, url=URL)
    except JournalRateLimited as exc:
        limited: JournalRateLimited | None = exc
    except BadResponse:
        return
    else:
        limited = None
    if limited is not None:
        assert limited.retry_after is None or limited.retry_after >= 0
        return
    try:
        parsed = parse_rows(value, url=URL)
    except BadResponse:
        pass
    else:
        assert [row.serial for row in parsed] == sorted(row.serial for row in parsed)
        assert all(row.timestamp.tzinfo is not None for row in parsed)
    with contextlib.suppress(BadResponse):
        assert parse_serial(value, url=URL) >= 0


@FUZZ
@given(st.binary(max_size=2048))
@example(b"")
@example(answer([]).replace(b"<array>", b"<int>" + b"9" * 5000 + b"</int><array>"))
@example(nested(b"<value><array><data>", b"</data></array></value>", 100_000))
def test_arbitrary_bytes(body: bytes) -> None:
    read_rows(body)


@FUZZ
@given(st.lists(rows, max_size=5), st.data())
def test_mutated_real_answers(journal: list[list[Any]], data: st.DataObject) -> None:
    read_rows(data.draw(mutated(st.just(answer(journal)))))


@FUZZ
@given(xmlrpc_values)
def test_any_value_in_a_well_formed_answer(value: Any) -> None:
    read_rows(answer(value))


@FUZZ
@given(st.lists(rows, max_size=8))
def test_real_answers_give_every_row_in_serial_order(journal: list[list[Any]]) -> None:
    parsed = parse_rows(parse_answer(answer(journal), url=URL), url=URL)
    assert [r.serial for r in parsed] == sorted(row[4] for row in journal)
    assert sorted(repr((r.name, r.version, r.action)) for r in parsed) == sorted(
        repr((row[0], row[1] or None, row[3])) for row in journal
    )


@FUZZ
@given(
    _INT32 | st.sampled_from([RATE_LIMIT_FAULT]),
    _text,
)
@example(RATE_LIMIT_FAULT, "Limit may reset in 1e999 seconds.")
@example(RATE_LIMIT_FAULT, "Limit may reset in 99999999999999999999999999999 seconds.")
def test_any_fault(code: int, message: str) -> None:
    body = xmlrpc.client.dumps(xmlrpc.client.Fault(code, message), methodresponse=True).encode()
    try:
        parse_answer(body, url=URL)
    except JournalRateLimited:
        assert code == RATE_LIMIT_FAULT
    except BadResponse:
        assert code != RATE_LIMIT_FAULT
    else:
        pytest.fail("a fault was taken for an answer")


# Found by this fuzzer: a malformed row is quoted with str(raw)[:200], and str() of an array
# nested thousands deep (an answer parse_answer accepts) raised RecursionError.
DEEP_ROW = answer([[]]).replace(
    b"<array><data>\n</data></array>",
    b"<array><data>"
    + nested(b"<value><array><data>", b"</data></array></value>", 5000)
    + b"</data></array>",
)


def test_a_deeply_nested_row_is_a_bad_response() -> None:
    value = parse_answer(DEEP_ROW, url=URL)
    with pytest.raises(BadResponse):
        parse_rows(value, url=URL)
