"""A SIEM's webhook receiver on 127.0.0.1: checks each request's signature as a receiver
would (written from the documented scheme, not with the service's own helper), keeps what
it accepted, drops repeated delivery ids, and fails on demand."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from watcher.simulator.local import LocalServer

SECRET = "whsec-0123456789abcdef"


@dataclass
class _Failure:
    status: int
    retry_after: str | None
    times: int | None


class FakeWebhook(LocalServer):
    """Accepts signed POSTs on ``/hook``; ``/elsewhere`` is a redirect's target."""

    def __init__(self, secret: str = SECRET, *, window: float = 300) -> None:
        self.secret = secret
        self.window = window
        self.requests: list[dict[str, Any]] = []  # every request: headers, body, verdict
        self.accepted: dict[str, dict[str, Any]] = {}  # delivery id -> first accepted body
        self.repeats = 0  # requests for a delivery id already accepted
        self.redirect_hits = 0
        self.hang = 0.0  # seconds to wait after taking a request (a timeout, for the client)
        self.accept_then_fail = 0  # next N requests: accepted, then answered 500
        self._failures: list[_Failure] = []
        LocalServer.__init__(self)

    def build_app(self) -> web.Application:
        """The receiver's routes."""
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        app.router.add_post("/moved", self._moved)
        app.router.add_post("/elsewhere", self._elsewhere)
        return app

    @property
    def url(self) -> str:
        """Where the webhook is configured to post."""
        return f"{self.root}/hook"

    def fail(self, status: int, times: int | None = 1, retry_after: str | None = None) -> None:
        """Answer ``status`` to the next ``times`` requests (None: until cleared)."""
        self._failures.append(_Failure(status, retry_after, times))

    def clear_failures(self) -> None:
        """Forget every :meth:`fail`."""
        self._failures.clear()

    def verify(self, headers: Any, body: bytes) -> bool:
        """The documented check: HMAC-SHA256 of timestamp, ".", body; a recent timestamp."""
        timestamp = headers.get("X-Watcher-Timestamp", "")
        given = headers.get("X-Watcher-Signature", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > self.window:
            return False
        mac = hmac.new(self.secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
        return hmac.compare_digest(given, "sha256=" + mac.hexdigest())

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        valid = self.verify(request.headers, body)
        delivery = request.headers.get("X-Watcher-Delivery", "")
        self.requests.append({"headers": dict(request.headers), "body": body, "valid": valid})
        if not valid:
            return web.Response(status=401, text="bad signature")
        if self._failures:
            failure = self._failures[0]
            if failure.times is not None:
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.pop(0)
            headers = {"Retry-After": failure.retry_after} if failure.retry_after else {}
            return web.Response(status=failure.status, headers=headers, text="failing")
        if delivery in self.accepted:
            self.repeats += 1
        else:
            self.accepted[delivery] = json.loads(body)
        if self.hang:  # taken, and the answer is late (lost, if the sender gives up)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.hang)
        if self.accept_then_fail:
            self.accept_then_fail -= 1
            return web.Response(status=500, text="took it, then failed")
        return web.Response(status=202, text="ok")

    async def _moved(self, request: web.Request) -> web.Response:
        await request.read()
        raise web.HTTPFound(f"{self.root}/elsewhere")

    async def _elsewhere(self, request: web.Request) -> web.Response:
        await request.read()
        self.redirect_hits += 1
        return web.Response(status=202)

    def bodies(self) -> list[dict[str, Any]]:
        """The accepted alerts, one per delivery id, in arrival order."""
        return list(self.accepted.values())
