"""``watcher demo`` as a newcomer runs it: alerts within a minute, and the commands it
suggests work against it."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.support import closed_port

pytestmark = pytest.mark.slow


async def _read_until(
    stream: asyncio.StreamReader, text: str, seconds: float, seen: list[str]
) -> None:
    async with asyncio.timeout(seconds):
        while not any(text in line for line in seen):
            line = await stream.readline()
            if not line:
                raise AssertionError(f"the demo ended before {text!r}; it said: {''.join(seen)}")
            seen.append(line.decode())


async def _cli(cwd: Path, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "watcher",
        *args,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
    return proc.returncode or 0, out.decode()


async def test_demo_shows_alerts_and_answers_the_suggested_commands(
    tmp_path: Path, clean_env: None
) -> None:
    port = closed_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "watcher",
        "demo",
        "--port",
        str(port),
        "--seconds",
        "120",
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        await _read_until(proc.stdout, "*** ALERT 1", 60, seen)
        config = str(Path("watcher-demo") / "watcher.toml")

        code, out = await _cli(tmp_path, "check", "ledger-sync", "--config", config)
        assert code == 0, out
        assert "risk CRITICAL" in out
        code, out = await _cli(tmp_path, "status", "--config", config)
        assert code == 0, out
        assert json.loads(out)["index"]["projects"] > 3000
        url = f"http://127.0.0.1:{port}/v1/status"
        async with aiohttp.ClientSession() as http, http.get(url) as resp:
            assert resp.status == 200
            assert (await resp.json())["catalog"][0]["names"] == 4

        # The stream: the exact squat in another spelling is alerted as it appears.
        await _read_until(proc.stdout, "Acme.Billing 99.0", 60, seen)
        proc.send_signal(signal.SIGTERM)
        rest, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
        seen.append(rest.decode())
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, "".join(seen)
    said = "".join(seen)
    assert "Possible squat on PyPI: ledger_sync 3.0.0" in said
    assert "Traceback" not in said
