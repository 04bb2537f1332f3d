"""``/v1/findings``: findings listed, shown and acted on (acknowledge, suppress, resolve,
reopen) through the API, behind the same bearer token as the rest of ``/v1/``.

Every change is kept in the finding's history with its ``actor`` and ``reason`` (both
required: the API cannot tell who calls it beyond the shared token, so the caller says)
and ``via: "api"``. When Slack is configured, the alert that told of a changed finding is
updated to say who did what and when (:mod:`watcher.alerts.acted_notes`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from watcher.alerts.acted_notes import ActedNotes
from watcher.errors import FindingNotFound, InvalidName, TransitionRefused
from watcher.names import canonical
from watcher.store import findings
from watcher.store.base import utcnow
from watcher.store.finding_views import (
    MAX_PAGE,
    RISK_ORDER,
    FindingDetail,
    FindingFilter,
    InvalidCursor,
    effective_risk,
    finding_detail,
    list_findings,
)
from watcher.store.findings import Action, FindingRow, Via
from watcher.store.models import FindingStatus
from watcher.text import printable
from watcher.web.views import DATABASE, error

log = logging.getLogger(__name__)

ACTOR_LIMIT = 200
REASON_LIMIT = 2000
_FILTER_VALUES = 50  # values of one filter (comma-separated or repeated)
_KIND_LIMIT = 32


# Set when Slack is configured: tells the alerts of findings a person changed here.
ACTED_NOTES = web.AppKey("acted_notes", ActedNotes)


async def tell_slack(
    request: web.Request, changed: list[FindingRow], action: Action, actor: str, now: datetime
) -> bool:
    """After the change committed: update the changed findings' Slack alerts (bounded,
    never raising); whether at least one was updated."""
    notes = request.app.get(ACTED_NOTES)
    if notes is None or not changed:
        return False
    return await notes.tell(changed, action, actor, now) > 0


class BadRequest(ValueError):
    """A request the API cannot act on; its message is the JSON error."""


def finding_json(finding: FindingRow) -> dict[str, Any]:
    """One finding in the API and ``watcher findings --json``."""
    return {
        "id": finding.id,
        "public_name": finding.public_name,
        "internal_name": finding.internal_name,
        "kind": finding.kind,
        "detail": finding.detail,
        "status": str(finding.status),
        # The risk it was last alerted with (sorted and filtered on), and the stored one.
        "risk": effective_risk(finding),
        "stored_risk": finding.risk,
        "risk_reason": finding.risk_reason,
        "predates": finding.predates,
        "suppressed_risk": finding.suppressed_risk,
        "resolution": finding.resolution,
        "first_seen_at": finding.first_seen_at.isoformat(),
        "updated_at": finding.updated_at.isoformat(),
    }


def detail_json(detail: FindingDetail) -> dict[str, Any]:
    """A finding with its history and its public project's releases and owners."""
    return {
        **finding_json(detail.finding),
        "history": [
            {
                "at": e.at.isoformat(),
                "actor": e.actor,
                "via": e.via,
                "action": e.action,
                "reason": e.reason,
                "from_status": e.from_status,
                "to_status": e.to_status,
            }
            for e in detail.history
        ],
        "project": {
            "name": detail.project_name,
            "latest_version": detail.latest_version,
            "organization": detail.organization,
            "owners": list(detail.owners),
            "releases": [
                {
                    "version": r.version,
                    "upload_time": r.upload_time.isoformat() if r.upload_time else None,
                    "first_seen_at": r.first_seen_at.isoformat(),
                    "yanked": r.yanked,
                    "files": list(r.files),
                    "author": r.author,
                    "owners": list(r.owners),
                    "source": r.source,
                }
                for r in detail.releases
            ],
        },
    }


def _values(request: web.Request, key: str) -> list[str]:
    """A filter's values: repeated (``?status=a&status=b``) or comma-separated."""
    values = [v.strip() for given in request.query.getall(key, []) for v in given.split(",")]
    values = [v for v in values if v]
    if len(values) > _FILTER_VALUES:
        raise BadRequest(f"{key}: at most {_FILTER_VALUES} values")
    return values


def _one_of(key: str, values: list[str], allowed: tuple[str, ...]) -> list[str]:
    for value in values:
        if value.lower() not in allowed:
            raise BadRequest(f"{key}: {printable(value, 40)!r} is not one of {', '.join(allowed)}")
    return [v.lower() for v in values]


def _names(key: str, values: list[str]) -> list[str]:
    try:
        return [str(canonical(v)) for v in values]
    except InvalidName as exc:
        raise BadRequest(f"{key}: {exc}") from None


def parse_since(value: str) -> datetime:
    """An ISO 8601 time (a time without a zone is taken as UTC)."""
    try:
        when = datetime.fromisoformat(value.strip())
        # In UTC, as the database compares it: a time at the ends of the calendar whose
        # offset takes it past year 1 or 9999 overflows here, not in the query.
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    except (ValueError, OverflowError):
        raise BadRequest(f"since: {printable(value, 40)!r} is not an ISO 8601 time") from None


def parse_filter(request: web.Request) -> FindingFilter:
    """The list's filters from the query string; :class:`BadRequest` if one is wrong."""
    kinds = _values(request, "kind")
    if any(len(k) > _KIND_LIMIT for k in kinds):
        raise BadRequest("kind: too long")
    since = request.query.get("since")
    return FindingFilter(
        statuses=_one_of("status", _values(request, "status"), tuple(FindingStatus)),
        risks=_one_of("risk", _values(request, "risk"), RISK_ORDER),
        kinds=kinds,
        internal_names=_names("internal", _values(request, "internal")),
        public_names=_names("public", _values(request, "public")),
        since=parse_since(since) if since else None,
    )


async def list_view(request: web.Request) -> web.Response:
    """``GET /v1/findings``: filtered by ``status``, ``risk``, ``kind``, ``internal``,
    ``public`` and ``since``; highest risk first, then newest; ``limit`` per page (at most
    500) and ``cursor`` (the previous page's ``next_cursor``)."""
    try:
        filters = parse_filter(request)
        limit = int(request.query.get("limit", "50"))
        if not 1 <= limit <= MAX_PAGE:
            raise BadRequest(f"limit: between 1 and {MAX_PAGE}")
    except BadRequest as exc:
        return error(400, str(exc))
    except ValueError:
        return error(400, "limit: not a number")
    cursor = request.query.get("cursor") or None
    try:
        async with request.app[DATABASE].transaction() as session:
            page = await list_findings(session, filters, limit=limit, cursor=cursor)
    except InvalidCursor as exc:
        return error(400, f"cursor: {exc}")
    return web.json_response(
        {"findings": [finding_json(f) for f in page.findings], "next_cursor": page.next_cursor}
    )


def _finding_id(request: web.Request) -> int:
    text = request.match_info["finding_id"]
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise BadRequest("a finding id is a positive number")
    return int(text)


async def detail_view(request: web.Request) -> web.Response:
    """``GET /v1/findings/{id}``: the finding, its history, its project's releases, owners."""
    try:
        finding_id = _finding_id(request)
    except BadRequest as exc:
        return error(400, str(exc))
    try:
        async with request.app[DATABASE].transaction() as session:
            detail = await finding_detail(session, finding_id)
    except FindingNotFound as exc:
        return error(404, str(exc))
    return web.json_response(detail_json(detail))


def _text(body: dict[str, Any], key: str, limit: int) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"{key}: a non-empty string is required")
    value = value.strip()
    if len(value) > limit:
        raise BadRequest(f"{key}: at most {limit} characters")
    if not value.isprintable():
        # A line break in an actor's name would forge lines in logs and the CLI's output.
        raise BadRequest(f"{key}: control characters are not allowed")
    return value


async def action_view(request: web.Request) -> web.Response:
    """``POST /v1/findings/{id}/{action}`` with a JSON body ``{"actor": ..., "reason": ...}``:
    200 with the finding as it now stands (and ``message_updated``: whether its Slack alert
    now says so); 400 for a bad body, 404 for an unknown finding, 409 when its status does
    not allow the action (nothing changes then)."""
    action = Action(request.match_info["action"])
    try:
        finding_id = _finding_id(request)
        try:
            body = await request.json()
        except (ValueError, RecursionError):  # RecursionError: "[[[[..." under the size limit
            raise BadRequest("the body must be a JSON object") from None
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object")
        actor = _text(body, "actor", ACTOR_LIMIT)
        reason = _text(body, "reason", REASON_LIMIT)
    except BadRequest as exc:
        return error(400, str(exc))
    now = utcnow()
    try:
        # write(): it reads, then writes (on SQLite it waits its turn for the write lock).
        async with request.app[DATABASE].write() as session:
            row = await findings.transition(
                session, finding_id, action, actor=actor, via=Via.API, reason=reason, now=now
            )
    except FindingNotFound as exc:
        return error(404, str(exc))
    except TransitionRefused as exc:
        response = web.json_response(
            {"error": str(exc), "status": 409, "finding_status": exc.status}, status=409
        )
        return response
    log.info("finding %d: %s by %s via the API", finding_id, action, printable(actor, 100))
    updated = await tell_slack(request, [row], action, actor, now)
    return web.json_response({"finding": finding_json(row), "message_updated": updated})


def add_routes(app: web.Application) -> None:
    """Register the findings routes on ``app`` (under ``/v1/``: bearer auth applies)."""
    app.router.add_get("/v1/findings", list_view)
    app.router.add_get("/v1/findings/{finding_id}", detail_view)
    actions = "|".join(a for a in findings.TRANSITIONS)
    app.router.add_post(rf"/v1/findings/{{finding_id}}/{{action:(?:{actions})}}", action_view)
