"""IndexClient.confirm_index(): is the base URL really an index? Against the fake index,
the fake mounted under a path prefix, and small unrelated web servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import aiohttp
import pytest
from aiohttp import web

from tests.fakes.pypi import FakeIndex
from tests.unit.pypi.pypi_helpers import MakeClient, paths
from watcher.errors import ConfigError, IndexUnavailable, NotAnIndex

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

RSS = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
    b"<title>PyPI recent updates</title></channel></rss>\n"
)


@asynccontextmanager
async def serve(routes: dict[str, Handler], catch_all: Handler | None = None) -> AsyncIterator[str]:
    """A web server on 127.0.0.1 answering ``routes`` (exact paths), else ``catch_all``
    (else aiohttp's 404); yields its base URL."""
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_get(path, handler)
    if catch_all is not None:
        app.router.add_get("/{tail:.*}", catch_all)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def answer(body: bytes | str, content_type: str, status: int = 200) -> Handler:
    data = body.encode() if isinstance(body, str) else body

    async def handle(_: web.Request) -> web.StreamResponse:
        return web.Response(status=status, body=data, headers={"Content-Type": content_type})

    return handle


@asynccontextmanager
async def mounted(
    fake: FakeIndex, http: aiohttp.ClientSession, *prefixes: str
) -> AsyncIterator[str]:
    """The fake index served again under each of ``prefixes`` (a reverse proxy, the way a
    mirror is often mounted): ``<url>/mirror/simple/`` is the fake's ``/simple/``."""

    async def forward(request: web.Request) -> web.StreamResponse:
        prefix = "/" + request.path.strip("/").split("/", 1)[0]
        tail = request.path[len(prefix) :]
        headers = {k: v for k, v in request.headers.items() if k in ("Accept", "If-None-Match")}
        async with http.get(fake.base_url + tail, headers=headers, allow_redirects=False) as up:
            body = await up.read()
            out = {"Content-Type": up.headers.get("Content-Type", "application/octet-stream")}
            if "Location" in up.headers:
                out["Location"] = prefix + up.headers["Location"]
            return web.Response(status=up.status, body=body, headers=out)

    app = web.Application()
    for prefix in prefixes:
        app.router.add_get(prefix + "/{tail:.*}", forward)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


# -- an index ----------------------------------------------------------------------


async def test_the_fake_index_is_confirmed_with_one_look_at_each_api(
    make_client: MakeClient, fake_index: FakeIndex
) -> None:
    fake_index.add_release("acme-utils", "1.0")
    client = make_client()
    assert client.confirmed is False

    await client.confirm_index()

    assert client.confirmed is True
    assert paths(fake_index) == ["/simple/", "/rss/updates.xml"]
    assert SIMPLE_JSON in fake_index.requests[0].headers["Accept"]


async def test_an_empty_index_is_an_index(make_client: MakeClient, fake_index: FakeIndex) -> None:
    await make_client().confirm_index()
    assert paths(fake_index) == ["/simple/", "/rss/updates.xml"]


PEP503_ROOT = """<!DOCTYPE html>
<html>
  <head><meta name="pypi:repository-version" content="1.0"><title>Simple index</title></head>
  <body>
    <a href="/simple/acme-utils/">Acme.Utils</a>
    <a href="/simple/foo-bar/">foo_bar</a>
  </body>
</html>
"""
# pypiserver-like: relative links, no meta tag, the name as uploaded.
RELATIVE_ROOT = (
    "<html><head><title>Simple Index</title></head><body>\n"
    '<a href="Foo.Bar/">Foo.Bar</a><br>\n<a href="baz/">baz</a><br>\n</body></html>'
)
EMPTY_ROOT = "<html><head><title>Simple Index</title></head><body>\n</body></html>\n"


@pytest.mark.parametrize("body", [PEP503_ROOT, RELATIVE_ROOT, EMPTY_ROOT])
async def test_a_pep503_html_index_with_feeds_is_an_index(
    make_client: MakeClient, body: str
) -> None:
    routes = {
        "/simple/": answer(body, "text/html; charset=utf-8"),
        "/rss/updates.xml": answer(RSS, "text/xml; charset=UTF-8"),
    }
    async with serve(routes) as url:
        client = make_client(base_url=url)
        await client.confirm_index()
    assert client.confirmed


async def test_only_the_head_of_a_huge_listing_is_read(make_client: MakeClient) -> None:
    sent = 0

    async def huge(request: web.Request) -> web.StreamResponse:
        nonlocal sent
        response = web.StreamResponse(headers={"Content-Type": SIMPLE_JSON})
        await response.prepare(request)
        row = b'{"_last-serial": 1, "name": "project-x"},' * 1000
        try:
            await response.write(
                b'{"meta": {"_last-serial": 9, "api-version": "1.4"}, "projects": ['
            )
            while sent < 500 * 1024 * 1024:
                await response.write(row)
                sent += len(row)
            await response.write(b"{}]}")
        except ConnectionError:
            pass  # the client stopped reading: that is the point
        return response

    routes = {"/simple/": huge, "/rss/updates.xml": answer(RSS, "text/xml")}
    async with serve(routes) as url:
        client = make_client(base_url=url, timeout=10.0)
        started = asyncio.get_running_loop().time()
        await client.confirm_index()
        elapsed = asyncio.get_running_loop().time() - started
    assert client.confirmed
    assert elapsed < 5
    assert sent < 100 * 1024 * 1024  # nowhere near the 500 MB listing


# -- a path inside an index: refused, with the parent suggested ----------------------


@pytest.mark.parametrize(
    ("suffix", "looks_like"),
    [
        ("/simple", "the simple index"),
        ("/simple/", "the simple index"),
        ("/pypi", "the index's JSON/XML-RPC API path"),
        ("/simple/acme-utils", "a page of the simple index"),
        ("/pypi/acme-utils/json", "a page of the index's JSON/XML-RPC API path"),
        ("/project/acme-utils/", "a project page"),
        ("/rss/updates.xml", "a page of the index's feeds"),
    ],
)
async def test_a_url_inside_the_index_is_refused_naming_its_parent(
    make_client: MakeClient, fake_index: FakeIndex, suffix: str, looks_like: str
) -> None:
    fake_index.add_release("acme-utils", "1.0")
    base = fake_index.base_url + suffix
    client = make_client(base_url=base)

    with pytest.raises(NotAnIndex) as caught:
        await client.confirm_index()

    error = caught.value
    assert isinstance(error, ConfigError)  # the CLI exits 2 with its one line
    assert error.parent == fake_index.base_url
    message = str(error)
    assert "\n" not in message
    assert message.startswith(
        f"no package index answers at {base.rstrip('/')}: /simple/ gave HTTP 404 (text/plain)"
    )
    assert message.endswith(f"; this looks like {looks_like}; use its parent {fake_index.base_url}")
    assert not client.confirmed
    assert paths(fake_index) == [suffix.rstrip("/") + "/simple/"]  # stopped there


async def test_an_index_mounted_under_a_prefix(
    make_client: MakeClient, fake_index: FakeIndex, http: aiohttp.ClientSession
) -> None:
    fake_index.add_release("acme-utils", "1.0")
    async with mounted(fake_index, http, "/mirror", "/pypi") as proxy:
        await make_client(base_url=f"{proxy}/mirror").confirm_index()

        with pytest.raises(NotAnIndex) as simple:
            await make_client(base_url=f"{proxy}/mirror/simple").confirm_index()
        assert simple.value.parent == f"{proxy}/mirror"
        assert str(simple.value).endswith(
            f"this looks like the simple index; use its parent {proxy}/mirror"
        )

        # Mounted at /pypi: ".../pypi/simple" could be the JSON API's path (parent: the
        # root) or the simple index (parent: /pypi). Only /pypi answers as an index.
        with pytest.raises(NotAnIndex) as ambiguous:
            await make_client(base_url=f"{proxy}/pypi/simple").confirm_index()
        assert ambiguous.value.parent == f"{proxy}/pypi"
        assert "this looks like the simple index" in str(ambiguous.value)


# -- something else entirely -----------------------------------------------------------


async def test_an_unrelated_web_server_is_not_an_index(make_client: MakeClient) -> None:
    page = "<html><head><title>404\n Not Found</title></head><body>nginx</body></html>"
    async with serve({}, catch_all=answer(page, "text/html", status=404)) as url:
        with pytest.raises(NotAnIndex) as caught:
            await make_client(base_url=url).confirm_index()
    assert str(caught.value) == (
        f'no package index answers at {url}: /simple/ gave HTTP 404 (text/html): "404 Not Found"'
    )
    assert caught.value.parent is None


async def test_a_catch_all_page_is_not_a_project_list(make_client: MakeClient) -> None:
    page = (
        "<!doctype html><html><head><title>Acme Portal</title></head><body>"
        '<a href="/about/">About us</a> <a href="/login">Sign in</a></body></html>'
    )
    async with serve({}, catch_all=answer(page, "text/html")) as url:
        with pytest.raises(NotAnIndex) as caught:
            await make_client(base_url=url).confirm_index()
    assert str(caught.value) == (
        f"no package index answers at {url}: /simple/ gave HTTP 200 (text/html) "
        'that is not a PEP 503 project list: "Acme Portal"'
    )


async def test_a_project_page_is_not_the_project_list(make_client: MakeClient) -> None:
    # What ".../simple" + "/simple/" gives on an index with a project named "simple".
    html_page = (
        '<html><head><meta name="pypi:repository-version" content="1.4">'
        '<meta name="pypi:project-status" content="active"><title>Links for simple</title>'
        '</head><body><h1>Links for simple</h1><a href="https://files.example/s/simple-1.0.tar.gz'
        '#sha256=ab">simple-1.0.tar.gz</a><br /></body></html>'
    )
    json_page = '{"meta": {"api-version": "1.4"}, "name": "simple", "files": [], "versions": []}'
    for body, kind in ((html_page, "text/html"), (json_page, SIMPLE_JSON)):
        async with serve({"/simple/": answer(body, kind)}) as url:
            with pytest.raises(NotAnIndex, match=r"that is not a PEP (503|691) project list"):
                await make_client(base_url=url).confirm_index()


async def test_json_that_is_not_a_simple_index(make_client: MakeClient) -> None:
    async with serve({}, catch_all=answer('{"message": "Not Found"}', "application/json")) as url:
        with pytest.raises(NotAnIndex) as caught:
            await make_client(base_url=url).confirm_index()
    assert "/simple/ gave HTTP 200 (application/json) that is not a PEP 691 project list" in str(
        caught.value
    )


async def test_a_redirect_to_a_login_page_says_where_it_went(make_client: MakeClient) -> None:
    async def to_login(_: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/login")

    login = answer("<html><title>Sign in - Acme SSO</title></html>", "text/html")
    async with serve({"/simple/": to_login, "/login": login}) as url:
        with pytest.raises(NotAnIndex) as caught:
            await make_client(base_url=url).confirm_index()
    assert str(caught.value) == (
        f"no package index answers at {url}: /simple/ gave HTTP 200 (text/html) that is not "
        f'a PEP 503 project list after a redirect to {url}/login: "Sign in - Acme SSO"'
    )


async def test_a_simple_index_without_the_feeds_is_not_enough(
    make_client: MakeClient, fake_index: FakeIndex
) -> None:
    fake_index.fail("/rss/", 404, times=None)
    with pytest.raises(NotAnIndex) as caught:
        await make_client().confirm_index()
    message = str(caught.value)
    assert message.startswith(
        f"{fake_index.base_url} serves a simple index but not the index's RSS feeds"
    )
    assert message.endswith(': /rss/updates.xml gave HTTP 404 (text/plain): "404 injected failure"')

    fake_index.clear_failures()
    fake_index.set_body("/rss/updates.xml", b"<html><title>Feeds moved</title></html>", "text/html")
    with pytest.raises(NotAnIndex, match='that is not an RSS feed: "Feeds moved"'):
        await make_client().confirm_index()


# -- could not ask: not a configuration error ------------------------------------------


async def test_an_unreachable_index_is_unavailable_not_a_wrong_url(
    make_client: MakeClient, closed_port_url: str
) -> None:
    client = make_client(base_url=closed_port_url, retries=1)
    with pytest.raises(IndexUnavailable, match=r"\(after 2 attempts\)") as caught:
        await client.confirm_index()
    assert not isinstance(caught.value, ConfigError)
    assert not client.confirmed


async def test_a_failing_index_is_unavailable(
    make_client: MakeClient, fake_index: FakeIndex
) -> None:
    fake_index.fail("/simple/", 503, times=None)
    with pytest.raises(IndexUnavailable, match=r"HTTP 503 \(after 3 attempts\)"):
        await make_client().confirm_index()
    assert paths(fake_index) == ["/simple/"] * 3


async def test_a_silent_index_times_out_as_unavailable(
    make_client: MakeClient, fake_index: FakeIndex
) -> None:
    fake_index.delay = 5.0
    with pytest.raises(IndexUnavailable, match="TimeoutError"):
        await make_client(timeout=0.2, retries=0).confirm_index()


async def test_a_flaky_index_is_confirmed_after_a_retry(
    make_client: MakeClient, fake_index: FakeIndex, caplog: pytest.LogCaptureFixture
) -> None:
    fake_index.fail("/simple/", 502, times=1)
    fake_index.fail("/rss/", 503, times=1)
    await make_client().confirm_index()
    assert paths(fake_index) == ["/simple/", "/simple/", "/rss/updates.xml", "/rss/updates.xml"]
    # A retry that works is routine: nothing for the operator.
    assert [r for r in caplog.records if r.levelno >= 30] == []
