"""The findings page's views: the overview, the list (filters, pages, bulk actions), one
finding (both names compared, its project's releases and owners, its history, actions)
and the name check. State changes go through :func:`watcher.store.findings.transition`,
as the API's do, and are recorded with the logged-in person's name (``via: api``); their
Slack alerts are updated as the API's are (:func:`watcher.web.findings.tell_slack`)."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web
from packaging.utils import NormalizedName

from watcher.errors import (
    FindingNotFound,
    IndexClientError,
    InvalidName,
    LookupsSaturated,
    NotAnIndex,
    TransitionRefused,
)
from watcher.matching.model import MatchKind
from watcher.redaction import redact
from watcher.store import findings
from watcher.store.base import utcnow
from watcher.store.finding_stats import finding_stats
from watcher.store.finding_views import (
    RISK_ORDER,
    FindingFilter,
    InvalidCursor,
    effective_risk,
    finding_detail,
    list_findings,
)
from watcher.store.findings import Action, FindingRow, Via
from watcher.store.gauges import store_gauges
from watcher.store.models import FindingStatus
from watcher.store.status import coverage
from watcher.text import printable
from watcher.web.findings import REASON_LIMIT, BadRequest, parse_filter, tell_slack
from watcher.web.ui import INDEX_URL, Form, action, page, render, safe_next, see_other
from watcher.web.ui.auth import Session
from watcher.web.ui.diff import name_diff
from watcher.web.ui.timeline import timeline
from watcher.web.views import CHECKER, DATABASE, SOURCES

log = logging.getLogger(__name__)

PAGE_SIZE = 50
SEARCH_LIMIT = 100
TIMELINE_DAYS = 30
BULK_LIMIT = 200
BULK_ACTIONS = (Action.ACKNOWLEDGE, Action.SUPPRESS)
ACTION_WORDS = {
    Action.ACKNOWLEDGE: "Acknowledge",
    Action.SUPPRESS: "Suppress",
    Action.RESOLVE: "Resolve",
    Action.REOPEN: "Reopen",
}


def _choices() -> dict[str, Any]:
    return {
        "statuses": [str(s) for s in FindingStatus],
        "risks": list(RISK_ORDER),
        "kinds": [str(k) for k in MatchKind],
    }


def _ui_filter(request: web.Request) -> FindingFilter:
    filters = parse_filter(request)
    search = request.query.get("q", "").strip()
    if len(search) > SEARCH_LIMIT:
        raise BadRequest(f"search: at most {SEARCH_LIMIT} characters")
    return replace(filters, search=search or None)


@page
async def overview(request: web.Request, session: Session) -> web.StreamResponse:
    """``GET /ui/``: open findings by risk and kind, what appeared lately, the timeline,
    every source's health, the catalog and the outbox."""
    now = utcnow()
    async with request.app[DATABASE].transaction() as db:
        stats = await finding_stats(db, now, TIMELINE_DAYS)
        cov = await coverage(db)
        gauges = await store_gauges(db)
        recent = await list_findings(db, FindingFilter(since=now - timedelta(days=1)), limit=10)
    kinds = sorted({kind for _, kind in stats.open})
    probe = request.app.get(SOURCES)
    sources = sorted((probe() if probe is not None else {}).items())
    return render(
        request,
        "overview.html",
        session,
        stats=stats,
        kinds=kinds,
        risks=RISK_ORDER,
        open_total=sum(stats.open.values()),
        recent=[(f, effective_risk(f)) for f in recent.findings],
        chart=timeline(stats.per_day, stats.since, TIMELINE_DAYS),
        sources=[
            (name, health, None if health.last_error is None else redact(health.last_error))
            for name, health in sources
        ],
        catalogs=cov.catalogs,
        outbox=cov.alerts,
        oldest_pending=gauges.oldest_pending,
        pending_events=cov.pending_index_events,
        dead_events=cov.dead_index_events,
    )


@page
async def findings_list(request: web.Request, session: Session) -> web.StreamResponse:
    """``GET /ui/findings``: the API's filters (status, risk, kind, internal) and a text
    search (``q``), highest risk first then newest, :data:`PAGE_SIZE` per page."""
    query = {k: v for k, v in request.query.items() if k != "cursor" and v}
    context: dict[str, Any] = {"query": query, **_choices(), "actions": BULK_ACTIONS}
    done, refused = request.query.get("done", ""), request.query.get("refused", "")
    context["done"] = int(done) if done.isdigit() and len(done) < 6 else None
    context["refused"] = int(refused) if refused.isdigit() and len(refused) < 6 else None
    try:
        filters = _ui_filter(request)
        async with request.app[DATABASE].transaction() as db:
            found = await list_findings(
                db, filters, limit=PAGE_SIZE, cursor=request.query.get("cursor") or None
            )
    except (BadRequest, InvalidCursor) as exc:
        return render(
            request, "findings.html", session, status=400, error=str(exc), rows=[], **context
        )
    following = urlencode({**query, "cursor": found.next_cursor}) if found.next_cursor else None
    return render(
        request,
        "findings.html",
        session,
        error=None,
        rows=[(f, effective_risk(f)) for f in found.findings],
        next_query=following,
        first_query=urlencode(query) if "cursor" in request.query else None,
        back=request.path_qs,
        **context,
    )


def _reason(form: Form) -> str:
    value = form.get("reason")
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise BadRequest("a reason is required")
    if len(text) > REASON_LIMIT:
        raise BadRequest(f"the reason is longer than {REASON_LIMIT} characters")
    if not text.isprintable():
        raise BadRequest("the reason has control characters")
    return text


@action
async def bulk(request: web.Request, session: Session, form: Form) -> web.StreamResponse:
    """``POST /ui/findings/bulk``: acknowledge or suppress the ticked findings, with a
    reason, in one transaction; those whose status does not allow it are left as they are."""
    back = safe_next(form.get("back"), "/ui/findings")
    try:
        chosen = form.get("action")
        verb = Action(chosen) if isinstance(chosen, str) and chosen in BULK_ACTIONS else None
        if verb is None:
            raise BadRequest("choose acknowledge or suppress")
        reason = _reason(form)
        ids = [v for v in form.getall("id", []) if isinstance(v, str)]
        if not ids or len(ids) > BULK_LIMIT or not all(v.isdigit() and len(v) < 12 for v in ids):
            raise BadRequest(f"tick between 1 and {BULK_LIMIT} findings")
    except BadRequest as exc:
        return render(request, "forbidden.html", session, status=400, message=str(exc))
    changed: list[FindingRow] = []
    refused = 0
    now = utcnow()
    try:
        async with request.app[DATABASE].write() as db:
            for finding_id in dict.fromkeys(int(v) for v in ids):
                try:
                    changed.append(
                        await findings.transition(
                            db,
                            finding_id,
                            verb,
                            actor=session.actor,
                            via=Via.API,
                            reason=reason,
                            now=now,
                        )
                    )
                except TransitionRefused:
                    refused += 1
    except FindingNotFound as exc:
        return render(
            request, "forbidden.html", session, status=404, message=f"{exc}: nothing changed."
        )
    done = len(changed)
    log.info(
        "%d findings: %s by %s on the findings page", done, verb, printable(session.actor, 100)
    )
    await tell_slack(request, changed, verb, session.actor, now)
    separator = "&" if "?" in back else "?"
    return see_other(f"{back}{separator}{urlencode({'done': done, 'refused': refused})}")


def _finding_id(request: web.Request) -> int:
    return int(request.match_info["finding_id"])


async def _detail_page(
    request: web.Request, session: Session, *, status: int = 200, error: str | None = None
) -> web.StreamResponse:
    finding_id = _finding_id(request)
    try:
        async with request.app[DATABASE].transaction() as db:
            detail = await finding_detail(db, finding_id)
    except FindingNotFound as exc:
        return render(request, "forbidden.html", session, status=404, message=str(exc))
    finding = detail.finding
    catalog = request.app[CHECKER].catalog.current.catalog
    ours = catalog.package(NormalizedName(finding.internal_name))
    allowed = [a for a, (before, _) in findings.TRANSITIONS.items() if finding.status in before]
    base = request.app[INDEX_URL]
    return render(
        request,
        "finding.html",
        session,
        status=status,
        error=error,
        finding=finding,
        risk=effective_risk(finding),
        detail=detail,
        diff=name_diff(finding.internal_name, finding.public_name),
        our_versions=list(ours.versions[-20:]) if ours is not None else [],
        # The index client's project page (IndexClient.project_url) of this index.
        project_url=f"{base}/project/{quote(finding.public_name, safe='')}/" if base else None,
        actions=[(str(a), ACTION_WORDS[a]) for a in allowed],
    )


@page
async def finding_page(request: web.Request, session: Session) -> web.StreamResponse:
    """``GET /ui/findings/{id}``."""
    return await _detail_page(request, session)


@action
async def finding_action(request: web.Request, session: Session, form: Form) -> web.StreamResponse:
    """``POST /ui/findings/{id}/{action}`` with a reason: the API's transition."""
    verb = Action(request.match_info["action"])
    finding_id = _finding_id(request)
    now = utcnow()
    try:
        reason = _reason(form)
        async with request.app[DATABASE].write() as db:
            row = await findings.transition(
                db, finding_id, verb, actor=session.actor, via=Via.API, reason=reason, now=now
            )
    except BadRequest as exc:
        return await _detail_page(request, session, status=400, error=str(exc))
    except TransitionRefused as exc:
        return await _detail_page(request, session, status=409, error=str(exc))
    except FindingNotFound as exc:
        return render(request, "forbidden.html", session, status=404, message=str(exc))
    log.info(
        "finding %d: %s by %s on the findings page", finding_id, verb, printable(session.actor, 100)
    )
    await tell_slack(request, [row], verb, session.actor, now)
    return see_other(f"/ui/findings/{finding_id}")


@page
async def check_page(request: web.Request, session: Session) -> web.StreamResponse:
    """``GET /ui/check?name=...``: the check API's full verdict for one name."""
    name = request.query.get("name", "").strip()
    verdict: dict[str, Any] | None = None
    error: str | None = None
    status = 200
    if name:
        try:
            result = await request.app[CHECKER].check(name, details=True)
            verdict = result.to_json()
        except InvalidName as exc:
            error, status = str(exc), 400
        except LookupsSaturated:
            error, status = "too many name checks in progress; try again later", 503
        except (IndexClientError, NotAnIndex) as exc:
            error, status = f"the package index could not be asked: {redact(str(exc))}", 503
    return render(
        request,
        "check.html",
        session,
        status=status,
        name=name,
        verdict=verdict,
        verdict_json=json.dumps(verdict, indent=2, ensure_ascii=False) if verdict else None,
        error=error,
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/ui/", overview)
    app.router.add_get("/ui/findings", findings_list)
    app.router.add_post("/ui/findings/bulk", bulk)
    app.router.add_get(r"/ui/findings/{finding_id:\d{1,9}}", finding_page)
    verbs = "|".join(str(a) for a in findings.TRANSITIONS)
    app.router.add_post(
        rf"/ui/findings/{{finding_id:\d{{1,9}}}}/{{action:(?:{verbs})}}", finding_action
    )
    app.router.add_get("/ui/check", check_page)
