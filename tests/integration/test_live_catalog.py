"""The live catalog: edits to the catalog file take effect while the daemon runs.

A name added is matched against the whole stored listing at once (on the reload interval,
or at once on SIGHUP's ``reload_catalog``); a broken file never stops the daemon nor
unprotects the names in use; a name removed resolves its findings and stops matching.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from tests.conftest import CATALOG_TOML, SettingsFactory, running
from tests.fakes.pypi import FakeIndex
from tests.fakes.slack import FakeSlack
from tests.support import CATALOG_NAMES, until, write_catalog, write_raw
from watcher.app import Service
from watcher.matching.live import LiveCatalog, load_view
from watcher.pypi import open_index_client
from watcher.sources import CatalogSource
from watcher.store import Database, events
from watcher.store import catalog as catalog_store
from watcher.store.base import utcnow
from watcher.store.events import NewEvent
from watcher.store.models import EventKind, EventSource, Finding


def remove(path: Path) -> None:
    path.unlink()


class Api:
    """The running daemon's HTTP API."""

    def __init__(self, http: aiohttp.ClientSession, service: Service) -> None:
        self._http = http
        self.base = f"http://127.0.0.1:{service.port}"

    async def status(self) -> dict[str, Any]:
        async with self._http.get(f"{self.base}/v1/status") as resp:
            assert resp.status == 200
            body: dict[str, Any] = await resp.json()
            return body

    async def catalog(self) -> dict[str, Any]:
        [entry] = (await self.status())["catalog"]
        assert isinstance(entry, dict)
        return entry

    async def health(self) -> int:
        async with self._http.get(f"{self.base}/healthz") as resp:
            return resp.status

    async def wait_for_first_look(self) -> None:
        """Until the start-up reconcile stored the listing and both feeds were polled once
        (what is public now is known, and not news to the feeds any more)."""

        async def looked() -> bool:
            status = await self.status()
            index = status["index"]
            feeds = status["feeds"]
            return (
                index is not None
                and index["reconciled_at"] is not None
                and len(feeds) == 2
                and all(f["polled_at"] for f in feeds.values())
            )

        await until(looked, 10, "the first reconcile and feed polls")


@asynccontextmanager
async def api_of(service: Service) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        yield Api(http, service)


def texts(fake_slack: FakeSlack) -> list[str]:
    return [str(m["text"]) for m in fake_slack.messages]


def about(fake_slack: FakeSlack, name: str) -> list[str]:
    return [t for t in texts(fake_slack) if name in t]


def reload_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "watcher.sources.catalog" and r.levelno >= logging.ERROR
    ]


def job_failures(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Runs of the catalog job that raised (the scheduler logs them and carries on)."""
    return [r.getMessage() for r in caplog.records if r.getMessage() == "catalog job failed"]


async def test_name_added_to_the_file_alerts_a_stored_public_twin_within_the_interval(
    make_settings: SettingsFactory,
    fake_index: FakeIndex,
    fake_slack: FakeSlack,
    catalog_file: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    interval = 1.0
    settings = make_settings(
        catalog_reload_interval=interval, poll_interval=0.5, reconcile_interval=3600
    )
    # Public already, matching nothing yet: the name's exact twin, and a typo of it that
    # only matching the stored listing can find (asking the index for the name cannot).
    fake_index.add_release("zebra-widgets", "1.0")
    fake_index.add_release("zebra-widgetz", "1.0")
    async with running(settings) as service, api_of(service) as api:
        await api.wait_for_first_look()
        await asyncio.sleep(interval)  # a reload or two of the unchanged file: nothing
        assert fake_slack.messages == []

        write_catalog(catalog_file, [*CATALOG_NAMES, "Zebra_Widgets"])
        started = time.monotonic()
        await fake_slack.wait_for_messages(2, timeout=interval + 2)
        elapsed = time.monotonic() - started
        await asyncio.sleep(3 * interval)  # later reloads and polls add nothing
        catalog = await api.catalog()

    assert elapsed <= interval + 2
    assert len(fake_slack.messages) == 2, texts(fake_slack)
    [exact] = about(fake_slack, "zebra-widgets ")
    [typo] = about(fake_slack, "zebra-widgetz ")
    assert "Zebra_Widgets" in exact  # the internal name as the catalog spells it
    assert "Zebra_Widgets" in typo
    assert catalog["names"] == 4
    assert catalog["last_error"] is None
    assert job_failures(caplog) == []


async def test_reload_now_alerts_at_once_with_a_long_interval(
    make_settings: SettingsFactory,
    fake_index: FakeIndex,
    fake_slack: FakeSlack,
    catalog_file: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = make_settings(
        catalog_reload_interval=3600, poll_interval=0.5, reconcile_interval=3600
    )
    fake_index.add_release("zebra-widgets", "1.0")
    fake_index.add_release("zebra-widgetz", "1.0")
    async with running(settings) as service, api_of(service) as api:
        await api.wait_for_first_look()
        write_catalog(catalog_file, [*CATALOG_NAMES, "zebra-widgets"])
        await asyncio.sleep(1.0)
        assert fake_slack.messages == []  # the next reload is an hour away

        started = time.monotonic()
        service.reload_catalog()  # what SIGHUP calls
        await fake_slack.wait_for_messages(2, timeout=3)
        elapsed = time.monotonic() - started
        await asyncio.sleep(1.5)
        catalog = await api.catalog()

    assert elapsed <= 3
    assert len(fake_slack.messages) == 2, texts(fake_slack)
    assert len(about(fake_slack, "zebra-widgets ")) == 1
    assert len(about(fake_slack, "zebra-widgetz ")) == 1
    assert catalog["names"] == 4
    assert job_failures(caplog) == []


async def test_broken_catalog_keeps_the_old_one_protecting_and_says_so_once(
    make_settings: SettingsFactory,
    fake_index: FakeIndex,
    fake_slack: FakeSlack,
    catalog_file: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    interval = 0.3
    settings = make_settings(
        catalog_reload_interval=interval, poll_interval=0.3, reconcile_interval=3600
    )
    breakages = [
        # (what the file holds, what the error names, a squat of an old name released after)
        ('names = ["acme-billing",\nprefixes = ["acme"]\n', "not valid TOML", "payments.core"),
        (
            'names = ["acme-billing", "no good!"]\nprefixes = ["acme"]\n',
            "invalid project name 'no good!'",
            "internal.tool",
        ),
        (None, "No such file or directory", "acme-billing"),
    ]
    fake_index.add_release("harmless", "1.0")
    async with running(settings) as service, api_of(service) as api:
        await api.wait_for_first_look()
        loaded = await api.catalog()
        assert loaded["last_error"] is None
        assert reload_errors(caplog) == []

        for number, (content, problem, squat) in enumerate(breakages, start=1):
            if content is None:
                remove(catalog_file)
            else:
                write_raw(catalog_file, content)

            async def reported(problem: str = problem) -> bool:
                error = (await api.catalog())["last_error"]
                return error is not None and problem in error

            await until(reported, 5, f"the status to name {problem!r}")
            assert await api.health() == 200

            # The catalog in use still protects its names.
            fake_index.add_release(squat, "1.0")
            await fake_slack.wait_for_messages(number, timeout=5)
            assert len(about(fake_slack, squat)) == 1, texts(fake_slack)

            await asyncio.sleep(4 * interval)  # several more looks at the same broken file
            errors = reload_errors(caplog)
            assert len(errors) == number, errors  # one per distinct breakage
            assert problem in errors[-1]
            catalog = await api.catalog()
            assert problem in catalog["last_error"]
            assert catalog["error_at"] is not None
            # Still the catalog loaded at start.
            assert catalog["loaded_at"] == loaded["loaded_at"]
            assert catalog["names"] == 3
            assert catalog["prefixes"] == 1

        write_raw(catalog_file, CATALOG_TOML)  # fixed: back to the catalog in use

        async def cleared() -> bool:
            return (await api.catalog())["last_error"] is None

        await until(cleared, 5, "the error to clear")
        fixed = await api.catalog()
        await asyncio.sleep(3 * interval)
        assert (await api.catalog())["last_error"] is None
        assert await api.health() == 200

    assert fixed["error_at"] is None
    assert fixed["names"] == 3
    assert len(reload_errors(caplog)) == 3
    assert job_failures(caplog) == []
    assert len(fake_slack.messages) == 3, texts(fake_slack)


async def _findings(db: Database, internal: str) -> list[tuple[str, str, str | None]]:
    async with db.transaction() as session:
        rows = await session.execute(
            select(Finding.public_name, Finding.status, Finding.resolution)
            .where(Finding.internal_name == internal)
            .order_by(Finding.id)
        )
    return [(str(p), str(s), r) for p, s, r in rows]


async def test_name_removed_resolves_its_findings_and_stops_matching(
    make_settings: SettingsFactory,
    fake_index: FakeIndex,
    fake_slack: FakeSlack,
    catalog_file: Path,
    db: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    interval = 0.5
    settings = make_settings(
        catalog_reload_interval=interval, poll_interval=0.3, reconcile_interval=3600
    )
    fake_index.add_release("harmless", "1.0")
    async with running(settings) as service, api_of(service) as api:
        await api.wait_for_first_look()
        fake_index.add_release("payments.core", "1.0")
        await fake_slack.wait_for_messages(1, timeout=5)
        assert await _findings(db, "payments-core") == [("payments-core", "open", None)]

        write_catalog(catalog_file, ["acme-billing", "internal-tool"])

        async def resolved() -> bool:
            return all(
                status == "resolved" for _, status, _ in await _findings(db, "payments-core")
            )

        await until(resolved, interval + 3, "the finding to be resolved")

        async def recorded() -> bool:
            # Stored right after the findings are resolved, in a transaction of its own.
            return bool((await api.catalog())["names"] == 2)

        await until(recorded, 3, "the catalog's new state in the status")

        # The removed name's squats are no longer news; a control squat still is.
        fake_index.add_release("payments.core", "2.0")
        fake_index.add_release("payments-core2", "1.0")
        fake_index.add_release("acme-control", "1.0")
        await fake_slack.wait_for_messages(2, timeout=5)
        await asyncio.sleep(4 * 0.3)  # a few more polls

    assert await _findings(db, "payments-core") == [
        ("payments-core", "resolved", "no longer in the catalog")
    ]
    assert len(fake_slack.messages) == 2, texts(fake_slack)
    assert "payments.core 1.0" in texts(fake_slack)[0]
    assert "acme-control" in texts(fake_slack)[1]
    assert job_failures(caplog) == []


async def test_a_name_put_back_in_the_catalog_is_alerted_anew(
    make_settings: SettingsFactory,
    fake_index: FakeIndex,
    fake_slack: FakeSlack,
    catalog_file: Path,
    db: Database,
) -> None:
    settings = make_settings(
        catalog_reload_interval=3600, poll_interval=0.3, reconcile_interval=3600
    )
    async with running(settings) as service, api_of(service) as api:
        await api.wait_for_first_look()
        fake_index.add_release("payments.core", "1.0")
        await fake_slack.wait_for_messages(1, timeout=5)

        write_catalog(catalog_file, ["acme-billing", "internal-tool"])
        service.reload_catalog()

        async def resolved() -> bool:
            return await _findings(db, "payments-core") == [
                ("payments-core", "resolved", "no longer in the catalog")
            ]

        await until(resolved, 5, "the finding to be resolved")
        write_catalog(catalog_file)  # the edit is undone: the name is ours again
        service.reload_catalog()
        await fake_slack.wait_for_messages(2, timeout=5)
        await asyncio.sleep(1.0)
    assert await _findings(db, "payments-core") == [("payments-core", "open", None)]
    assert len(fake_slack.messages) == 2, texts(fake_slack)
    # Protected anew, so a possible squat again; not "back on PyPI": it never left.
    assert texts(fake_slack)[1].startswith("Possible squat on PyPI: payments.core 1.0")


async def test_a_reload_asked_for_during_a_reload_is_not_lost(
    make_settings: SettingsFactory,
    fake_index: FakeIndex,
    fake_slack: FakeSlack,
    catalog_file: Path,
) -> None:
    # The scheduler runs one instance of a job at a time and skips a run that falls due
    # while one is in progress: a SIGHUP during a slow reload was dropped until the next
    # scheduled reload (an hour here), with the file's newest names unprotected.
    settings = make_settings(
        catalog_reload_interval=3600, poll_interval=0.3, reconcile_interval=3600
    )
    fake_index.add_release("zeta-tool", "1.0")
    async with running(settings) as service, api_of(service) as api:
        await api.wait_for_first_look()
        fake_index.slow_route("/simple/{name}/", 2.0)  # checking a new entry takes 2 s
        write_catalog(catalog_file, [*CATALOG_NAMES, "alpha-new"])
        service.reload_catalog()
        await asyncio.sleep(0.5)  # that reload is now asking the index about alpha-new
        fake_index.slow_route("/simple/{name}/", 0)
        write_catalog(catalog_file, [*CATALOG_NAMES, "alpha-new", "zeta-tool"])
        service.reload_catalog()
        await fake_slack.wait_for_messages(1, timeout=10)
    assert "zeta-tool 1.0" in texts(fake_slack)[0]


async def test_reloads_racing_other_writers_never_fail(
    make_settings: SettingsFactory, fake_index: FakeIndex, catalog_file: Path, db: Database
) -> None:
    # The reload job runs alongside the polls, the reconcile and the pipeline, which write
    # all the time: every kind of reload (a name added, a broken file, a name removed, the
    # file fixed) must wait its turn for the database, never fail on a busy one.
    settings = make_settings()
    live = LiveCatalog(load_view(catalog_file, utcnow()))
    stop = asyncio.Event()

    async def busy_writer(worker: int) -> int:
        written = 0
        while not stop.is_set():
            async with db.write() as session:
                name = f"zz-writer-{worker}-{written}"
                await events.add_events(
                    session, [NewEvent(name, name, EventKind.NEW, EventSource.INDEX)], utcnow()
                )
            written += 1
            await asyncio.sleep(0)
        return written

    contents = [
        lambda n: write_catalog(catalog_file, [*CATALOG_NAMES, f"zebra-{n}"]),
        lambda n: write_raw(catalog_file, "names = [\n"),
        lambda n: write_catalog(catalog_file, ["acme-billing"]),
        lambda n: write_raw(catalog_file, CATALOG_TOML),
    ]
    failures: list[str] = []
    async with open_index_client(settings.index) as client:
        source = CatalogSource(db, client, live, path=catalog_file)
        await source.record_loaded()
        writers = [asyncio.create_task(busy_writer(w)) for w in range(2)]
        try:
            for n in range(24):
                contents[n % len(contents)](n)
                try:
                    await source.reload()
                except Exception as exc:  # collected and reported below
                    failures.append(f"reload {n}: {exc!r}"[:200])
        finally:
            stop.set()
            written = await asyncio.gather(*writers)
    assert all(written), written
    assert failures == [], failures
    async with db.transaction() as session:
        [status] = await catalog_store.catalog_statuses(session)
    assert (status.names, status.last_error) == (3, None)
