"""The findings lifecycle (acknowledge, suppress, resolve, reopen), its history, listing with
filters and cursor pages, and the detail view, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from watcher.errors import FindingNotFound, TransitionRefused
from watcher.store import Database, findings, history
from watcher.store.finding_views import (
    FindingFilter,
    InvalidCursor,
    effective_risk,
    finding_detail,
    list_findings,
)
from watcher.store.findings import (
    REMOVED_FROM_INDEX,
    RESOLVED_BY_HAND,
    Action,
    FindingRow,
    RiskRecord,
    Via,
)
from watcher.store.models import FindingStatus

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)
T2 = T0 + timedelta(hours=2)


async def add(
    db: Database,
    public: str,
    internal: str = "acme-billing",
    kind: str = "exact",
    *,
    risk: str | None = "critical",
    now: datetime = T0,
) -> int:
    async with db.transaction() as session:
        assert await findings.add_finding(
            session,
            public_name=public,
            internal_name=internal,
            kind=kind,
            detail=f"{public} vs {internal}",
            now=now,
            risk=RiskRecord.of(risk, "seeded", None) if risk else None,
        )
        [row] = [f for f in await findings.findings_for(session, public) if f.kind == kind]
        return row.id


async def act(
    db: Database,
    finding_id: int,
    action: Action,
    *,
    actor: str = "alice",
    via: Via = Via.API,
    reason: str | None = "looked at it",
    now: datetime = T1,
) -> FindingRow:
    async with db.transaction() as session:
        return await findings.transition(
            session, finding_id, action, actor=actor, via=via, reason=reason, now=now
        )


async def steps(db: Database, finding_id: int) -> list[tuple[str, str, str, str | None, str]]:
    """(action, actor, via, from, to) of a finding's history, oldest first."""
    async with db.transaction() as session:
        detail = await finding_detail(session, finding_id)
    return [(e.action, e.actor, e.via, e.from_status, e.to_status) for e in detail.history]


async def test_acknowledge_keeps_who_when_why_and_from_where(db: Database) -> None:
    finding_id = await add(db, "acme-billing")
    row = await act(db, finding_id, Action.ACKNOWLEDGE, actor="alice", via=Via.SLACK)
    assert (row.status, row.updated_at) == (FindingStatus.ACKNOWLEDGED, T1)
    async with db.transaction() as session:
        detail = await finding_detail(session, finding_id)
    assert detail.finding.status == FindingStatus.ACKNOWLEDGED
    opened, acknowledged = detail.history
    assert (opened.action, opened.via, opened.from_status, opened.to_status, opened.at) == (
        "open",
        "service",
        None,
        "open",
        T0,
    )
    assert acknowledged.at == T1
    assert (acknowledged.actor, acknowledged.via, acknowledged.reason) == (
        "alice",
        "slack",
        "looked at it",
    )
    assert (acknowledged.from_status, acknowledged.to_status) == ("open", "acknowledged")


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        ([], Action.REOPEN),  # open already
        ([Action.ACKNOWLEDGE], Action.ACKNOWLEDGE),
        ([Action.SUPPRESS], Action.SUPPRESS),
        ([Action.RESOLVE], Action.ACKNOWLEDGE),
        ([Action.RESOLVE], Action.SUPPRESS),
        ([Action.RESOLVE], Action.RESOLVE),
    ],
)
async def test_an_impossible_transition_is_refused_and_changes_nothing(
    db: Database, path: list[Action], refused: Action
) -> None:
    finding_id = await add(db, "acme-billing")
    for action in path:
        await act(db, finding_id, action)
    before = await steps(db, finding_id)
    async with db.transaction() as session:
        [row] = await findings.findings_for(session, "acme-billing")
    with pytest.raises(TransitionRefused, match=f"cannot {refused}") as caught:
        await act(db, finding_id, refused, now=T2)
    assert caught.value.status == row.status
    async with db.transaction() as session:
        assert await findings.findings_for(session, "acme-billing") == [row]
    assert await steps(db, finding_id) == before


async def test_an_unknown_finding_is_named(db: Database) -> None:
    with pytest.raises(FindingNotFound, match="no finding 4242"):
        await act(db, 4242, Action.ACKNOWLEDGE)


async def test_a_change_needs_an_actor_and_bounds_what_it_stores(db: Database) -> None:
    finding_id = await add(db, "acme-billing")
    with pytest.raises(ValueError, match="actor"):
        await act(db, finding_id, Action.ACKNOWLEDGE, actor="   ")
    await act(db, finding_id, Action.ACKNOWLEDGE, actor="m" * 1000, reason="r\x00" * 5000)
    async with db.transaction() as session:
        [_, event] = (await finding_detail(session, finding_id)).history
    assert len(event.actor) == 255
    assert event.reason is not None
    assert "\x00" not in event.reason
    assert len(event.reason) <= 4000


async def test_suppression_keeps_the_risk_it_had_and_leaving_it_clears_it(db: Database) -> None:
    finding_id = await add(db, "acme-billing", risk="medium")
    row = await act(db, finding_id, Action.SUPPRESS, reason="our own fork")
    assert (row.status, row.suppressed_risk) == (FindingStatus.SUPPRESSED, "medium")
    row = await act(db, finding_id, Action.ACKNOWLEDGE)
    assert (row.status, row.suppressed_risk) == (FindingStatus.ACKNOWLEDGED, None)


async def test_resolved_by_hand_then_reopened(db: Database) -> None:
    finding_id = await add(db, "acme-billing")
    row = await act(db, finding_id, Action.RESOLVE, actor="bob", via=Via.CLI, reason="reported")
    assert (row.status, row.resolution) == (FindingStatus.RESOLVED, RESOLVED_BY_HAND)
    row = await act(db, finding_id, Action.REOPEN, now=T2)
    assert (row.status, row.resolution, row.updated_at) == (FindingStatus.OPEN, None, T2)
    assert await steps(db, finding_id) == [
        ("open", "watcher", "service", None, "open"),
        ("resolve", "bob", "cli", "open", "resolved"),
        ("reopen", "alice", "api", "resolved", "open"),
    ]


async def test_the_service_resolves_acknowledged_and_suppressed_too_and_reopens_them(
    db: Database,
) -> None:
    acked = await add(db, "acme-billing")
    quiet = await add(db, "acme-billing", "acme", "prefix", risk="high")
    await act(db, acked, Action.ACKNOWLEDGE)
    await act(db, quiet, Action.SUPPRESS)
    async with db.transaction() as session:
        resolved = await findings.resolve_open_findings(session, ["acme-billing"], T1)
    assert len(resolved) == 2
    async with db.transaction() as session:
        rows = await findings.findings_for(session, "acme-billing")
    assert {(r.status, r.resolution, r.suppressed_risk) for r in rows} == {
        (FindingStatus.RESOLVED, REMOVED_FROM_INDEX, None)
    }
    async with db.transaction() as session:
        back = await findings.reopen_findings(
            session, "acme-billing", {("acme-billing", "exact"), ("acme", "prefix")}, T2
        )
    assert {r.status for r in back} == {FindingStatus.OPEN}
    assert (await steps(db, quiet))[-2:] == [
        ("resolve", "watcher", "service", "suppressed", "resolved"),
        ("reopen", "watcher", "service", "resolved", "open"),
    ]
    async with db.transaction() as session:
        detail = await finding_detail(session, quiet)
    assert detail.history[-1].reason == "the project is back on the index"


async def test_the_detail_has_the_projects_releases_and_owners(db: Database) -> None:
    finding_id = await add(db, "acme-billing")
    async with db.transaction() as session:
        project, _ = await history.upsert_project(
            session,
            "acme-billing",
            "Acme_Billing",
            T0,
            history.ProjectDetails(latest_version="9.0", owners=["mallory"]),
        )
        await history.add_release(
            session, project, history.ReleaseRecord("9.0", "feed:updates", T0, files=["a.whl"])
        )
    async with db.transaction() as session:
        detail = await finding_detail(session, finding_id)
    assert (detail.project_name, detail.latest_version, detail.owners) == (
        "Acme_Billing",
        "9.0",
        ["mallory"],
    )
    assert [(r.version, r.files) for r in detail.releases] == [("9.0", ["a.whl"])]
    with pytest.raises(FindingNotFound):
        async with db.transaction() as session:
            await finding_detail(session, finding_id + 100)


async def page_through(
    db: Database, filters: FindingFilter, limit: int
) -> tuple[list[FindingRow], int]:
    seen: list[FindingRow] = []
    cursor: str | None = None
    pages = 0
    while True:
        async with db.transaction() as session:
            page = await list_findings(session, filters, limit=limit, cursor=cursor)
        pages += 1
        seen += page.findings
        cursor = page.next_cursor
        if cursor is None:
            return seen, pages


async def test_200_findings_are_listed_completely_through_the_cursor_pages(db: Database) -> None:
    risks = ["critical", "high", "medium", "low", None]
    async with db.transaction() as session:
        for n in range(200):
            risk = risks[n % 5]
            await findings.add_finding(
                session,
                public_name=f"acme-squat-{n}",
                internal_name="acme",
                kind="prefix" if n % 2 else "exact",
                detail="d",
                # Many share one first-seen time: the id breaks the ties.
                now=T0 + timedelta(minutes=n % 7),
                risk=RiskRecord.of(risk, "r", None) if risk else None,
            )
    seen, pages = await page_through(db, FindingFilter(), 7)
    assert pages == 29
    assert len(seen) == 200
    assert len({f.id for f in seen}) == 200
    async with db.transaction() as session:
        whole = await list_findings(session, FindingFilter(), limit=500)
    assert whole.next_cursor is None
    assert [f.id for f in seen] == [f.id for f in whole.findings]
    # Highest risk first (no stored risk: the kind's severity), then newest, then id.
    order = ["critical", "high", "medium", "low", "none"]
    keys = [(order.index(effective_risk(f)), -f.first_seen_at.timestamp(), -f.id) for f in seen]
    assert keys == sorted(keys)
    assert effective_risk(next(f for f in seen if f.risk is None and f.kind == "prefix")) == "high"


async def test_filters(db: Database) -> None:
    exact = await add(db, "acme-billing", risk="critical", now=T0)
    prefix = await add(db, "acme-tools", "acme", "prefix", risk="high", now=T1)
    typo = await add(db, "acme-bilin", "acme-billing", "typo", risk="medium", now=T1)
    await act(db, prefix, Action.SUPPRESS, now=T2)

    async def ids(**given: object) -> list[int]:
        async with db.transaction() as session:
            page = await list_findings(session, FindingFilter(**given))  # type: ignore[arg-type]
        return [f.id for f in page.findings]

    assert await ids() == [exact, prefix, typo]
    assert await ids(statuses=["suppressed"]) == [prefix]
    assert await ids(statuses=["open", "acknowledged"]) == [exact, typo]
    assert await ids(risks=["medium", "critical"]) == [exact, typo]
    assert await ids(kinds=["typo"]) == [typo]
    assert await ids(internal_names=["acme-billing"]) == [exact, typo]
    assert await ids(public_names=["acme-tools"]) == [prefix]
    assert await ids(since=T1) == [prefix, typo]
    assert await ids(since=T2) == [prefix]  # suppressed at T2: changed since
    assert await ids(statuses=["resolved"]) == []


@pytest.mark.parametrize("cursor", ["garbage!", "W10", "x" * 500, "WzEsIjIwMjYiLDFd"])
async def test_a_cursor_we_did_not_hand_out_is_refused(db: Database, cursor: str) -> None:
    async with db.transaction() as session:
        with pytest.raises(InvalidCursor):
            await list_findings(session, FindingFilter(), cursor=cursor)
