"""IndexClient.project / exists / project_url against the fake index."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.fakes.pypi import FakeIndex
from tests.unit.pypi.pypi_helpers import USER_AGENT, MakeClient, MiB, paths
from watcher.errors import (
    BadResponse,
    IndexUnavailable,
    InvalidName,
    ProjectNotFound,
    ResponseTooLarge,
)
from watcher.pypi import IndexClient

WHEN = datetime(2024, 3, 5, 14, 7, 9, 123456, tzinfo=UTC)
ZERO = timedelta(0)
JSON = "application/json"


# -- project() ------------------------------------------------------------------


async def test_project_fields(fake_index: FakeIndex, client: IndexClient) -> None:
    fake_index.add_release(
        "Acme.Utils",
        "1.2",
        owners=("alice", "bob"),
        organization="acme-corp",
        upload_time=WHEN,
    )
    for n, version in enumerate(["1.10", "banana", "2.0rc1", "1.9", "apple"], start=1):
        fake_index.add_release("acme_utils", version, upload_time=WHEN + timedelta(days=n))
    fake_index.set_owners("ACME-utils", ["carol"], organization="acme-corp")
    fake_index.add_release(
        "acme-utils",
        "1.11",
        summary="Utilities",
        author="Jane",
        author_email="jane@example.com",
        upload_time=WHEN + timedelta(days=9),
    )

    info = await client.project("Acme.Utils")

    assert info.name == "Acme.Utils"
    assert info.canonical == "acme-utils"
    assert info.latest_version == "1.11"
    assert (info.summary, info.author, info.author_email) == (
        "Utilities",
        "Jane",
        "jane@example.com",
    )
    assert info.owners == ("carol",)
    assert info.organization == "acme-corp"
    assert info.last_serial == fake_index.serial
    # PEP 440 order ("1.10" after "1.9" and "1.2"), invalid versions kept, last.
    assert [r.version for r in info.releases] == [
        "1.2",
        "1.9",
        "1.10",
        "1.11",
        "2.0rc1",
        "apple",
        "banana",
    ]
    first = info.releases[0]
    assert first.files == ("acme_utils-1.2.tar.gz",)
    assert first.upload_time == WHEN
    assert first.upload_time is not None
    assert first.upload_time.tzinfo is UTC
    assert first.yanked is False
    for release in info.releases:
        assert release.upload_time is not None
        assert release.upload_time.utcoffset() == ZERO
        assert release.yanked is False


async def test_project_owners_without_organization(
    fake_index: FakeIndex, client: IndexClient
) -> None:
    fake_index.add_release("foo", "1.0", owners=("alice", "bob"))
    info = await client.project("foo")
    assert info.owners == ("alice", "bob")
    assert info.organization is None


def _file(name: str, **fields: Any) -> dict[str, Any]:
    return {"filename": name, "packagetype": "sdist", **fields}


async def test_project_release_details_from_a_hand_written_answer(
    fake_index: FakeIndex, client: IndexClient
) -> None:
    document = {
        "info": {"name": "Acme.Utils", "version": "1.0", "summary": "", "author": None},
        "last_serial": 42,
        "ownership": {
            "organization": None,
            "roles": [{"role": "Owner", "user": "jane"}, {"role": "Maintainer"}, "junk"],
        },
        "releases": {
            "1.0": [
                _file("b.whl", upload_time_iso_8601="2024-03-05T14:07:09.123456Z", yanked=True),
                _file("a.tar.gz", upload_time_iso_8601="2024-03-05T14:07:08Z", yanked=False),
            ],
            "0.9": [_file("c.tar.gz", upload_time="2024-03-01T10:00:00")],  # no zone: UTC
            "0.8": [_file("d.tar.gz", upload_time_iso_8601="2024-03-01T12:00:00+02:00")],
            "0.7": [_file("e.tar.gz", upload_time_iso_8601="9999-12-31T23:59:59-01:00")],
            "0.6": "not a list",
        },
        "urls": [],
        "vulnerabilities": [],
    }
    fake_index.set_body("/pypi/acme-utils/json", json.dumps(document).encode(), JSON)

    info = await client.project("acme-utils")

    assert (info.name, info.latest_version, info.summary, info.author) == (
        "Acme.Utils",
        "1.0",
        None,
        None,
    )
    assert info.owners == ("jane",)
    assert info.organization is None
    assert info.last_serial == 42
    by_version = {r.version: r for r in info.releases}
    assert [r.version for r in info.releases] == ["0.6", "0.7", "0.8", "0.9", "1.0"]
    one = by_version["1.0"]
    assert one.yanked is True  # any yanked file marks the release
    assert one.files == ("a.tar.gz", "b.whl")
    assert one.upload_time == datetime(2024, 3, 5, 14, 7, 8, tzinfo=UTC)  # earliest file
    assert by_version["0.9"].upload_time == datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert by_version["0.8"].upload_time == datetime(2024, 3, 1, 10, tzinfo=UTC)
    for release in info.releases:
        if release.upload_time is not None:
            assert release.upload_time.tzinfo is UTC
    assert by_version["0.7"].upload_time is None  # out of range once in UTC: no time
    assert by_version["0.7"].files == ("e.tar.gz",)
    assert by_version["0.6"].upload_time is None
    assert by_version["0.6"].files == ()
    assert by_version["0.6"].yanked is False


async def test_project_minimal_answer(fake_index: FakeIndex, client: IndexClient) -> None:
    fake_index.set_body("/pypi/foo/json", b'{"info": {}}', JSON)
    info = await client.project("foo")
    assert (info.name, info.canonical, info.latest_version) == ("foo", "foo", None)
    assert (info.owners, info.organization, info.releases, info.last_serial) == (
        (),
        None,
        (),
        None,
    )


async def test_project_requests_the_normalized_url(
    fake_index: FakeIndex, client: IndexClient
) -> None:
    fake_index.add_release("Acme.Utils", "1.0")

    info = await client.project("ACME__utils")

    assert info.canonical == "acme-utils"
    (request,) = fake_index.requests
    assert request.path == "/pypi/acme-utils/json"
    assert request.headers["User-Agent"] == USER_AGENT


async def test_project_not_found(fake_index: FakeIndex, client: IndexClient) -> None:
    fake_index.add_project("Registered.Empty")  # no release: the JSON API says 404
    fake_index.add_release("gone", "1.0")
    fake_index.remove_project("gone")

    for name, norm in [
        ("Unknown", "unknown"),
        ("Registered.Empty", "registered-empty"),
        ("gone", "gone"),
    ]:
        with pytest.raises(ProjectNotFound) as info:
            await client.project(name)
        assert info.value.name == norm

    assert paths(fake_index) == [
        "/pypi/unknown/json",
        "/pypi/registered-empty/json",
        "/pypi/gone/json",
    ]  # a 404 is an answer, not retried


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(b'{"info": {"name": "foo"', "malformed JSON", id="truncated"),
        pytest.param(b"<html>Service Unavailable</html>", "malformed JSON", id="html"),
        pytest.param(b"", "malformed JSON", id="empty"),
        pytest.param(b'{"info": "\xff\xfe"}', "malformed JSON", id="non-utf8"),
        pytest.param(b"[" * 100_000, "malformed JSON", id="deep-nesting"),
        pytest.param(b'{"info": {}, "x": ' + b"[" * 100_000, "malformed JSON", id="deep-inside"),
        pytest.param(b'["info"]', "JSON has no 'info' object", id="list"),
        pytest.param(b'"info"', "JSON has no 'info' object", id="string"),
        pytest.param(b"null", "JSON has no 'info' object", id="null"),
        pytest.param(b'{"releases": {}}', "JSON has no 'info' object", id="no-info"),
        pytest.param(b'{"info": ["name"]}', "JSON has no 'info' object", id="info-list"),
        # int() refuses more than 4300 digits with a plain ValueError (found by fuzzing).
        pytest.param(b'{"info": {"x": ' + b"9" * 5000 + b"}}", "malformed JSON", id="huge-int"),
    ],
)
async def test_project_unusable_json_is_bad_response(
    fake_index: FakeIndex, client: IndexClient, body: bytes, reason: str
) -> None:
    fake_index.set_body("/pypi/foo/json", body, JSON)
    with pytest.raises(BadResponse) as info:
        await client.project("foo")
    assert info.value.reason.startswith(reason)
    assert info.value.url == f"{fake_index.base_url}/pypi/foo/json"
    assert paths(fake_index) == ["/pypi/foo/json"]


async def test_project_persistent_5xx_is_index_unavailable(
    fake_index: FakeIndex, make_client: MakeClient
) -> None:
    fake_index.add_release("foo", "1.0")
    fake_index.fail("/pypi/", 502, times=None)
    with pytest.raises(IndexUnavailable, match=r"HTTP 502 \(after 3 attempts\)"):
        await make_client(retries=2).project("foo")
    assert paths(fake_index) == ["/pypi/foo/json"] * 3


async def test_project_5xx_then_success(fake_index: FakeIndex, client: IndexClient) -> None:
    fake_index.add_release("foo", "1.0")
    fake_index.fail("/pypi/foo/", 500, times=1)
    assert (await client.project("foo")).latest_version == "1.0"
    assert paths(fake_index) == ["/pypi/foo/json"] * 2


async def test_project_forbidden_is_bad_response(
    fake_index: FakeIndex, client: IndexClient
) -> None:
    fake_index.fail("/pypi/", 403, times=None)
    with pytest.raises(BadResponse, match="HTTP 403"):
        await client.project("foo")
    assert paths(fake_index) == ["/pypi/foo/json"]


async def test_project_body_over_json_cap(fake_index: FakeIndex, make_client: MakeClient) -> None:
    fake_index.set_huge_body("/pypi/foo/json", 3 * MiB, content_type=JSON)
    with pytest.raises(ResponseTooLarge) as info:
        await make_client(max_json_bytes=MiB).project("foo")
    assert info.value.limit == MiB
    assert paths(fake_index) == ["/pypi/foo/json"]


async def test_project_feed_cap_does_not_apply_to_json(
    fake_index: FakeIndex, make_client: MakeClient
) -> None:
    fake_index.add_release("foo", "1.0")
    info = await make_client(max_feed_bytes=10, max_json_bytes=MiB).project("foo")
    assert info.latest_version == "1.0"


@pytest.mark.parametrize("name", ["", "bad name", "../etc", "caf\u00e9", "a" * 201, "-foo"])
async def test_invalid_name_asks_nothing(
    fake_index: FakeIndex, client: IndexClient, name: str
) -> None:
    with pytest.raises(InvalidName):
        await client.project(name)
    with pytest.raises(InvalidName):
        await client.exists(name)
    with pytest.raises(InvalidName):
        client.project_url(name)
    assert fake_index.requests == []


# -- exists() -------------------------------------------------------------------


async def test_exists_for_released_and_release_less_projects(
    fake_index: FakeIndex, client: IndexClient
) -> None:
    fake_index.add_release("Acme.Utils", "1.0")
    fake_index.add_project("Registered_Empty")

    assert await client.exists("acme-utils") is True
    assert await client.exists("registered-empty") is True
    # The JSON API does not know the release-less project; exists() must not rely on it.
    with pytest.raises(ProjectNotFound):
        await client.project("registered-empty")

    assert paths(fake_index, "/simple/") == ["/simple/acme-utils/", "/simple/registered-empty/"]


async def test_exists_false_for_unknown_and_removed(
    fake_index: FakeIndex, client: IndexClient
) -> None:
    fake_index.add_release("gone", "1.0")
    assert await client.exists("gone") is True
    fake_index.remove_project("gone")

    assert await client.exists("gone") is False
    assert await client.exists("never-registered") is False
    assert paths(fake_index) == ["/simple/gone/", "/simple/gone/", "/simple/never-registered/"]


async def test_exists_asks_the_normalized_name_once(
    fake_index: FakeIndex, client: IndexClient
) -> None:
    fake_index.add_release("Acme.Utils", "1.0")

    assert await client.exists("ACME_Utils") is True

    (request,) = fake_index.requests  # no redirect round trip
    assert request.path == "/simple/acme-utils/"
    assert request.headers["User-Agent"] == USER_AGENT


async def test_exists_persistent_5xx_is_index_unavailable(
    fake_index: FakeIndex, make_client: MakeClient
) -> None:
    fake_index.add_release("foo", "1.0")
    fake_index.fail("/simple/", 503, times=None)
    with pytest.raises(IndexUnavailable) as info:
        await make_client(retries=3).exists("foo")
    assert info.value.reason == "HTTP 503 (after 4 attempts)"
    assert paths(fake_index) == ["/simple/foo/"] * 4


async def test_exists_5xx_then_success(fake_index: FakeIndex, client: IndexClient) -> None:
    fake_index.add_release("foo", "1.0")
    fake_index.fail("/simple/", 504, times=2)
    assert await client.exists("foo") is True
    assert paths(fake_index) == ["/simple/foo/"] * 3


async def test_exists_unexpected_status_is_bad_response(
    fake_index: FakeIndex, client: IndexClient
) -> None:
    fake_index.fail("/simple/", 403, times=None)
    with pytest.raises(BadResponse, match="HTTP 403"):
        await client.exists("foo")
    assert paths(fake_index) == ["/simple/foo/"]


async def test_exists_connection_refused(make_client: MakeClient, closed_port_url: str) -> None:
    with pytest.raises(IndexUnavailable, match=r"after 2 attempts"):
        await make_client(base_url=closed_port_url, retries=1).exists("foo")


async def test_exists_does_not_read_the_page(
    fake_index: FakeIndex, make_client: MakeClient
) -> None:
    # A 10 GiB simple page: reading it (or even capping it at 1 byte) would not answer True.
    fake_index.set_huge_body("/simple/foo/", 10 * 1024 * MiB, content_type="text/html")
    client = make_client(max_feed_bytes=1, max_json_bytes=1)
    started = time.monotonic()

    assert await client.exists("foo") is True

    assert time.monotonic() - started < 5.0
    assert paths(fake_index) == ["/simple/foo/"]


# -- project_url() ---------------------------------------------------------------


async def test_project_url(fake_index: FakeIndex, make_client: MakeClient) -> None:
    client = make_client(base_url=fake_index.base_url + "/")
    base = fake_index.base_url

    assert client.project_url("Acme.Utils") == f"{base}/project/acme-utils/"
    assert client.project_url("acme_utils", "1.2.3") == f"{base}/project/acme-utils/1.2.3/"
    assert client.project_url("foo", None) == f"{base}/project/foo/"
    assert client.project_url("foo", "") == f"{base}/project/foo/"
    # The index's text stays one path segment: it cannot add a query or leave the project.
    assert (
        client.project_url("foo", "1/../x?a=<b>#c")
        == f"{base}/project/foo/1%2F..%2Fx%3Fa%3D%3Cb%3E%23c/"
    )
    assert fake_index.requests == []  # pure: no request
