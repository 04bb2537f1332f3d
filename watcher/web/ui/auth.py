"""The findings page's login: the API token, given once in a form, opens a session kept in
an HTTP-only, SameSite=Strict cookie; every state-changing form carries the session's CSRF
token.

The cookie holds a random session id and the name the person gave, signed with a key
derived from the API token (HMAC-SHA256): nothing is stored server-side, every replica
accepts it, and changing the token ends every session. The CSRF token is the HMAC of the
session id under the same key, checked with :func:`hmac.compare_digest`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from aiohttp import web

COOKIE = "watcher_ui"
NAME_LIMIT = 100
SESSION_AGE = 12 * 3600  # seconds a login lasts


@dataclass(frozen=True)
class Session:
    """A logged-in person: the session id and the name their actions are recorded under."""

    sid: str
    actor: str


class Keys:
    """The API token (empty: none is configured, the API is open and so is the page)
    and the signing key derived from it."""

    def __init__(self, token: str) -> None:
        self.token = token
        secret = hashlib.sha256(b"watcher-ui\0" + token.encode()).digest() if token else None
        # Without a token, a key of this process: sessions end when it restarts.
        self._key = secret if secret is not None else secrets.token_bytes(32)

    def _sign(self, purpose: str, text: str) -> str:
        return hmac.new(self._key, f"{purpose}\0{text}".encode(), hashlib.sha256).hexdigest()

    def token_ok(self, given: str) -> bool:
        """Whether ``given`` is the API token (any text when none is configured)."""
        if not self.token:
            return True
        return hmac.compare_digest(given.encode(), self.token.encode())

    def cookie_value(self, session: Session, now: float) -> str:
        actor = base64.urlsafe_b64encode(session.actor.encode()).decode().rstrip("=")
        body = f"{session.sid}.{actor}.{int(now) + SESSION_AGE}"
        return f"{body}.{self._sign('session', body)}"

    def session_of(self, value: str | None, now: float) -> Session | None:
        """The session a cookie value opens, or ``None`` (absent, altered, expired, signed
        with another key)."""
        if not value or len(value) > 1000:
            return None
        body, _, signature = value.rpartition(".")
        expected = self._sign("session", body)
        if not hmac.compare_digest(signature.encode(), expected.encode()):
            return None
        sid, _, rest = body.partition(".")
        actor, _, expires = rest.partition(".")
        if not sid or not expires.isdigit() or int(expires) < now:
            return None
        try:
            name = base64.urlsafe_b64decode(actor + "=" * (-len(actor) % 4)).decode()
        except (binascii.Error, ValueError):
            return None
        return Session(sid, name)

    def csrf(self, session: Session) -> str:
        """The CSRF token of a session (a hidden field of every form that changes state)."""
        return self._sign("csrf", session.sid)

    def csrf_ok(self, session: Session, given: object) -> bool:
        return isinstance(given, str) and hmac.compare_digest(
            given.encode(), self.csrf(session).encode()
        )


def clean_name(value: str) -> str | None:
    """A person's name as given at login, or ``None`` if it cannot be used."""
    name = " ".join(value.split())
    if not name or len(name) > NAME_LIMIT or not name.isprintable():
        return None
    return name


def new_session(actor: str) -> Session:
    return Session(secrets.token_urlsafe(18), actor)


def is_https(request: web.Request) -> bool:
    """Whether the browser reached us over https (directly, or through a proxy that ends
    TLS and says so): the cookie is then Secure. A client lying about it only makes its
    own cookie unusable over plain http."""
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.secure or forwarded == "https"


def set_cookie(response: web.StreamResponse, request: web.Request, keys: Keys, s: Session) -> None:
    response.set_cookie(
        COOKIE,
        keys.cookie_value(s, time.time()),
        path="/ui/",
        max_age=SESSION_AGE,
        httponly=True,
        samesite="Strict",
        secure=is_https(request),
    )


def clear_cookie(response: web.StreamResponse, request: web.Request) -> None:
    response.del_cookie(COOKIE, path="/ui/", secure=is_https(request), samesite="Strict")
