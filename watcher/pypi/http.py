"""The one retry loop of every index request (public and private): backoff, caps, sessions.

:class:`IndexClient` (the public index) and the private index reader
(:mod:`watcher.catalog.private`) both send their requests through :class:`Requester`, so
429/5xx answers, connection errors and timeouts are retried the same way and every body is
read up to a cap; :func:`new_session` builds the aiohttp session each of them owns.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping

import aiohttp

from watcher.errors import IndexUnavailable
from watcher.headers import retry_after
from watcher.pypi.probe import Answer, read_capped, read_head

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 60.0
CONNECT_TIMEOUT = 10.0


def new_session(*, timeout: float, user_agent: str, connections: int) -> aiohttp.ClientSession:
    """An HTTP session for one index: every attempt bounded by ``timeout`` seconds (at most
    10 s to connect), ``user_agent`` on every request, at most ``connections`` at once.

    Non-2xx answers are left to the caller, not raised by aiohttp. Call it inside the
    running event loop; the caller owns (and closes) the session.
    """
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections),
        timeout=aiohttp.ClientTimeout(total=timeout, connect=CONNECT_TIMEOUT),
        headers={"User-Agent": user_agent},
        raise_for_status=False,
    )


class Requester:
    """Sends requests through ``session`` with retries, adding ``auth`` headers to each.

    A 429/5xx answer, a connection error or a timeout is retried ``retries`` times with
    exponential backoff from ``backoff`` seconds (or the answer's ``Retry-After``, capped at
    a minute), with jitter; then :class:`IndexUnavailable` is raised. Bodies are read up to
    a cap and refused beyond it (:class:`~watcher.errors.ResponseTooLarge`), so a hostile
    or broken server cannot make us buffer gigabytes.

    Only idempotent calls may come here (GETs and read-only XML-RPC): retrying them is safe.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        retries: int = 3,
        backoff: float = 0.5,
        auth: Mapping[str, str] | None = None,
    ) -> None:
        self._session = session
        self._retries = retries
        self._backoff = backoff
        # aiohttp drops an Authorization header on a redirect to another origin.
        self._auth = dict(auth or {})

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        max_bytes: int,
        data: bytes | None = None,
        head_only: bool = False,
        retries: int | None = None,
    ) -> Answer:
        """One call with retries. ``max_bytes=0`` means the body is not wanted and not
        read; ``head_only`` reads at most ``max_bytes`` of the body and drops the rest
        (instead of refusing a longer body)."""
        retries = self._retries if retries is None else retries
        attempt = 0
        while True:
            delay: float | None = None
            try:
                async with self._session.request(
                    method, url, headers={**headers, **self._auth}, data=data
                ) as resp:
                    if resp.status in RETRY_STATUSES:
                        reason = f"HTTP {resp.status}"
                        asked = retry_after(resp.headers.get("Retry-After"))
                        delay = None if asked is None else min(asked, MAX_RETRY_AFTER)
                    elif head_only:
                        body, truncated = await read_head(resp, max_bytes)
                        moved = str(resp.url) if resp.history else None
                        return Answer(resp.status, resp.headers, body, truncated, moved)
                    else:
                        body = await read_capped(resp, url, max_bytes) if max_bytes else b""
                        return Answer(resp.status, resp.headers, body)
            except (aiohttp.ClientError, TimeoutError) as exc:
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if attempt >= retries:
                raise IndexUnavailable(url, f"{reason} (after {attempt + 1} attempts)")
            wait = delay if delay is not None else self._backoff * 2**attempt
            wait *= 1 + random.random() / 4  # noqa: S311 - jitter, not cryptography
            # Debug only: a retry that works is routine, and one that does not ends in
            # IndexUnavailable, which the caller reports (once, not once per attempt).
            log.debug(
                "index request %s failed (%s); retry %d in %.1fs", url, reason, attempt + 1, wait
            )
            await asyncio.sleep(wait)
            attempt += 1
