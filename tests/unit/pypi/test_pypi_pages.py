"""Simple-API project pages: PEP 691 JSON and PEP 503 HTML, hostile bodies refused or bounded."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fakes.pypi import FakeIndex
from watcher.errors import AnswerRefused
from watcher.pypi import IndexClient
from watcher.pypi.pages import MAX_FILENAME, ProjectPage, parse_project_page

URL = "https://index.example/simple/acme-billing/"
JSON = "application/vnd.pypi.simple.v1+json"
HTML = "text/html; charset=utf-8"
SHA_A = "a" * 64
SHA_B = "0123456789abcdef" * 4


def page_json(files: list[Any], **extra: Any) -> bytes:
    document = {"meta": {"api-version": "1.1"}, "name": "acme-billing", "files": files, **extra}
    return json.dumps(document).encode()


def page_html(*anchors: str, tail: str = "</body>\n</html>\n") -> bytes:
    lines = ["<!DOCTYPE html>", "<html>", "<body>", "<h1>Links for acme-billing</h1>"]
    return ("\n".join([*lines, *anchors]) + "\n" + tail).encode()


def parse_json(body: bytes) -> ProjectPage:
    return parse_project_page(body, url=URL, name="Acme_Billing", content_type=JSON)


def parse_html(body: bytes) -> ProjectPage:
    return parse_project_page(body, url=URL, name="acme-billing", content_type=HTML)


def test_json_page_gives_files_hashes_upload_times_yanks_and_sorted_versions() -> None:
    body = page_json(
        [
            {
                "filename": "acme_billing-4.10.0.tar.gz",
                "hashes": {"sha256": SHA_A.upper(), "md5": "x"},
                "upload-time": "2024-03-05T14:07:09.123456Z",
                "yanked": "broken build",
            },
            {
                "filename": "acme_billing-4.2.0-py3-none-any.whl",
                "hashes": {"sha256": SHA_B},
                "upload-time": "2023-01-02T03:04:05Z",
                "yanked": False,
            },
        ],
        versions=["4.2.0", "4.10.0", "5.0rc1"],  # PEP 700: a version with no file yet
    )
    page = parse_json(body)

    assert page.name == "acme-billing"
    assert page.versions == ("4.2.0", "4.10.0", "5.0rc1")  # PEP 440 order, not string order
    first, second = page.files
    assert first.filename == "acme_billing-4.10.0.tar.gz"
    assert first.sha256 == SHA_A  # lower-cased
    assert first.upload_time == datetime(2024, 3, 5, 14, 7, 9, 123456, tzinfo=UTC)
    assert first.yanked is True
    assert second.sha256 == SHA_B
    assert second.yanked is False
    assert page.skipped == 0


def test_html_page_gives_files_from_links_fragments_and_data_yanked() -> None:
    body = page_html(
        f'<a href="../../packages/acme_billing-4.2.0-py3-none-any.whl#sha256={SHA_A}">'
        "acme_billing-4.2.0-py3-none-any.whl</a><br>",
        '<a href="/packages/acme_billing-4.1.tar.gz#md5=abcdef" data-yanked="">'
        "acme_billing-4.1.tar.gz</a><br>",
        f'<a href="https://files.example/x/acme_billing-3.0.zip#SHA256={SHA_B}">x</a>',
        tail="</body>\n</html>\n<!--SERIAL 42-->\n",
    )
    page = parse_html(body)

    assert [f.filename for f in page.files] == [
        "acme_billing-4.2.0-py3-none-any.whl",
        "acme_billing-4.1.tar.gz",
        "acme_billing-3.0.zip",  # the link's last segment, not the anchor text
    ]
    assert [f.sha256 for f in page.files] == [SHA_A, None, SHA_B]  # md5 is no sha256
    assert [f.yanked for f in page.files] == [False, True, False]
    assert page.versions == ("3.0", "4.1", "4.2.0")
    assert all(f.upload_time is None for f in page.files)


def test_versions_come_only_from_this_projects_file_names_that_parse() -> None:
    body = page_json(
        [
            {"filename": "acme_billing-1.0.tar.gz", "hashes": {}},
            {"filename": "other_project-9.0.tar.gz", "hashes": {}},  # another project's file
            {"filename": "acme_billing-1.5-py2.7.egg", "hashes": {}},  # no wheel, no sdist
            {"filename": "acme_billing-not.a.version.tar.gz", "hashes": {}},
            {"filename": "README.txt", "hashes": {}},
        ],
        versions=["2.0", "x" * 500, "not a version", 7],
    )
    page = parse_json(body)

    assert page.versions == ("1.0", "2.0")
    assert len(page.files) == 5  # kept as files: the mirror check compares every file


@pytest.mark.parametrize(
    "digest",
    ["a" * 63, "a" * 65, "g" * 64, "", None, 12, ["a" * 64], "a" * 10_000],
)
def test_a_digest_that_is_not_64_hex_digits_is_none(digest: object) -> None:
    page = parse_json(
        page_json([{"filename": "acme_billing-1.0.tar.gz", "hashes": {"sha256": digest}}])
    )
    [file] = page.files
    assert file.sha256 is None


@pytest.mark.parametrize(
    "filename",
    ["", "x" * (MAX_FILENAME + 1), "../../etc/passwd", "a\\b.tar.gz", "a\nb.tar.gz", "..", None, 3],
)
def test_absurd_file_names_are_skipped_and_counted(filename: object) -> None:
    page = parse_json(
        page_json([{"filename": filename, "hashes": {}}, {"filename": "acme_billing-1.0.tar.gz"}])
    )
    assert [f.filename for f in page.files] == ["acme_billing-1.0.tar.gz"]
    assert page.skipped == 1


@pytest.mark.parametrize(
    "upload_time", ["yesterday", "2024-13-01T00:00:00Z", 1700000000, "9" * 100, None]
)
def test_a_bad_upload_time_is_none(upload_time: object) -> None:
    page = parse_json(
        page_json([{"filename": "acme_billing-1.0.tar.gz", "upload-time": upload_time}])
    )
    assert page.files[0].upload_time is None


def test_an_upload_time_without_a_zone_is_read_as_utc() -> None:
    page = parse_json(
        page_json([{"filename": "acme_billing-1.0.tar.gz", "upload-time": "2024-03-05T14:07:09"}])
    )
    assert page.files[0].upload_time == datetime(2024, 3, 5, 14, 7, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"files": [', "malformed"),
        (b"[" * 100_000, "malformed"),
        (b'{"files": [], "files": []}', "malformed"),  # a key given twice
        (b'{"files": [{"size": 1' + b"9" * 5000 + b"}]}", "malformed"),  # beyond int()'s limit
        (b"\xff\xfe{}", "malformed"),
        (b"[]", "no 'files' list"),
        (b'{"files": {}}', "no 'files' list"),
        (b'{"meta": [], "files": []}', "'meta'"),
    ],
)
def test_malformed_json_is_refused(body: bytes, reason: str) -> None:
    with pytest.raises(AnswerRefused, match=reason):
        parse_json(body)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (page_html('<a href="/p/acme_billing-1.0.tar.gz">x</a>', tail=""), "truncated"),
        (page_html('<a href="/p/acme_billing-1.0.tar.gz">x</a>', tail="</body>"), "truncated"),
        (page_html("", tail="</body></html><a href='/p/evil-1.0.tar.gz'>x</a>"), "truncated"),
        (b"\xff" + page_html(""), "not UTF-8"),
    ],
)
def test_incomplete_or_undecodable_html_is_refused(body: bytes, reason: str) -> None:
    with pytest.raises(AnswerRefused, match=reason):
        parse_html(body)


def test_html_entries_without_a_usable_link_are_skipped_and_counted() -> None:
    body = page_html(
        "<a>no href</a>",
        '<a href="http://[broken/acme_billing-1.0.tar.gz">bad host</a>',
        '<a href="/p/acme_billing-2.0.tar.gz">ok</a>',
        '<a href="/p/' + "x" * 300 + '.tar.gz">too long</a>',
    )
    page = parse_html(body)
    assert [f.filename for f in page.files] == ["acme_billing-2.0.tar.gz"]
    assert page.skipped == 3


def test_an_empty_html_page_has_no_files() -> None:
    page = parse_html(page_html())
    assert page.files == ()
    assert page.versions == ()


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=2048), json_page=st.booleans())
def test_no_bytes_crash_the_parser(body: bytes, json_page: bool) -> None:
    try:
        page = parse_project_page(
            body, url=URL, name="acme-billing", content_type=JSON if json_page else HTML
        )
    except AnswerRefused:
        return
    assert all(0 < len(f.filename) <= MAX_FILENAME for f in page.files)


@settings(max_examples=200, deadline=None)
@given(
    anchors=st.lists(
        st.text(alphabet="<>a href=\"#=/ sha256.tar.gz-_&;0123456789abcdef'", max_size=80),
        max_size=10,
    )
)
def test_no_markup_between_complete_html_tags_crashes_the_parser(anchors: list[str]) -> None:
    try:
        page = parse_html(page_html(*anchors))
    except AnswerRefused:
        return
    for file in page.files:
        assert file.sha256 is None or len(file.sha256) == 64


async def test_project_page_of_the_public_index(
    fake_index: FakeIndex, index_client: IndexClient
) -> None:
    fake_index.add_release("Acme.Billing", "1.0")
    fake_index.add_release("Acme.Billing", "1.10")
    project = fake_index.lookup("acme-billing")
    assert project is not None

    page = await index_client.project_page("ACME_billing")

    assert page is not None
    assert page.versions == ("1.0", "1.10")
    assert {f.sha256 for f in page.files} == {r.file.sha256 for r in project.releases}
    assert all(f.upload_time is not None for f in page.files)
    [request] = fake_index.requests
    assert request.path == "/simple/acme-billing/"
    assert "application/vnd.pypi.simple.v1+json" in request.headers["Accept"]


async def test_project_page_is_none_when_the_public_index_has_no_such_project(
    index_client: IndexClient,
) -> None:
    assert await index_client.project_page("acme-billing") is None
