"""Failure knobs: the ways a simulated index misbehaves on request.

Injected HTTP errors, raw or endless bodies in place of a route's answer, slow
answers, a stale simple listing and XML-RPC rate-limit faults. The knobs are a
mixin of :class:`~watcher.simulator.SimulatedIndex`; the server consults them
before any route runs.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiohttp import web

from watcher.simulator.responses import XML

__all__ = ["FaultKnobs", "Override", "failure_response", "stream_junk"]

_CHUNK = 64 * 1024


@dataclass
class _Failure:
    prefix: str
    status: int
    remaining: int | None


@dataclass(frozen=True)
class Override:
    """A body served for one exact path instead of the route's answer."""

    body: bytes | None
    content_type: str
    huge_size: int | None = None
    declare_length: bool = False


class FaultKnobs:
    """The failure knobs, and the bookkeeping the server needs to apply them."""

    def __init__(self) -> None:
        """No fault: every request gets the route's answer at once."""
        # Seconds every request waits before it is answered (failures included).
        self.delay: float = 0.0
        # Extra seconds per route, keyed by the route's pattern (see :meth:`slow_route`).
        self._route_delays: dict[str, float] = {}
        # When set, the serial /simple/ reports: a cache behind the index.
        self.stale_serial: int | None = None
        self._failures: list[_Failure] = []
        self._overrides: dict[str, Override] = {}
        self._journal_faults = 0
        self._journal_faults_after = 0

    def fail(self, path_prefix: str, status: int, times: int | None = 1) -> None:
        """Answer ``status`` (plain text) to the next ``times`` requests under path_prefix.

        ``times=None`` fails until :meth:`clear_failures`. Rules are tried in the
        order they were added.
        """
        self._failures.append(_Failure(path_prefix, status, times))

    def clear_failures(self) -> None:
        """Forget every rule added with :meth:`fail`."""
        self._failures.clear()

    def set_body(self, path: str, body: bytes | None, content_type: str = XML) -> None:
        """Answer 200 with these raw bytes for exactly ``path``; ``None`` removes it."""
        if body is None:
            self._overrides.pop(path, None)
        else:
            self._overrides[path] = Override(body, content_type)

    def set_huge_body(
        self,
        path: str,
        size: int,
        *,
        content_type: str = XML,
        declare_length: bool = False,
    ) -> None:
        """Stream ``size`` bytes of XML-looking junk for ``path`` in 64 KiB chunks.

        The body is never built in memory. By default it is sent chunked, with no
        Content-Length, so only a streaming size cap can stop it;
        ``declare_length=True`` announces the size up front instead.
        """
        self._overrides[path] = Override(None, content_type, size, declare_length)

    def slow_route(self, route: str, seconds: float) -> None:
        """Answer every request of one route ``seconds`` late, on top of :attr:`delay`.

        ``route`` is the pattern the route is registered with: ``/simple/{name}/`` slows
        the per-project pages that name look-ups read, while ``/simple/`` and the feeds
        stay fast. ``seconds=0`` makes the route fast again.
        """
        if seconds > 0:
            self._route_delays[route] = seconds
        else:
            self._route_delays.pop(route, None)

    def rate_limit_journal(self, times: int = 1, *, after: int = 0) -> None:
        """Answer ``times`` XML-RPC calls with the index's rate-limit fault -32500, once
        ``after`` more calls have been answered normally."""
        self._journal_faults += times
        self._journal_faults_after = after

    # -- applying them ---------------------------------------------------

    def _take_failure(self, path: str) -> int | None:
        """The status of the first rule covering ``path`` (used up once), if any."""
        for failure in self._failures:
            if path.startswith(failure.prefix):
                if failure.remaining is not None:
                    failure.remaining -= 1
                    if failure.remaining <= 0:
                        self._failures.remove(failure)
                return failure.status
        return None

    def _delay_for(self, route: str | None) -> float:
        """Seconds a request of ``route`` (its pattern; None when unrouted) waits."""
        extra = self._route_delays.get(route, 0.0) if route is not None else 0.0
        return self.delay + extra

    def _override(self, path: str) -> Override | None:
        return self._overrides.get(path)

    def _take_journal_fault(self) -> bool:
        """Whether this XML-RPC call gets the rate-limit fault (counting it)."""
        if self._journal_faults > 0 and self._journal_faults_after > 0:
            self._journal_faults_after -= 1
            return False
        if self._journal_faults > 0:
            self._journal_faults -= 1
            return True
        return False


def failure_response(status: int) -> web.Response:
    """The plain-text answer of an injected failure."""
    return web.Response(status=status, text=f"{status} injected failure", content_type="text/plain")


async def stream_junk(
    request: web.Request, override: Override, closing: asyncio.Event
) -> web.StreamResponse:
    """Send ``override.huge_size`` bytes of RSS-looking junk, stopping when ``closing`` is set."""
    size = override.huge_size or 0
    response = web.StreamResponse(headers={"Content-Type": override.content_type})
    if override.declare_length:
        response.content_length = size
    await response.prepare(request)
    head = b'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>\n'
    item = b"<item><title>junk 0.0</title><description>xxxxxxxx</description></item>\n"
    chunk = (item * (_CHUNK // len(item) + 1))[:_CHUNK]
    sent = 0
    try:
        first = head[:size]
        await response.write(first)
        sent += len(first)
        while sent < size and not closing.is_set():
            piece = chunk[: size - sent]
            await response.write(piece)
            sent += len(piece)
        await response.write_eof()
    except ConnectionError:
        # The client gave up (e.g. its size cap tripped): that is the point.
        pass
    return response
