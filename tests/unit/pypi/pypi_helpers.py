"""Shared constants and helpers of the index client tests (not a test module)."""

from __future__ import annotations

from typing import Protocol

from tests.fakes.pypi import FakeIndex
from watcher.pypi import IndexClient

USER_AGENT = "watcher-tests/0 (security@example.com)"
MiB = 1024 * 1024


class MakeClient(Protocol):
    """Builds an :class:`IndexClient`; its session is closed when the test ends."""

    def __call__(
        self,
        *,
        base_url: str | None = None,
        retries: int = 2,
        timeout: float = 5.0,
        max_feed_bytes: int = MiB,
        max_json_bytes: int = MiB,
        max_journal_bytes: int = MiB,
    ) -> IndexClient: ...


def paths(fake_index: FakeIndex, prefix: str = "/") -> list[str]:
    """Paths of the requests the fake received under ``prefix``, in order."""
    return [r.path for r in fake_index.requests if r.path.startswith(prefix)]
