"""``watcher demo``: the real service against the index simulator, in one command.

The simulator (:mod:`watcher.simulator`) starts on 127.0.0.1 with a few thousand plausible
projects and one squat already there, then publishes a stream of releases in which squats
of the demo catalog appear: an exact name in another spelling, a name under the ``acme``
prefix, a look-alike, a typo, a new release of a reported squat and a removal. The service
is the real one (pipeline, SQLite, HTTP API) with short intervals; alerts go to Slack when
it is configured, else they are printed here. The catalog, a config file and the database
live in ``watcher-demo/``, so the CLI can be tried against the same service.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

from watcher.alerts.terminal import TerminalSender
from watcher.app import Service
from watcher.catalog.files import parse_catalog
from watcher.config import Settings, load_settings
from watcher.matching import build_matcher
from watcher.simulator import SimulatedIndex
from watcher.text import printable

DEMO_DIR = Path("watcher-demo")

CATALOG = """\
# The demo's internal catalog: what a company would keep on its private index.
names = ["acme-billing", "acme-auth", "payments-core", "ledger-sync"]
prefixes = ["acme"]
allow = ["acme-public-sdk"]
owners = ["acme-corp"]
"""

# Words plausible project names are made of; names that would match the catalog are
# dropped, so the only alerts are the squats below.
_WORDS = """
    async data json http yaml toml cli web flask django fast api client server cache redis
    sql mongo kafka queue task worker cron log trace metrics auth oauth jwt crypto hash image
    pdf csv excel plot chart graph net dns mail sms slack discord bot ml nlp vision audio
    video stream event schema model config env secret vault cloud aws gcp azure docker kube
    helm git test mock lint format type doc site blog wiki shop cart pay money time date geo
    map route proxy socket grpc rest graphql tool kit utils core
""".split()  # noqa: SIM905 - a paragraph of words reads better than a hundred lines
_AFFIXES = ("py", "python", "lib", "tools", "sdk", "plus", "lite", "ng", "x", "2")


@dataclass(frozen=True)
class Step:
    """One scripted change of the simulated index, and what it shows."""

    action: str  # "release" or "remove"
    name: str
    version: str
    shows: str


# The pre-existing squat the start-up check finds, then the stream.
ALREADY_THERE = Step("release", "ledger_sync", "3.0.0", "an exact squat already on the index")
SCRIPT = (
    Step("release", "Acme.Billing", "99.0", "an exact squat of acme-billing, other spelling"),
    Step("release", "acme-webhooks", "0.1.0", "a new name under the acme prefix"),
    Step("release", "acrne-auth", "1.0.0", "a look-alike of acme-auth ('rn' reads as 'm')"),
    Step("release", "paymnets-core", "0.0.1", "a typo of payments-core (swapped letters)"),
    Step("release", "Acme.Billing", "99.1", "a new release of a reported squat"),
    Step("remove", "acrne-auth", "", "a squat removed from the index (its findings resolve)"),
)


def plausible_names(count: int, seed: int = 7) -> list[str]:
    """``count`` distinct, plausible project names that match nothing in the catalog."""
    rng = random.Random(seed)  # noqa: S311 - made-up names, not secrets
    matcher = build_matcher(parse_catalog(CATALOG.encode(), "the demo catalog"))
    names: dict[str, str] = {}  # canonical -> spelling: one project per canonical name
    while len(names) < count:
        words = rng.sample(_WORDS, rng.choice((1, 2, 2, 3)))
        if rng.random() < 0.3:
            words.append(rng.choice(_AFFIXES))
        name = rng.choice(("-", "_", "-", "")).join(words)
        norm = canonicalize_name(name)
        if len(name) > 4 and norm not in names and not matcher.match(norm):
            names[norm] = name
    return list(names.values())


def prepare(folder: Path, index_url: str, api_port: int) -> tuple[Settings, Path]:
    """Write the demo catalog and a config file for the CLI; start from an empty database
    (the simulator starts from serial 0 each time, and a database that has seen a later
    serial would rightly refuse its listing as stale)."""
    folder.mkdir(exist_ok=True)
    catalog = folder / "catalog.toml"
    catalog.write_text(CATALOG)
    database = folder / "watcher.db"
    for stale in (database, folder / "watcher.db-wal", folder / "watcher.db-shm"):
        stale.unlink(missing_ok=True)
    database_url = f"sqlite+aiosqlite:///{database.resolve()}"
    config = folder / "watcher.toml"
    config.write_text(
        "# Written by `watcher demo`: the CLI against the demo's index and database.\n"
        f'pypi_url = "{index_url}"\ncatalog = "catalog.toml"\n'
        f'database_url = "{database_url}"\nhttp_port = {api_port}\n'
    )
    settings = load_settings(
        pypi_url=index_url,
        catalog=catalog,
        database_url=database_url,
        http_port=api_port,
        # Short intervals: the whole story fits in a minute.
        poll_interval=2.0,
        reconcile_interval=30.0,
        journal=True,
        journal_interval=2.0,
        catalog_reload_interval=5.0,
        dispatch_interval=0.5,
    )
    return settings, config


async def publish(index: SimulatedIndex, out: DemoOutput, pause: float) -> None:
    """The scripted squats, with ordinary releases of other projects in between."""
    rng = random.Random(11)  # noqa: S311 - made-up versions, not secrets
    names = plausible_names(40, seed=3)
    for number, step in enumerate(SCRIPT, start=1):
        for _ in range(3):
            await asyncio.sleep(pause / 3)
            noise = rng.choice(names)
            index.add_release(noise, f"{rng.randint(1, 9)}.{number}.{rng.randint(0, 99)}")
        if step.action == "remove":
            index.remove_project(step.name)
            out.say(f"[index] removed {step.name}: {step.shows}")
        else:
            index.add_release(step.name, step.version, owners=("mallory",))
            out.say(f"[index] published {step.name} {step.version}: {step.shows}")
    out.say("[index] the script is over; new releases of other projects keep coming")
    while True:
        await asyncio.sleep(pause)
        index.add_release(rng.choice(names), f"{rng.randint(10, 99)}.{rng.randint(0, 9999)}")


class DemoOutput:
    """What the demo itself says on the terminal (alerts are printed by the sender)."""

    def __init__(self) -> None:
        self.stream = sys.stdout

    def say(self, text: str) -> None:
        """Print ``text`` line by line (control characters escaped)."""
        self.stream.write("".join(printable(line, 2000) + "\n" for line in text.split("\n")))
        self.stream.flush()


async def run_demo(api_port: int, index_port: int, seconds: float | None, pause: float) -> None:
    """Start the simulator and the service; publish the script; stop after ``seconds``
    (or on Ctrl-C / SIGTERM)."""
    out = DemoOutput()
    index = SimulatedIndex()
    await index.start(port=index_port)
    try:
        for name in plausible_names(3000):
            index.add_release(name, "1.0.0")
        index.add_release(ALREADY_THERE.name, ALREADY_THERE.version, owners=("mallory",))
        settings, config = prepare(DEMO_DIR, index.base_url, api_port)
        sender = None if settings.slack is not None else TerminalSender(out.stream)
        service = Service(settings, sender=sender)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, service.stop.set)
        running = asyncio.create_task(service.run())
        started = asyncio.create_task(service.started.wait())
        await asyncio.wait({running, started}, return_when=asyncio.FIRST_COMPLETED)
        if running.done():
            started.cancel()
            running.result()  # the start-up error (a port in use, ...)
        where = "Slack" if sender is None else "this terminal"
        out.say(
            f"watcher demo: a simulated package index with 3,001 projects at {index.base_url}\n"
            f"and the service's API at http://127.0.0.1:{service.port}; catalog, config and "
            f"database in {DEMO_DIR}/.\n"
            f"Squats of the demo catalog appear on the index over the next minute; alerts "
            f"go to {where}.\n\nTry, in another terminal:\n"
            f"  watcher check acme-billing --config {config}\n"
            f"  watcher check acme-new-thing --config {config}\n"
            f"  curl -s http://127.0.0.1:{service.port}/v1/status\n"
            f"  watcher status --config {config}\n"
            "Ctrl-C stops the demo.\n"
        )
        publisher = asyncio.create_task(publish(index, out, pause))
        if seconds is not None:
            loop.call_later(seconds, service.stop.set)
        try:
            await running
        finally:
            publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await publisher
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
    finally:
        await index.close()
    out.say("watcher demo: stopped")


def main(args: argparse.Namespace) -> int:
    """Entry point of ``watcher demo`` (``--port``: the API's port; the simulated index
    listens on the next one; ``--seconds``: stop after that long)."""
    logging.basicConfig(
        level=logging.ERROR, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    port = int(getattr(args, "port", None) or 8080)
    seconds = getattr(args, "seconds", None)
    asyncio.run(run_demo(port, port + 1, float(seconds) if seconds else None, pause=4.0))
    return 0
