"""Sanity checks for the fake index and the fake Slack: they must speak the real formats."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import aiohttp
import defusedxml
import defusedxml.ElementTree as SafeET
import pytest
from multidict import CIMultiDictProxy
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.pypi import (
    FakeIndex,
    billion_laughs_feed,
    external_entity_feed,
    truncated_feed,
)
from tests.fakes.slack import FakeSlack

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
WHEN = datetime(2024, 3, 5, 14, 7, 9, 123456, tzinfo=UTC)


@pytest.fixture
async def index() -> AsyncIterator[FakeIndex]:
    async with FakeIndex() as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


def _items(body: bytes) -> list[Element]:
    root = SafeET.fromstring(body)
    items: list[Element] = root.findall("./channel/item")
    return items


def _child(item: Element, tag: str) -> str | None:
    found = item.find(tag)
    return None if found is None else found.text


async def _get(
    http: aiohttp.ClientSession, url: str, **headers: str
) -> tuple[int, bytes, CIMultiDictProxy[str]]:
    async with http.get(url, headers=headers, allow_redirects=False) as response:
        return response.status, await response.read(), response.headers


# -- RSS ---------------------------------------------------------------------


async def test_updates_feed_format(index: FakeIndex, http: aiohttp.ClientSession) -> None:
    index.add_release("Acme.Utils", "1.2.3", summary="Utilities & helpers", upload_time=WHEN)
    index.add_release("foo", "0.1", summary=None, author_email=None)
    index.add_release("bar", "2.0", author_email="Jane <jane@example.com>, bob@example.com")

    status, body, headers = await _get(http, f"{index.base_url}/rss/updates.xml")

    assert status == 200
    assert headers["Content-Type"] == "text/xml; charset=UTF-8"
    assert "X-PyPI-Last-Serial" not in headers
    channel = SafeET.fromstring(body).find("channel")
    assert channel is not None
    assert _child(channel, "title") == "PyPI recent updates"
    assert _child(channel, "link") == f"{index.base_url}/"
    assert _child(channel, "language") == "en"
    bar, foo, acme = _items(body)
    assert _child(bar, "title") == "bar 2.0"
    assert _child(bar, "author") == "jane@example.com, bob@example.com"
    assert _child(foo, "description") == "None"
    assert foo.find("author") is None
    assert _child(acme, "title") == "Acme.Utils 1.2.3"
    assert _child(acme, "link") == f"{index.base_url}/project/acme-utils/1.2.3/"
    assert _child(acme, "description") == "Utilities & helpers"
    assert b"Utilities &amp; helpers" in body
    assert _child(acme, "pubDate") == "Tue, 05 Mar 2024 14:07:09 GMT"
    assert acme.find("guid") is None


async def test_feed_etag_gives_304(index: FakeIndex, http: aiohttp.ClientSession) -> None:
    index.add_release("foo", "1.0")
    url = f"{index.base_url}/rss/updates.xml"
    _, _, headers = await _get(http, url)
    etag = headers["ETag"]
    assert etag.startswith('"')

    status, body, _ = await _get(http, url, **{"If-None-Match": etag})
    assert (status, body) == (304, b"")

    index.add_release("foo", "1.1")
    status, _, headers = await _get(http, url, **{"If-None-Match": etag})
    assert status == 200
    assert headers["ETag"] != etag


async def test_updates_feed_keeps_newest_100(index: FakeIndex, http: aiohttp.ClientSession) -> None:
    for n in range(105):
        index.add_release(f"pkg{n}", "1.0")
    _, body, _ = await _get(http, f"{index.base_url}/rss/updates.xml")
    titles = [_child(item, "title") for item in _items(body)]
    assert len(titles) == 100
    assert titles[0] == "pkg104 1.0"
    assert titles[-1] == "pkg5 1.0"


async def test_packages_and_project_feeds(index: FakeIndex, http: aiohttp.ClientSession) -> None:
    index.add_release("Old_Name", "1.0")
    index.add_project("no-release-yet")
    index.add_release("New.Name", "0.1")
    index.add_release("Old_Name", "1.1")

    _, body, _ = await _get(http, f"{index.base_url}/rss/packages.xml")
    root = SafeET.fromstring(body)
    assert root.findtext("./channel/title") == "PyPI newest packages"
    items = _items(body)
    assert [_child(i, "title") for i in items] == [
        "New.Name added to PyPI",
        "Old_Name added to PyPI",
    ]
    assert _child(items[0], "link") == f"{index.base_url}/project/new-name/"
    assert _child(items[0], "guid") == f"{index.base_url}/project/new-name/"

    _, body, _ = await _get(http, f"{index.base_url}/rss/project/old-name/releases.xml")
    assert [_child(i, "title") for i in _items(body)] == ["1.1", "1.0"]
    status, _, _ = await _get(http, f"{index.base_url}/rss/project/nope/releases.xml")
    assert status == 404


# -- JSON API ----------------------------------------------------------------


async def test_json_api_shape(index: FakeIndex, http: aiohttp.ClientSession) -> None:
    index.add_release("Acme.Utils", "1.2", upload_time=WHEN, organization="acme", owners=["jane"])
    index.add_release("acme-utils", "1.10")
    index.add_release("acme_utils", "2.0rc1")

    status, body, headers = await _get(http, f"{index.base_url}/pypi/acme-utils/json")

    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    assert headers["Cache-Control"] == "max-age=900, public"
    assert "ETag" in headers
    doc = json.loads(body)
    assert body == json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    assert set(doc) == {"info", "last_serial", "ownership", "releases", "urls", "vulnerabilities"}
    assert headers["X-PyPI-Last-Serial"] == str(doc["last_serial"]) == str(index.serial)
    info = doc["info"]
    assert len(info) == 30
    assert info["name"] == "Acme.Utils"
    assert info["version"] == "1.10"  # newest non-pre-release
    assert info["release_url"] == f"{index.base_url}/project/acme-utils/1.10/"
    assert doc["ownership"] == {
        "organization": "acme",
        "roles": [{"role": "Owner", "user": "jane"}],
    }
    assert list(doc["releases"]) == ["1.10", "1.2", "2.0rc1"]
    (file,) = doc["releases"]["1.2"]
    assert file["packagetype"] == "sdist"
    assert file["filename"] == "acme_utils-1.2.tar.gz"
    assert set(file["digests"]) == {"sha256", "md5", "blake2b_256"}
    assert file["upload_time"] == "2024-03-05T14:07:09"
    assert file["upload_time_iso_8601"] == "2024-03-05T14:07:09.123456Z"
    assert file["url"].startswith(f"{index.base_url}/files/")
    assert file["yanked"] is False
    assert doc["vulnerabilities"] == []

    status, body, _ = await _get(http, f"{index.base_url}/pypi/Acme.Utils/1.2/json")
    assert status == 200
    doc = json.loads(body)
    assert "releases" not in doc
    assert doc["info"]["version"] == "1.2"


async def test_json_api_404s(index: FakeIndex, http: aiohttp.ClientSession) -> None:
    index.add_project("registered")
    index.add_release("gone", "1.0")
    index.remove_project("gone")
    index.add_release("here", "1.0")
    for path in ("unknown/json", "registered/json", "gone/json", "here/9.9/json"):
        status, body, _ = await _get(http, f"{index.base_url}/pypi/{path}")
        assert status == 404, path
        assert json.loads(body) == {"message": "Not Found"}


# -- simple API --------------------------------------------------------------


async def test_simple_index_json_and_html(index: FakeIndex, http: aiohttp.ClientSession) -> None:
    index.add_release("Zeta", "1.0")
    index.add_release("Acme.Utils", "1.0")
    index.add_project("middle")
    url = f"{index.base_url}/simple/"

    status, body, headers = await _get(http, url, Accept=SIMPLE_JSON)
    assert status == 200
    assert headers["Content-Type"] == SIMPLE_JSON
    assert headers["Vary"] == "Accept"
    # Each change writes journal rows with a serial each (create, add Owner, new release,
    # add source file), so the three projects end at serials 4, 8 and 10.
    assert headers["X-PyPI-Last-Serial"] == str(index.serial) == "10"
    doc = json.loads(body)
    assert doc["meta"] == {"_last-serial": 10, "api-version": "1.4"}
    assert doc["projects"] == [
        {"_last-serial": 8, "name": "Acme.Utils"},
        {"_last-serial": 10, "name": "middle"},
        {"_last-serial": 4, "name": "Zeta"},
    ]
    status, body, _ = await _get(
        http, url, Accept=SIMPLE_JSON, **{"If-None-Match": headers["ETag"]}
    )
    assert status == 304

    index.stale_serial = 1
    _, body, headers = await _get(http, url, Accept=SIMPLE_JSON)
    assert headers["X-PyPI-Last-Serial"] == "1"
    assert json.loads(body)["meta"]["_last-serial"] == 1

    status, body, headers = await _get(http, url)
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert '<a href="/simple/acme-utils/">Acme.Utils</a>' in body.decode()


async def test_simple_project(index: FakeIndex, http: aiohttp.ClientSession) -> None:
    index.add_release("Acme.Utils", "1.0")
    index.add_project("empty")
    base = index.base_url

    status, _, headers = await _get(http, f"{base}/simple/Acme.Utils/")
    assert status == 301
    assert headers["Location"] == "/simple/acme-utils/"
    async with http.get(f"{base}/simple/Acme.Utils/", headers={"Accept": SIMPLE_JSON}) as resp:
        assert resp.status == 200
        assert str(resp.url) == f"{base}/simple/acme-utils/"

    status, body, headers = await _get(http, f"{base}/simple/acme-utils/", Accept=SIMPLE_JSON)
    doc = json.loads(body)
    assert doc["name"] == "acme-utils"
    assert doc["project-status"] == {"status": "active"}
    assert doc["versions"] == ["1.0"]
    assert doc["files"][0]["filename"] == "acme_utils-1.0.tar.gz"
    assert headers["X-PyPI-Last-Serial"] == str(doc["meta"]["_last-serial"])

    status, body, _ = await _get(http, f"{base}/simple/empty/", Accept=SIMPLE_JSON)
    assert status == 200
    assert json.loads(body)["files"] == []

    status, body, _ = await _get(http, f"{base}/simple/acme-utils/")
    text = body.decode()
    assert re.search(r'<a href="[^"]+/acme_utils-1\.0\.tar\.gz#sha256=[0-9a-f]{64}">', text)
    assert text.rstrip().endswith(f"<!--SERIAL {headers['X-PyPI-Last-Serial']}-->")

    index.remove_project("Acme.Utils")
    status, _, _ = await _get(http, f"{base}/simple/acme-utils/")
    assert status == 404
    status, _, _ = await _get(http, f"{base}/simple/never-registered/")
    assert status == 404


# -- knobs -------------------------------------------------------------------


async def test_failures_and_recorded_requests(
    index: FakeIndex, http: aiohttp.ClientSession
) -> None:
    index.fail("/rss/", 503, times=2)
    url = f"{index.base_url}/rss/updates.xml"
    assert (await _get(http, url))[0] == 503
    assert (await _get(http, url))[0] == 503
    assert (await _get(http, url))[0] == 200

    index.fail("/pypi/", 500, times=None)
    for _ in range(3):
        assert (await _get(http, f"{index.base_url}/pypi/x/json"))[0] == 500
    index.clear_failures()
    assert (await _get(http, f"{index.base_url}/pypi/x/json"))[0] == 404

    assert (await _get(http, f"{index.base_url}/nothing/here"))[0] == 404
    await _get(http, f"{index.base_url}/simple/?x=1", Accept=SIMPLE_JSON)
    last = index.requests[-1]
    assert (last.method, last.path, last.query) == ("GET", "/simple/", {"x": "1"})
    assert last.headers["Accept"] == SIMPLE_JSON
    assert len(index.requests) == 9


async def test_delay(index: FakeIndex) -> None:
    index.delay = 5
    timeout = aiohttp.ClientTimeout(total=0.2)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        with pytest.raises(asyncio.TimeoutError):
            await _get(session, f"{index.base_url}/rss/updates.xml")


async def test_body_overrides(index: FakeIndex, http: aiohttp.ClientSession) -> None:
    index.set_body("/rss/updates.xml", b"<not-rss/>")
    assert (await _get(http, f"{index.base_url}/rss/updates.xml"))[1] == b"<not-rss/>"
    index.set_body("/rss/updates.xml", None)
    assert b"<rss" in (await _get(http, f"{index.base_url}/rss/updates.xml"))[1]

    size = 3 * 1024 * 1024 + 17
    index.set_huge_body("/rss/packages.xml", size)
    async with http.get(f"{index.base_url}/rss/packages.xml") as response:
        assert "Content-Length" not in response.headers
        received = 0
        async for chunk in response.content.iter_chunked(64 * 1024):
            received += len(chunk)
    assert received == size


async def test_hostile_feeds(index: FakeIndex) -> None:
    with pytest.raises(defusedxml.EntitiesForbidden):
        SafeET.fromstring(billion_laughs_feed())
    with pytest.raises(defusedxml.EntitiesForbidden):
        SafeET.fromstring(external_entity_feed())
    assert b"file:///etc/passwd" in external_entity_feed()
    index.add_release("foo", "1.0")
    index.add_release("bar", "1.0")
    with pytest.raises(ParseError):
        SafeET.fromstring(truncated_feed(index))


# -- Slack -------------------------------------------------------------------


def _client(slack: FakeSlack, **kwargs: Any) -> AsyncWebClient:
    return AsyncWebClient(token=slack.token, base_url=slack.base_url, **kwargs)


async def test_post_message_recorded(slack: FakeSlack) -> None:
    client = _client(slack)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
    metadata = {"event_type": "squat_alert", "event_payload": {"alert_id": 7}}

    first = await client.chat_postMessage(
        channel="C123", text="hello", blocks=blocks, metadata=metadata
    )
    second = await client.chat_postMessage(channel="C123", text="again")

    assert first["ok"] is True
    assert first["channel"] == "C123"
    assert first["message"]["text"] == "hello"
    assert float(second["ts"]) > float(first["ts"])
    assert re.fullmatch(r"\d{10}\.\d{6}", first["ts"])
    messages = await slack.wait_for_messages(2, timeout=1)
    assert messages[0]["blocks"] == blocks
    assert messages[0]["metadata"] == metadata
    assert messages[0]["ts"] == first["ts"]
    assert slack.calls[0][0] == "chat.postMessage"
    assert (await client.auth_test())["ok"] is True


async def test_post_message_errors(slack: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as bad_token:
        await AsyncWebClient(token="xoxb-wrong", base_url=slack.base_url).chat_postMessage(
            channel="C1", text="x"
        )
    assert bad_token.value.response["error"] == "invalid_auth"

    client = _client(slack)
    slack.fail_app("channel_not_found")
    with pytest.raises(SlackApiError) as app_error:
        await client.chat_postMessage(channel="C1", text="x")
    assert app_error.value.response.status_code == 200
    assert app_error.value.response["error"] == "channel_not_found"

    slack.fail(500)
    with pytest.raises(SlackApiError) as server_error:
        await client.chat_postMessage(channel="C1", text="x")
    assert server_error.value.response.status_code == 500

    slack.fail(429, times=None)
    with pytest.raises(SlackApiError) as limited:
        await client.chat_postMessage(channel="C1", text="x")
    assert limited.value.response["error"] == "ratelimited"
    slack.clear_failures()

    assert slack.messages == []
    assert len(slack.calls) == 4
    await client.chat_postMessage(channel="C1", text="x")
    assert len(slack.messages) == 1


async def test_rate_limit_retry_handler(slack: FakeSlack) -> None:
    client = _client(slack, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)])
    slack.fail(429, retry_after=1)

    response = await client.chat_postMessage(channel="C1", text="after retry")

    assert response["ok"] is True
    assert [m["text"] for m in slack.messages] == ["after retry"]
    assert [name for name, _ in slack.calls] == ["chat.postMessage", "chat.postMessage"]


async def test_conversations_history(slack: FakeSlack) -> None:
    client = _client(slack)
    metadata = {"event_type": "squat_alert", "event_payload": {"alert_id": 1}}
    first = await client.chat_postMessage(channel="C1", text="one", metadata=metadata)
    await client.chat_postMessage(channel="C2", text="elsewhere")
    await client.chat_postMessage(channel="C1", text="two")

    plain = await client.conversations_history(channel="C1")
    assert [m["text"] for m in plain["messages"]] == ["two", "one"]
    assert all("metadata" not in m for m in plain["messages"])
    assert plain["has_more"] is False

    full = await client.conversations_history(channel="C1", include_all_metadata=True, limit=10)
    assert full["messages"][1]["metadata"] == metadata

    newer = await client.conversations_history(channel="C1", oldest=first["ts"])
    assert [m["text"] for m in newer["messages"]] == ["two"]


async def test_accept_then_hang(slack: FakeSlack) -> None:
    slack.accept_then_hang = 30
    timeout = aiohttp.ClientTimeout(total=0.3)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        with pytest.raises(asyncio.TimeoutError):
            await session.post(
                f"{slack.base_url}chat.postMessage",
                json={"channel": "C1", "text": "lost answer"},
                headers={"Authorization": f"Bearer {slack.token}"},
            )
    assert [m["text"] for m in slack.messages] == ["lost answer"]
    with pytest.raises(TimeoutError):
        await slack.wait_for_messages(2, timeout=0.05)
