"""Serving the API: aiohttp's runner, with requests it cannot parse answered in JSON, quietly.

aiohttp answers a request whose request line or headers it cannot parse before any
middleware runs (``RequestHandler.handle_error``): in plain text repeating the offending
bytes, with an ERROR and a traceback in the log. Anyone who can reach the port can send
such bytes, so here that answer is the API's JSON error and the log gets one WARNING line.
The only hook is the protocol class that aiohttp's ``Server`` builds per connection, so the
runner's server is given a subclass that builds ours.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from aiohttp import web
from aiohttp.web_request import BaseRequest

log = logging.getLogger(__name__)


class _JsonErrors(web.RequestHandler):
    """aiohttp's protocol, answering unparsable requests (and crashes outside the app's
    middlewares) in JSON with one log line."""

    __slots__ = ()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """The JSON error for ``status``; the request and the parser's message are not
        repeated (they are the client's bytes)."""
        if status == HTTPStatus.INTERNAL_SERVER_ERROR:
            log.error("internal error serving a request from %s", request.remote, exc_info=exc)
            text = "internal error"
        else:
            kind = type(exc).__name__ if exc is not None else "unknown"
            log.warning("refused a malformed HTTP request from %s (%s)", request.remote, kind)
            text = "malformed HTTP request"
        if request.writer.output_size > 0:
            # Part of an answer already went out: the connection can only be dropped.
            raise ConnectionError("response already started, cannot send an error")
        response = web.json_response({"error": text, "status": status}, status=status)
        response.force_close()
        return response


class _Server(web.Server):
    def __call__(self) -> web.RequestHandler:
        return _JsonErrors(self, loop=self._loop, **self._kwargs)


async def start_api(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Serve ``app`` on ``host:port`` (0: any free port); ``cleanup()`` the runner to stop."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    assert runner.server is not None
    runner.server.__class__ = _Server  # same object and state, our protocol per connection
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner


def bound_port(runner: web.AppRunner, configured: int) -> int:
    """The port actually listened on (with port 0 the OS picks one)."""
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return configured
