"""A whole-index listing is used only when complete and consistent (issue 10, failure 9)."""

from __future__ import annotations

import pytest

from watcher.errors import AnswerRefused
from watcher.pypi.simple import parse_index_html, parse_index_json
from watcher.simulator.documents import simple_index_html, simple_index_json

URL = "http://127.0.0.1/simple/"
ENTRIES = [("acme-billing", "Acme.Billing", 4), ("other", "other", 7), ("zeta", "zeta", 9)]


def _json(body: bytes, header: int | None = 9) -> list[bytes]:
    return parse_index_json(body, url=URL, header_serial=header, etag=None).names


@pytest.mark.parametrize("compact", [True, False])
def test_a_complete_listing_is_parsed_in_both_forms(compact: bool) -> None:
    body = simple_index_json(9, ENTRIES)
    if not compact:  # spacing and key order a mirror might use: the general path
        body = body.replace(b'{"_last-serial":', b'{ "_last-serial" : ').replace(
            b',"name"', b', "name"'
        )
    listing = parse_index_json(body, url=URL, header_serial=9, etag="e")
    assert (listing.serial, listing.names, listing.serials) == (
        9,
        [b"Acme.Billing", b"other", b"zeta"],
        [4, 7, 9],
    )


@pytest.mark.parametrize("compact", [True, False])
def test_a_listing_cut_off_right_after_an_entry_is_refused(compact: bool) -> None:
    body = simple_index_json(9, ENTRIES)
    if not compact:
        body = body.replace(b",", b", ")
    # Cut after the second project: the body still ends with "}", as a whole one does.
    cut = body[: body.index(b"}", body.index(b'"other"')) + 1]
    assert cut.endswith(b"}")
    with pytest.raises(AnswerRefused, match="truncated"):
        _json(cut)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        # The array closed, the document not: a cut just after "]".
        (b'{"meta":{"_last-serial":9},"projects":[{"_last-serial":9,"name":"a"}]', "truncated"),
        # Junk between the entries, or an entry that is not JSON.
        (b'{"meta":{"_last-serial":9},"projects":[{"_last-serial":9,"name":"a"} x]}', "truncated"),
        (b'{"meta":{"_last-serial":9},"projects":[{"name":"a",}]}', "malformed project"),
        # No meta object, or a second projects list that would be the one a parser keeps.
        (b'{"projects":[{"_last-serial":9,"name":"a"}]}', "no 'meta'"),
        (
            b'{"meta":{"_last-serial":9},"projects":[{"_last-serial":9,"name":"a"}],"projects":[]}',
            "malformed simple index",
        ),
        (b'{"meta":{"_last-serial":"9"},"projects":[]}', "serial"),
    ],
)
def test_a_malformed_listing_is_refused(body: bytes, reason: str) -> None:
    with pytest.raises(AnswerRefused, match=reason):
        _json(body, header=None)


def test_a_project_beyond_the_listing_serial_is_refused() -> None:
    body = simple_index_json(9, [*ENTRIES, ("bogus", "bogus", 10**12)])
    with pytest.raises(AnswerRefused, match="beyond the listing's own serial"):
        _json(body)


def test_a_listing_serial_disagreeing_with_its_header_is_refused() -> None:
    with pytest.raises(AnswerRefused, match="header says 9"):
        _json(simple_index_json(10**12, ENTRIES), header=9)


def test_an_html_listing_must_end_with_its_closing_tags() -> None:
    body = simple_index_html(ENTRIES)
    listing = parse_index_html(body, url=URL, header_serial=9, etag=None)
    assert listing.names == [b"Acme.Billing", b"other", b"zeta"]
    cut = body[: body.index(b"</a>", body.index(b"other")) + 4]
    with pytest.raises(AnswerRefused, match="truncated"):
        parse_index_html(cut, url=URL, header_serial=9, etag=None)
    # A closing </body> alone is not the end of the document.
    with pytest.raises(AnswerRefused, match="truncated"):
        parse_index_html(
            body.replace(b"</html>", b"").rstrip() + b"<a href='/x/'>x</a>",
            url=URL,
            header_serial=9,
            etag=None,
        )
