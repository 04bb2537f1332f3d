"""Views of the HTTP API, and the JSON shapes of what the store returns."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from aiohttp import web

from watcher import __version__
from watcher.checks import NameChecker
from watcher.errors import IndexClientError, InvalidName, LookupsSaturated, NotAnIndex
from watcher.health import SourceHealth
from watcher.names import canonical
from watcher.redaction import redact
from watcher.store import Database, events
from watcher.store.status import Coverage, coverage

log = logging.getLogger(__name__)


class SourcesProbe(Protocol):
    """How each source's latest runs went, by source name (``Jobs.health``)."""

    def __call__(self) -> Mapping[str, SourceHealth]: ...


CHECKER = web.AppKey("checker", NameChecker)
DATABASE = web.AppKey("database", Database)
SOURCES = web.AppKey("sources", SourcesProbe)

_HEALTH_TIMEOUT = 5.0


def error(status: int, message: str) -> web.Response:
    """A JSON error answer."""
    return web.json_response({"error": message, "status": status}, status=status)


async def healthz(request: web.Request) -> web.Response:
    """200 while the daemon runs and the database answers, else 503.

    Liveness only: a source failing (the index down, Slack refusing alerts) does not make
    the process unhealthy, but once one has failed three runs in a row (a refused answer:
    at once), or an index event was dead-lettered, the body says ``"status": "degraded"``;
    ``sources`` shows each source's state, ``dead_index_events`` how many were given up.
    """
    probe = request.app.get(SOURCES)
    sources = dict(probe()) if probe is not None else {}
    shown = {name: source_json(health) for name, health in sources.items()}
    try:
        # A database that accepts connections but never answers must not hang the probe.
        async with asyncio.timeout(_HEALTH_TIMEOUT):
            await request.app[DATABASE].ping()
    except Exception as exc:  # any driver error or the timeout means "not healthy"
        log.warning("health check: database not answering: %s", exc)
        return web.json_response(
            {"status": "unhealthy", "database": "down", "sources": shown}, status=503
        )
    # A dead-lettered event is a project that was never fully processed: maybe a squat
    # nobody was told about. Somebody must look (``/v1/status`` lists them). Not known
    # is not none: degraded too.
    dead: int | str
    try:
        async with asyncio.timeout(_HEALTH_TIMEOUT):
            async with request.app[DATABASE].transaction() as session:
                dead = await events.dead_count(session)
    except Exception as exc:
        log.warning("health check: cannot count dead-lettered events: %s", exc)
        dead = "unknown"
    degraded = dead != 0 or any(health.failing for health in sources.values())
    body: dict[str, Any] = {
        "status": "degraded" if degraded else "ok",
        "version": __version__,
        "sources": shown,
    }
    if dead:
        body["dead_index_events"] = dead
    return web.json_response(body)


def source_json(health: SourceHealth) -> dict[str, Any]:
    """One source in ``/healthz``: its state, and its failures in a row if any."""
    shown: dict[str, Any] = {"state": health.state}
    if health.failures:
        shown.update(
            since=_iso(health.since),
            failures=health.failures,
            last_error=None if health.last_error is None else redact(health.last_error),
        )
    return shown


async def status(request: web.Request) -> web.Response:
    """``GET /v1/status``: where each source stands (feeds, whole index, change log,
    catalog, queues)."""
    async with request.app[DATABASE].transaction() as session:
        return web.json_response(coverage_json(await coverage(session)))


async def name_verdict(request: web.Request) -> web.Response:
    """``GET /v1/names/{name}``: the risk verdict for one name."""
    name = request.match_info.get("name", "")
    details = request.query.get("details", "").lower() in ("1", "true", "yes")
    try:
        verdict = await request.app[CHECKER].check(name, details=details)
    except InvalidName as exc:
        return error(400, str(exc))
    except LookupsSaturated as exc:
        # Shed load rather than queue: the watcher's own work must not wait behind clients.
        response = web.json_response(
            {
                "error": "too many name checks in progress; try again later",
                "status": 503,
                "name": canonical(name),
                "risk": "unknown",
            },
            status=503,
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except (IndexClientError, NotAnIndex) as exc:
        # Never an answer that could pass for a verdict: the risk is unknown, and why.
        log.warning("name check of %r: index could not be asked: %s", name, exc)
        return web.json_response(
            {
                "error": "the package index could not be asked; try again later",
                "status": 503,
                "name": canonical(name),
                "risk": "unknown",
                "reason": redact(str(exc)),
                # What we could say instead: the stored listing does not have it, as of then.
                "stored_listing": _stored_listing(request.app[CHECKER]),
            },
            status=503,
        )
    return web.json_response(verdict.to_json())


def _stored_listing(checker: NameChecker) -> dict[str, Any]:
    as_of = checker.listing_as_of
    return {"listed": False, "as_of": as_of.isoformat() if as_of is not None else None}


def coverage_json(cov: Coverage) -> dict[str, Any]:
    """The JSON of ``GET /v1/status`` and ``watcher status``."""
    index, journal = cov.index, cov.journal
    return {
        "feeds": {
            f.feed: {
                "polled_at": _iso(f.polled_at),
                "advanced_at": _iso(f.advanced_at),
                "gaps": f.gaps,
            }
            for f in cov.feeds
        },
        "index": None
        if index is None
        else {
            "serial": index.serial,
            "projects": index.projects,
            "reconciled_at": _iso(index.reconciled_at),
        },
        "journal": None
        if journal is None
        else {
            "serial": journal.serial,
            "failures": journal.failures,
            "retry_at": _iso(journal.retry_at),
            "last_error": journal.last_error,
            "updated_at": _iso(journal.updated_at),
        },
        "catalog": [
            {
                "source": c.source,
                "loaded_at": _iso(c.loaded_at),
                "names": c.names,
                "prefixes": c.prefixes,
                "allow": c.allow,
                "owners": c.owners,
                "last_error": c.last_error,
                "error_at": _iso(c.error_at),
                # A private index: names taken as mirrors; failing since when (its last
                # good names are still protected meanwhile).
                "mirrored": c.mirrored,
                "failing_since": _iso(c.failing_since),
            }
            for c in cov.catalogs
        ],
        "pending_index_events": cov.pending_index_events,
        # Events given up on after repeated failures: each needs a look (its project was
        # never alerted on through it).
        "dead_index_events": cov.dead_index_events,
        "dead_letters": [
            {
                "name": d.normalized_name,
                "event": d.event,
                "source": d.source,
                "attempts": d.attempts,
                "last_error": d.last_error,
                "created_at": _iso(d.created_at),
                "dead_at": _iso(d.dead_at),
            }
            for d in cov.dead_letters
        ],
        "alerts": cov.alerts,
        "deliveries": cov.deliveries,
        "findings": cov.findings,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
