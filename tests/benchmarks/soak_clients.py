"""The soak benchmark's API clients, run in a process of their own by ``bench_soak``.

    python -m tests.benchmarks.soak_clients API CLIENTS START UNTIL FOLDER

From ``START`` until ``UNTIL`` (epoch seconds), ``CLIENTS`` clients ask ``API``'s
``/v1/names/{name}``, mostly names never asked before and some from ``FOLDER/names.json``;
every answer (time, status, seconds) is written to ``FOLDER/answers.json`` at the end. It
imports little, so that it is asking within a second of being started.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import string
import sys
import time
from pathlib import Path
from typing import TypeAlias

import aiohttp

API_TOKEN = "soak-api-token"

# One API answer: when it came (epoch seconds), its status (0: no answer), seconds it took.
Answer: TypeAlias = tuple[float, int, float]


def made_up(rng: random.Random, stem: str) -> str:
    """A name nobody asked before (letters and a number)."""
    letters = "".join(rng.choices(string.ascii_lowercase, k=rng.randint(6, 10)))
    return f"{stem}{letters}-{rng.randrange(10**9)}"


async def ask_names(
    session: aiohttp.ClientSession, api: str, names: list[str], seed: int, answers: list[Answer]
) -> None:
    """One API client: ask a name, note the answer, pause briefly; honour Retry-After."""
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    while True:
        # Mostly names never asked before, so no cache can answer them.
        name = rng.choice(names) if rng.random() < 0.2 else made_up(rng, f"ask{seed}-")
        started = time.perf_counter()
        retry = None
        try:
            async with session.get(f"{api}/v1/names/{name}", headers=headers) as resp:
                await resp.read()
                status, retry = resp.status, resp.headers.get("Retry-After")
        except (aiohttp.ClientError, TimeoutError):
            status = 0
        answers.append((time.time(), status, time.perf_counter() - started))
        wait = rng.uniform(0.0, 0.2)
        if status == 503 and retry is not None:
            with contextlib.suppress(ValueError):
                wait = min(float(retry), 2.0)
        await asyncio.sleep(wait)


async def _clients(
    api: str, names: list[str], clients: int, start: float, until: float
) -> list[Answer]:
    answers: list[Answer] = []
    await asyncio.sleep(max(0.0, start - time.time()))
    connector = aiohttp.TCPConnector(limit=0)  # the default would cap them at 100 at once
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tasks = [
            asyncio.create_task(ask_names(session, api, names, seed, answers))
            for seed in range(clients)
        ]
        await asyncio.sleep(max(0.0, until - time.time()))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return answers


def main(argv: list[str]) -> None:
    """Entry point: ``API CLIENTS START UNTIL FOLDER``."""
    api, clients, folder = argv[0], int(argv[1]), Path(argv[4])
    names = json.loads((folder / "names.json").read_text())
    answers = asyncio.run(_clients(api, names, clients, float(argv[2]), float(argv[3])))
    (folder / "answers.json").write_text(json.dumps(answers))


if __name__ == "__main__":
    main(sys.argv[1:])
