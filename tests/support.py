"""Small helpers shared by tests (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from pydantic import SecretStr

from watcher.config import Settings, env_name
from watcher.store.events import NewEvent
from watcher.store.models import EventKind, EventSource

CATALOG_NAMES = ("acme-billing", "Payments_Core", "internal-tool")


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def until(
    condition: Callable[[], Awaitable[bool]],
    seconds: float,
    what: str,
    log: Path | None = None,
) -> None:
    """Poll ``condition`` until it holds; fail after ``seconds`` naming ``what`` (and the
    daemon's ``log``, when there is one)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not await condition():
        if loop.time() > deadline:
            where = f"; the daemon's log is {log}" if log is not None else ""
            raise AssertionError(f"timed out after {seconds} s waiting for {what}{where}")
        await asyncio.sleep(0.05)


def write_catalog(
    path: Path,
    names: Sequence[str] = CATALOG_NAMES,
    *,
    prefixes: Sequence[str] = ("acme",),
    allow: Sequence[str] = ("acme-public-sdk",),
    owners: Sequence[str] = ("acme-corp",),
) -> None:
    """Rewrite the catalog file, as an editor or config management would (whole file)."""
    write_raw(
        path,
        f"names = {list(names)!r}\nprefixes = {list(prefixes)!r}\n"
        f"allow = {list(allow)!r}\nowners = {list(owners)!r}\n".replace("'", '"'),
    )


def write_raw(path: Path, text: str) -> None:
    """Replace a file in one step: a reload never reads a half-written file."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def daemon_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a ``watcher run`` process these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHER_")}
    for field, value in settings.model_dump(exclude_none=True).items():
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        env[env_name(field)] = str(value)
    return env


class Daemon:
    """``python -m watcher run`` in a child process, its output appended to ``log``."""

    def __init__(self, settings: Settings, log: Path) -> None:
        self._settings = settings
        self.log = log
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "watcher",
                "run",
                env=daemon_env(self._settings),
                stdout=out,
                stderr=out,
            )

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        assert await self.proc.wait() == -signal.SIGKILL

    async def terminate(self) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.proc.wait(), timeout=20)


@asynccontextmanager
async def daemon(settings: Settings, log: Path) -> AsyncIterator[Daemon]:
    """A daemon process for the block; it must exit 0 on SIGTERM at the end."""
    process = Daemon(settings, log)
    await process.start()
    try:
        yield process
    finally:
        assert process.proc is not None
        if process.proc.returncode is None:
            code = await process.terminate()
            assert code == 0, f"daemon exited {code}; its log is {log}"


def new_event(name: str, **fields: object) -> NewEvent:
    """An index event for ``name`` (a new project seen by the listing unless ``fields``
    say otherwise)."""
    values: dict[str, object] = {
        "normalized_name": name,
        "name": name,
        "event": EventKind.NEW,
        "source": EventSource.INDEX,
    }
    values.update(fields)
    return NewEvent(**values)  # type: ignore[arg-type]


def run_python(
    *args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` in a fresh process, with no ``WATCHER_*`` variable from the caller's
    environment but those in ``env``; its output captured as text."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WATCHER_")}
    return subprocess.run(
        [sys.executable, *args],
        input=stdin,
        cwd=cwd,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
