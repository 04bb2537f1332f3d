"""Index clients pointed at the fake index, each with its own real aiohttp session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from tests.fakes.pypi import FakeIndex
from tests.support import closed_port
from tests.unit.pypi.pypi_helpers import USER_AGENT, MakeClient, MiB
from watcher.config import IndexSettings, load_settings
from watcher.pypi import IndexClient


@pytest.fixture
async def make_client(fake_index: FakeIndex) -> AsyncIterator[MakeClient]:
    """Clients talking to ``fake_index`` (or ``base_url``) through real ClientSessions."""
    sessions: list[aiohttp.ClientSession] = []

    def make(
        *,
        base_url: str | None = None,
        retries: int = 2,
        timeout: float = 5.0,
        max_feed_bytes: int = MiB,
        max_json_bytes: int = MiB,
        max_journal_bytes: int = MiB,
    ) -> IndexClient:
        session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=timeout),
            headers={"User-Agent": USER_AGENT},
        )
        sessions.append(session)
        return IndexClient(
            session,
            fake_index.base_url if base_url is None else base_url,
            retries=retries,
            backoff=0.01,
            max_feed_bytes=max_feed_bytes,
            max_json_bytes=max_json_bytes,
            max_journal_bytes=max_journal_bytes,
        )

    try:
        yield make
    finally:
        for session in sessions:
            await session.close()


@pytest.fixture
async def client(make_client: MakeClient) -> IndexClient:
    """A client with two retries, a 5 s timeout and 1 MiB caps."""
    return make_client()


@pytest.fixture
def closed_port_url() -> str:
    """A base URL on 127.0.0.1 where nothing listens (connection refused)."""
    return f"http://127.0.0.1:{closed_port()}"


@pytest.fixture
def make_index_settings(clean_env: None, fake_index: FakeIndex) -> Callable[..., IndexSettings]:
    """``settings.index`` for ``fake_index`` as loaded from settings; keywords override fields.

    Defaults: the test User-Agent, a 5 s timeout, one retry.
    """

    def make(**overrides: Any) -> IndexSettings:
        values: dict[str, Any] = {
            "pypi_url": fake_index.base_url,
            "user_agent": USER_AGENT,
            "http_timeout": 5.0,
            "http_retries": 1,
        }
        values.update(overrides)
        return load_settings(**values).index

    return make
