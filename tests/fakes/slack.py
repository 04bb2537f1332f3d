"""A fake Slack Web API: a real aiohttp server that slack_sdk's clients can talk to.

Point ``AsyncWebClient(token=fake.token, base_url=fake.base_url)`` at it. It
implements ``chat.postMessage``, ``chat.update``, ``conversations.history`` and ``auth.test``,
records every call, and has knobs for HTTP failures, rate limits, application
errors, a post that is accepted but never answered, and a post that is accepted and then
has its connection dropped (the client sees ``ServerDisconnectedError``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from watcher.simulator.local import LocalServer

__all__ = ["FakeSlack"]

_POST_MESSAGE = "chat.postMessage"
_UPDATE = "chat.update"
_HISTORY = "conversations.history"
_REPLIES = "conversations.replies"
# Form-encoded and query-string calls carry these as JSON text.
_JSON_FIELDS = ("blocks", "attachments", "metadata")
_BOT = {"user": "U0FAKEBOT", "bot_id": "B0FAKEBOT", "app_id": "A0FAKEAPP"}
_HISTORY_LIMIT = 100


@dataclass
class _Failure:
    method: str
    status: int
    error: str | None
    retry_after: int | str | None
    remaining: int | None


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes"}
    return bool(value)


def _ts_value(value: Any, default: Decimal) -> Decimal:
    if value is None or value == "":
        return default
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return default


def _json_ok(payload: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(payload, status=status)


class FakeSlack(LocalServer):
    """In-memory Slack workspace served over HTTP on 127.0.0.1 at a random port."""

    def __init__(self, token: str = "xoxb-test-token") -> None:  # noqa: S107
        """Create the fake; only ``token`` is accepted as a bot token."""
        self.token = token
        self.messages: list[dict[str, Any]] = []
        # Every accepted ``chat.update``, in order (the message itself is changed too).
        self.updates: list[dict[str, Any]] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.accept_then_hang: float = 0.0
        # How many of the next posts are accepted (recorded) and then answered by closing
        # the connection instead: the post landed, the client cannot know it.
        self.disconnect_after_post: int = 0
        self._failures: list[_Failure] = []
        self._last_ts = Decimal(0)
        LocalServer.__init__(self)

    # -- lifecycle -------------------------------------------------------

    def build_app(self) -> web.Application:
        """Slack's Web API methods under ``/api/``."""
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._dispatch)
        return app

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/api/``, ready for ``AsyncWebClient(base_url=...)``."""
        return f"{self.root}/api/"

    # -- knobs -----------------------------------------------------------

    def fail(
        self,
        status: int,
        times: int | None = 1,
        retry_after: int | str | None = None,
        *,
        method: str = _POST_MESSAGE,
    ) -> None:
        """Answer HTTP ``status`` to the next ``times`` calls of ``method``.

        429 answers Slack's ``{"ok": false, "error": "ratelimited"}``, other
        statuses a plain-text body; ``retry_after`` adds a Retry-After header (seconds, or
        any text as it is: an HTTP date).
        ``times=None`` fails until :meth:`clear_failures`.
        """
        self._failures.append(_Failure(method, status, None, retry_after, times))

    def fail_app(self, error: str, times: int | None = 1, *, method: str = _POST_MESSAGE) -> None:
        """Answer HTTP 200 ``{"ok": false, "error": error}`` to the next calls of ``method``."""
        self._failures.append(_Failure(method, 200, error, None, times))

    def clear_failures(self) -> None:
        """Forget every rule added with :meth:`fail` and :meth:`fail_app`."""
        self._failures.clear()

    async def wait_for_messages(
        self,
        n: int,
        timeout: float,  # noqa: ASYNC109 - a plain deadline is the simplest test API
    ) -> list[dict[str, Any]]:
        """Wait until ``n`` messages were accepted; raise TimeoutError after ``timeout`` s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.messages) < n:
            if loop.time() >= deadline:
                raise TimeoutError(f"FakeSlack got {len(self.messages)} messages, wanted {n}")
            await asyncio.sleep(0.01)
        return list(self.messages)

    # -- serving ---------------------------------------------------------

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    def _next_ts(self) -> str:
        # Wall-clock based so that callers computing ``oldest`` from "now" find
        # the messages; strictly increasing even within one microsecond.
        now = Decimal(time.time_ns() // 1000) / Decimal(1_000_000)
        self._last_ts = max(now, self._last_ts + Decimal("0.000001"))
        return f"{self._last_ts:.6f}"

    def _take_failure(self, method: str) -> _Failure | None:
        for failure in self._failures:
            if failure.method == method:
                if failure.remaining is not None:
                    failure.remaining -= 1
                    if failure.remaining <= 0:
                        self._failures.remove(failure)
                return failure
        return None

    @staticmethod
    async def _params(request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                with contextlib.suppress(ValueError):
                    body = await request.json()
                    if isinstance(body, dict):
                        params.update(body)
            else:
                form = await request.post()
                params.update({k: v for k, v in form.items() if isinstance(v, str)})
        for key in _JSON_FIELDS:
            value = params.get(key)
            if isinstance(value, str) and value[:1] in {"[", "{"}:
                with contextlib.suppress(ValueError):
                    params[key] = json.loads(value)
        return params

    def _authorized(self, request: web.Request, params: dict[str, Any]) -> bool:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip() if header else params.get("token")
        return token == self.token

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        params = await self._params(request)
        self.calls.append((method, params))
        if method not in {_POST_MESSAGE, _UPDATE, _HISTORY, _REPLIES, "auth.test"}:
            return _json_ok({"ok": False, "error": "unknown_method"})
        if not self._authorized(request, params):
            return _json_ok({"ok": False, "error": "invalid_auth"})
        failure = self._take_failure(method)
        if failure is not None:
            return self._failure_response(failure)
        if method == _POST_MESSAGE:
            response = await self._post_message(params)
            if self.disconnect_after_post > 0:
                self.disconnect_after_post -= 1
                if request.transport is not None:
                    request.transport.abort()
                # aiohttp drops a handler's answer to a closed connection.
                raise web.HTTPServiceUnavailable
            return response
        if method in (_HISTORY, _REPLIES):
            return self._history(params, replies=method == _REPLIES)
        if method == _UPDATE:
            return self._update(params)
        return _json_ok(
            {
                "ok": True,
                "url": "https://fake.slack.invalid/",
                "team": "Fake",
                "user": "fakebot",
                "team_id": "T0FAKE",
                "user_id": _BOT["user"],
                "bot_id": _BOT["bot_id"],
            }
        )

    @staticmethod
    def _failure_response(failure: _Failure) -> web.Response:
        headers: dict[str, str] = {}
        if failure.retry_after is not None:
            headers["Retry-After"] = str(failure.retry_after)
        if failure.error is not None:
            payload = {"ok": False, "error": failure.error}
            return web.json_response(payload, status=failure.status, headers=headers)
        if failure.status == 429:
            payload = {"ok": False, "error": "ratelimited"}
            return web.json_response(payload, status=429, headers=headers)
        return web.Response(
            status=failure.status,
            text=f"{failure.status} injected failure",
            content_type="text/plain",
            headers=headers,
        )

    @staticmethod
    def _message_view(payload: dict[str, Any], *, metadata: bool) -> dict[str, Any]:
        view: dict[str, Any] = {
            "type": "message",
            "text": payload.get("text", ""),
            **_BOT,
            "ts": payload["ts"],
        }
        for key in ("blocks", "attachments", "thread_ts"):
            if key in payload:
                view[key] = payload[key]
        if metadata and "metadata" in payload:
            view["metadata"] = payload["metadata"]
        return view

    async def _post_message(self, params: dict[str, Any]) -> web.Response:
        channel = params.get("channel")
        if not channel:
            return _json_ok({"ok": False, "error": "channel_not_found"})
        message = {**params, "channel": str(channel), "ts": self._next_ts()}
        message.pop("token", None)
        self.messages.append(message)
        if self.accept_then_hang > 0:
            await self._sleep(self.accept_then_hang)
        return _json_ok(
            {
                "ok": True,
                "channel": message["channel"],
                "ts": message["ts"],
                "message": self._message_view(message, metadata=True),
            }
        )

    def _update(self, params: dict[str, Any]) -> web.Response:
        channel, ts = str(params.get("channel") or ""), str(params.get("ts") or "")
        for message in self.messages:
            if message["channel"] == channel and message["ts"] == ts:
                changes: dict[str, Any] = {k: params[k] for k in ("text", "blocks") if k in params}
                message.update(changes)
                self.updates.append({"channel": channel, "ts": ts, **changes})
                return _json_ok({"ok": True, "channel": channel, "ts": ts, "text": message["text"]})
        return _json_ok({"ok": False, "error": "message_not_found"})

    def top_level(self) -> list[dict[str, Any]]:
        """The messages posted to the channel itself (not in a thread)."""
        return [m for m in self.messages if not m.get("thread_ts")]

    def replies(self, thread_ts: str) -> list[dict[str, Any]]:
        """The replies in the thread of the top-level message ``thread_ts``."""
        return [m for m in self.messages if m.get("thread_ts") == thread_ts]

    def _history(self, params: dict[str, Any], *, replies: bool = False) -> web.Response:
        """``conversations.history`` (like Slack's: top-level messages only, newest first)
        or ``conversations.replies`` (the thread of ``ts``: its parent, then its replies)."""
        channel = params.get("channel")
        if not channel:
            return _json_ok({"ok": False, "error": "channel_not_found"})
        inclusive = _truthy(params.get("inclusive", False))
        oldest = _ts_value(params.get("oldest"), Decimal(0))
        latest = _ts_value(params.get("latest"), Decimal("Infinity"))
        try:
            limit = int(params.get("limit") or _HISTORY_LIMIT)
            offset = int(params.get("cursor") or 0)
        except ValueError:
            return _json_ok({"ok": False, "error": "invalid_arguments"})
        limit = max(1, min(limit, 999))
        with_metadata = _truthy(params.get("include_all_metadata", False))

        def in_range(ts: Decimal) -> bool:
            if inclusive:
                return oldest <= ts <= latest
            return oldest < ts < latest

        thread = str(params.get("ts") or "")
        if replies and not thread:
            return _json_ok({"ok": False, "error": "thread_not_found"})

        def listed(m: dict[str, Any]) -> bool:
            if replies:
                return m["ts"] == thread or m.get("thread_ts") == thread
            return not m.get("thread_ts")

        matching = [
            m
            for m in (self.messages if replies else reversed(self.messages))
            if m["channel"] == str(channel) and listed(m) and in_range(Decimal(m["ts"]))
        ]
        page = matching[offset : offset + limit]
        has_more = offset + limit < len(matching)
        return _json_ok(
            {
                "ok": True,
                "messages": [self._message_view(m, metadata=with_metadata) for m in page],
                "has_more": has_more,
                "pin_count": 0,
                "response_metadata": {"next_cursor": str(offset + limit) if has_more else ""},
            }
        )
