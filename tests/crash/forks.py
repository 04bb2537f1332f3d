"""The test side of the launcher's fork server: daemons started by a process that
imported the service once, each killed or stopped by its pid."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class ForkServer:
    """The launcher's fork server (``python -m tests.crash.launcher --fork-server``): starts
    daemons, each in a fresh process forked from one that imported the service already, and
    tells how each ended. One per test: every run sees the same source (the same sites)."""

    def __init__(self) -> None:
        self._proc: asyncio.subprocess.Process | None = None
        self._answers: dict[int, asyncio.Queue[dict[str, int]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._ids = 0

    async def __aenter__(self) -> ForkServer:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.crash.launcher",
            "--fork-server",
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._proc is not None
        assert self._proc.stdin is not None
        self._proc.stdin.close()  # it kills the daemons still running, then exits
        try:
            await asyncio.wait_for(self._proc.wait(), timeout=10)
        except TimeoutError:
            self._proc.kill()
            await self._proc.wait()
        if self._reader is not None:
            self._reader.cancel()

    async def _read(self) -> None:
        assert self._proc is not None
        assert self._proc.stdout is not None
        async for line in self._proc.stdout:
            answer = json.loads(line)
            await self._answers[answer["id"]].put(answer)

    async def start(self, env: dict[str, str], log: Path) -> Daemon:
        """Fork a daemon with this environment, its output appended to ``log``."""
        assert self._proc is not None
        assert self._proc.stdin is not None
        self._ids += 1
        answers = self._answers[self._ids] = asyncio.Queue()
        request = {"id": self._ids, "env": env, "log": str(log)}
        self._proc.stdin.write(json.dumps(request).encode() + b"\n")
        await self._proc.stdin.drain()
        answer = await asyncio.wait_for(answers.get(), timeout=20)
        return Daemon(answer["pid"], answers)


class Daemon:
    """One forked daemon: its pid, and its exit code once it ended."""

    def __init__(self, pid: int, answers: asyncio.Queue[dict[str, int]]) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._answers = answers

    def poll(self) -> int | None:
        """The exit code (negative: killed by that signal), or None while it runs."""
        if self.returncode is None and not self._answers.empty():
            self.returncode = self._answers.get_nowait()["exit"]
        return self.returncode

    async def stop(self, signum: int = signal.SIGTERM) -> int:
        """Send ``signum``; return the exit code."""
        if self.poll() is None:
            os.kill(self.pid, signum)
            self.returncode = (await asyncio.wait_for(self._answers.get(), timeout=20))["exit"]
        assert self.returncode is not None
        return self.returncode
