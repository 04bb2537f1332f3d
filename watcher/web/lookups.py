"""Index look-ups on behalf of API clients: limited, coalesced and briefly cached.

The HTTP API answers anyone who asks, and each ``/v1/names/{name}`` asks the index. Left
alone, a crowd of clients and a slow index would hold every connection the watcher has and
delay its own feed polls. So the API asks through its own index client (its own session and
connections, see :class:`~watcher.app.Service`), at most ``concurrency`` look-ups at once; a
look-up that cannot start within ``wait`` seconds is refused (:class:`LookupsSaturated`, a
503 with ``Retry-After``) instead of queueing without end. Concurrent look-ups of one name
share one request, and answers are reused for ``ttl`` seconds (a project's details, asked
for a verdict's ``details``, for ``details_ttl``, then revalidated with their ETag: an
unchanged project costs the index a bodiless 304).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TypeVar

from watcher.errors import LookupsSaturated
from watcher.pypi import IndexClient, ProjectInfo

T = TypeVar("T")


class IndexLookups:
    """What :class:`~watcher.checks.NameChecker` asks of the index, for the HTTP API."""

    def __init__(
        self,
        client: IndexClient,
        *,
        concurrency: int,
        wait: float = 2.0,
        ttl: float = 10.0,
        details_ttl: float = 300.0,
        max_cached: int = 10_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._slots = asyncio.Semaphore(concurrency)
        self._wait = wait
        self._ttl = ttl
        self._max_cached = max_cached
        self._monotonic = monotonic
        self._cache: OrderedDict[str, tuple[float, bool]] = OrderedDict()
        self._inflight: dict[str, asyncio.Task[bool]] = {}
        self._details_ttl = details_ttl
        # name -> (fresh until, details, their ETag); stale ones kept for revalidation
        self._details: OrderedDict[str, tuple[float, ProjectInfo, str | None]] = OrderedDict()
        self._details_inflight: dict[str, asyncio.Task[tuple[ProjectInfo, str | None]]] = {}
        self._confirming: asyncio.Task[None] | None = None

    @property
    def confirmed(self) -> bool:
        """True once the index's base URL was confirmed (:meth:`IndexClient.confirm_index`)."""
        return self._client.confirmed

    async def confirm_index(self) -> None:
        """Confirm the index once, however many clients ask at the same time."""
        if self._confirming is None or self._confirming.done():
            self._confirming = asyncio.create_task(self._limited(self._client.confirm_index))
            # Its failure is every waiter's to raise; with every waiter gone (all hung up),
            # retrieved here, so that asyncio does not log it as never retrieved.
            self._confirming.add_done_callback(lambda done: done.cancelled() or done.exception())
        # Shielded: one client hanging up must not cancel what the others wait for.
        await asyncio.shield(self._confirming)

    async def exists(self, name: str) -> bool:
        """Whether ``name`` (canonical) is registered on the index.

        Raises :class:`LookupsSaturated` when no slot freed up in time, and what
        :meth:`IndexClient.exists` raises. Failures are not cached.
        """
        cached = self._cache.get(name)
        if cached is not None:
            if cached[0] > self._monotonic():
                return cached[1]
            del self._cache[name]
        task = self._inflight.get(name)
        if task is None:
            task = asyncio.create_task(self._limited(lambda: self._client.exists(name)))
            self._inflight[name] = task
            task.add_done_callback(lambda done: self._finished(name, done))
        return await asyncio.shield(task)

    async def project(self, name: str) -> ProjectInfo:
        """A public project's details (:meth:`IndexClient.project`), within the same limit
        of look-ups at once: one request per name at a time (concurrent askers share it),
        the answer reused for ``details_ttl`` seconds (at most ``max_cached`` of them), then
        asked again with its ETag (a 304 keeps it for another ``details_ttl``)."""
        cached = self._details.get(name)
        if cached is not None:
            self._details.move_to_end(name)
            if cached[0] > self._monotonic():
                return cached[1]
        task = self._details_inflight.get(name)
        if task is None:
            task = asyncio.create_task(self._limited(lambda: self._revalidated(name, cached)))
            self._details_inflight[name] = task
            task.add_done_callback(lambda done: self._details_done(name, done))
        return (await asyncio.shield(task))[0]

    async def _revalidated(
        self, name: str, cached: tuple[float, ProjectInfo, str | None] | None
    ) -> tuple[ProjectInfo, str | None]:
        etag = cached[2] if cached is not None else None
        info, new_etag = await self._client.project_since(name, etag)
        if info is None:  # not modified: the cached details hold
            assert cached is not None
            return cached[1], etag
        return info, new_etag

    def _details_done(self, name: str, task: asyncio.Task[tuple[ProjectInfo, str | None]]) -> None:
        self._details_inflight.pop(name, None)
        if task.cancelled() or task.exception() is not None:
            # Failures (a 404 included) are asked again next time, and a stale answer is
            # not served again: a project gone (404) must not look present.
            self._details.pop(name, None)
            return
        info, etag = task.result()
        self._details[name] = (self._monotonic() + self._details_ttl, info, etag)
        self._details.move_to_end(name)
        while len(self._details) > self._max_cached:
            self._details.popitem(last=False)

    def _finished(self, name: str, task: asyncio.Task[bool]) -> None:
        self._inflight.pop(name, None)
        if task.cancelled() or task.exception() is not None:
            return
        self._cache[name] = (self._monotonic() + self._ttl, task.result())
        while len(self._cache) > self._max_cached:
            self._cache.popitem(last=False)  # the oldest answer first

    async def _limited(self, call: Callable[[], Awaitable[T]]) -> T:
        try:
            async with asyncio.timeout(self._wait):
                await self._slots.acquire()
        except TimeoutError:
            raise LookupsSaturated(max(1, math.ceil(self._wait))) from None
        try:
            return await call()
        finally:
            self._slots.release()
