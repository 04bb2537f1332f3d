"""An aiohttp application served on a local port for as long as it is needed: the
simulator's lifecycle (the tests' fake Slack is served the same way)."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Self

from aiohttp import web

DEFAULT_HOST = "127.0.0.1"


class LocalServer:
    """Serves :meth:`build_app` on ``start(host, port)`` until :meth:`close`.

    ``_closing`` is set on close, so handlers that wait (a slow or hanging answer) can
    wake up at once instead of holding the shutdown.
    """

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self._host = DEFAULT_HOST
        self._port: int | None = None
        self._closing = asyncio.Event()

    def build_app(self) -> web.Application:
        """The application to serve (subclasses define their routes here)."""
        raise NotImplementedError

    async def start(self, host: str = DEFAULT_HOST, port: int = 0) -> None:
        """Start serving on ``host``:``port`` (port 0, the default, picks a free one).

        Raises RuntimeError when already started, OSError when the port is taken.
        """
        if self._runner is not None:
            raise RuntimeError(f"{type(self).__name__} already started")
        self._closing.clear()
        runner = web.AppRunner(self.build_app(), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._host = host
        self._port = int(runner.addresses[0][1])

    async def close(self) -> None:
        """Stop serving; waiting handlers are woken up first."""
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = None
        self._port = None

    async def __aenter__(self) -> Self:
        """Start the server on 127.0.0.1 at a free port."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the server."""
        await self.close()

    @property
    def started(self) -> bool:
        """Whether it is serving."""
        return self._port is not None

    @property
    def root(self) -> str:
        """``http://HOST:PORT`` (an IPv6 host in brackets); only once started."""
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"
