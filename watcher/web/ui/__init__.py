"""The findings page (``/ui/``): server-rendered HTML (Jinja2, autoescaped) over the same
store queries and lifecycle code as the API, behind a login that takes the API token and
keeps a signed session in an HTTP-only, SameSite=Strict cookie (see :mod:`.auth`). No
script, no external asset: the stylesheet is served from the package.

``/ui/`` is not behind the bearer header (a browser cannot send it): every page answers
the login form only without a valid session cookie, and every form that changes state
carries the session's CSRF token (a post without it answers 403 and changes nothing).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import jinja2
from aiohttp import web
from multidict import MultiDictProxy

from watcher.web.ui import auth

KEYS = web.AppKey("ui_keys", auth.Keys)
TEMPLATES = web.AppKey("ui_templates", jinja2.Environment)
INDEX_URL = web.AppKey("ui_index_url", str)

Form = MultiDictProxy[str | bytes | Any]
Page = Callable[[web.Request, auth.Session], Awaitable[web.StreamResponse]]
Action = Callable[[web.Request, auth.Session, Form], Awaitable[web.StreamResponse]]

# The page is the service's own: no script, no frame, no other origin, nothing remembered.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def environment() -> jinja2.Environment:
    """The templates, every value escaped unless a template says otherwise (none does for
    text from a package or a person)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("watcher.web.ui", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = lambda value: "—" if value is None else f"{value:%Y-%m-%d %H:%M} UTC"
    return env


def render(
    request: web.Request,
    template: str,
    session: auth.Session | None,
    *,
    status: int = 200,
    **context: Any,
) -> web.Response:
    """A page: the template with the session's name and CSRF token, and the headers."""
    keys = request.app[KEYS]
    body = (
        request.app[TEMPLATES]
        .get_template(template)
        .render(
            session=session,
            csrf=keys.csrf(session) if session is not None else "",
            path=request.path,
            **context,
        )
    )
    response = web.Response(text=body, content_type="text/html", status=status)
    response.headers.update(_HEADERS)
    return response


def _session(request: web.Request) -> auth.Session | None:
    return request.app[KEYS].session_of(request.cookies.get(auth.COOKIE), time.time())


def _login_form(request: web.Request, *, status: int, error: str | None = None) -> web.Response:
    following = request.path_qs if request.method == "GET" else "/ui/"
    return render(
        request,
        "login.html",
        None,
        status=status,
        error=error,
        next=following,
        token_needed=bool(request.app[KEYS].token),
    )


def page(handler: Page) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A page that needs a session: without one, the login form only."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        session = _session(request)
        if session is None:
            return _login_form(request, status=401)
        return await handler(request, session)

    return guarded


def action(handler: Action) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A form post that changes state: a session and its CSRF token, or 403 and nothing."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        session = _session(request)
        form = await request.post()
        if session is None or not request.app[KEYS].csrf_ok(session, form.get("csrf")):
            return render(
                request,
                "forbidden.html",
                session,
                status=403,
                message="This form was not sent from a page of this session: nothing changed.",
            )
        return await handler(request, session, form)

    return guarded


def see_other(location: str) -> web.Response:
    """Go to ``location`` (after a form post: the browser gets it, never posts again)."""
    response = web.Response(status=303, headers={"Location": location})
    response.headers.update(_HEADERS)
    return response


def safe_next(value: object, default: str = "/ui/") -> str:
    """A place to go back to on this site's page only (never another host)."""
    if not isinstance(value, str) or not value.startswith("/ui/"):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or "\\" in value or len(value) > 2000:
        return default
    return value


async def login_page(request: web.Request) -> web.StreamResponse:
    if _session(request) is not None:
        return see_other("/ui/")
    return _login_form(request, status=200)


async def login(request: web.Request) -> web.StreamResponse:
    """``POST /ui/login``: the API token and a name (recorded with every change made)."""
    form = await request.post()
    keys = request.app[KEYS]
    token, name = form.get("token", ""), form.get("name")
    actor = auth.clean_name(name) if isinstance(name, str) else None
    if not isinstance(token, str) or not keys.token_ok(token):
        return _login_form(request, status=401, error="That is not the API token.")
    if actor is None:
        return _login_form(request, status=400, error="Give your name (it goes in the history).")
    response = see_other(safe_next(form.get("next")))
    auth.set_cookie(response, request, keys, auth.new_session(actor))
    return response


@action
async def logout(request: web.Request, session: auth.Session, form: Form) -> web.StreamResponse:
    response = see_other("/ui/login")
    auth.clear_cookie(response, request)
    return response


def _stylesheet() -> bytes:
    return (resources.files("watcher.web.ui") / "static" / "ui.css").read_bytes()


def add_routes(app: web.Application, api_token: str, index_url: str | None) -> None:
    """Register ``/ui/`` (not under ``/v1/``: the bearer middleware does not apply; the
    session cookie does)."""
    from watcher.web.ui import views  # the views use this module's helpers

    app[KEYS] = auth.Keys(api_token)
    app[TEMPLATES] = environment()
    app[INDEX_URL] = (index_url or "").rstrip("/")
    css = _stylesheet()

    async def stylesheet(request: web.Request) -> web.StreamResponse:
        response = web.Response(body=css, content_type="text/css")
        response.headers["Cache-Control"] = "max-age=3600"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    async def root(request: web.Request) -> web.StreamResponse:
        return web.Response(status=308, headers={"Location": "/ui/"})

    app.router.add_get("/ui", root)
    app.router.add_get("/ui/static/ui.css", stylesheet)
    app.router.add_get("/ui/login", login_page)
    app.router.add_post("/ui/login", login)
    app.router.add_post("/ui/logout", logout)
    views.add_routes(app)
