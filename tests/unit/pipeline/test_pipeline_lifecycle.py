"""What a finding's status does to its alerts, through the real recorder and re-assessment:
acknowledged ones still get updates, suppressed ones stay quiet until their risk rises
above the risk they had, resolved ones reopen when their project changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from packaging.utils import NormalizedName
from sqlalchemy import select

from watcher.alerts.messages import AlertKind, AlertMessage
from watcher.catalog.model import Catalog, InternalPackage
from watcher.matching import Match, MatchKind
from watcher.pipeline.observation import Observation
from watcher.pipeline.recorder import Recorder
from watcher.pipeline.risk import reassess_all
from watcher.store import Database, findings, history
from watcher.store.finding_views import finding_detail
from watcher.store.findings import Action, FindingRow, RiskRecord, Via
from watcher.store.models import FindingStatus, OutboxAlert

T0 = datetime(2026, 4, 1, tzinfo=UTC)
BILLING = NormalizedName("acme-billing")


def catalog(*versions: str) -> Catalog:
    packages = (
        {BILLING: InternalPackage("acme-billing", "http://127.0.0.1:9/simple/", versions)}
        if versions
        else {}
    )
    return Catalog(names={BILLING: "acme-billing"}, packages=packages)


def seen(version: str) -> Observation:
    match = Match(BILLING, BILLING, MatchKind.EXACT, "same name")
    return Observation(BILLING, "acme-billing", version, "feed:updates", [match])


async def alerts(db: Database) -> list[AlertMessage]:
    async with db.transaction() as session:
        rows = await session.execute(select(OutboxAlert.payload).order_by(OutboxAlert.id))
        return [AlertMessage.from_payload(p) for p in rows.scalars()]


async def the_finding(db: Database) -> FindingRow:
    async with db.transaction() as session:
        [row] = await findings.findings_for(session, BILLING)
    return row


async def record(db: Database, version: str, at: int) -> int:
    recorder = Recorder(lambda name, version: f"http://127.0.0.1:9/project/{name}/")
    async with db.write() as session:
        return await recorder.record(session, catalog(), seen(version), T0 + timedelta(hours=at))


async def act(db: Database, action: Action, at: int) -> None:
    row = await the_finding(db)
    async with db.transaction() as session:
        await findings.transition(
            session,
            row.id,
            action,
            actor="alice",
            via=Via.SLACK,
            reason="test",
            now=T0 + timedelta(hours=at),
        )


async def test_status_decides_what_is_alerted(db: Database) -> None:
    assert await record(db, "1.0", 0) == 1
    finding = await the_finding(db)
    [new] = await alerts(db)
    assert (new.kind, new.finding_ids) == (AlertKind.NEW, [finding.id])  # its buttons

    await act(db, Action.ACKNOWLEDGE, 1)
    assert await record(db, "2.0", 2) == 1  # acknowledged: updates still come
    assert (await alerts(db))[-1].kind is AlertKind.RELEASE
    assert (await alerts(db))[-1].finding_ids == [finding.id]

    await act(db, Action.SUPPRESS, 3)
    assert await record(db, "3.0", 4) == 0  # suppressed: quiet
    assert (await the_finding(db)).status == FindingStatus.SUPPRESSED

    await act(db, Action.RESOLVE, 5)
    assert await record(db, "3.0", 6) == 0  # nothing new: stays resolved
    assert (await the_finding(db)).status == FindingStatus.RESOLVED
    assert await record(db, "4.0", 7) == 1  # it changed: open again, and alerted
    assert (await the_finding(db)).status == FindingStatus.OPEN
    assert (await alerts(db))[-1].kind is AlertKind.RELEASE
    async with db.transaction() as session:
        last = (await finding_detail(session, finding.id)).history[-1]
    assert (last.action, last.via, last.actor, last.from_status) == (
        "reopen",
        "service",
        "watcher",
        "resolved",
    )
    assert last.reason == "the project changed after it was resolved"


async def seed(db: Database, risk: str) -> int:
    async with db.write() as session:
        project, _ = await history.upsert_project(
            session, BILLING, "acme-billing", T0, history.ProjectDetails()
        )
        await history.add_release(
            session, project, history.ReleaseRecord("5.0", "feed:updates", T0)
        )
        await findings.add_finding(
            session,
            public_name=BILLING,
            internal_name=BILLING,
            kind="exact",
            detail="d",
            now=T0,
            risk=RiskRecord.of(risk, "seeded", None),
        )
    return (await the_finding(db)).id


async def test_a_suppressed_finding_speaks_again_when_its_risk_rises_above(db: Database) -> None:
    finding_id = await seed(db, "high")  # public 5.0, our versions unknown to this catalog
    await act(db, Action.SUPPRESS, 1)
    async with db.write() as session:
        # Our 4.2.0 is below the public 5.0: critical, above the high it was suppressed at.
        changes = await reassess_all(session, catalog("1.0", "4.2.0"), T0 + timedelta(hours=2))
    assert [c.rose for c in changes] == [True]
    [alert] = await alerts(db)
    assert (alert.kind, alert.finding_ids) == (AlertKind.RISK, [finding_id])
    row = await the_finding(db)
    assert (row.status, row.suppressed_risk) == (FindingStatus.OPEN, None)
    async with db.transaction() as session:
        last = (await finding_detail(session, finding_id)).history[-1]
    assert (last.action, last.via, last.from_status) == ("reopen", "service", "suppressed")
    assert last.reason == "risk rose to critical (suppressed at high)"


async def test_a_suppressed_finding_back_to_the_risk_it_had_stays_quiet(db: Database) -> None:
    await seed(db, "critical")
    await act(db, Action.SUPPRESS, 1)
    async with db.write() as session:
        lower = await reassess_all(session, catalog("4.2.0", "6.0"), T0 + timedelta(hours=2))
    assert [c.after.risk.name for c in lower] == ["HIGH"]
    async with db.write() as session:
        again = await reassess_all(session, catalog("1.0", "4.2.0"), T0 + timedelta(hours=3))
    # Back up to critical: a rise from high, but not above the critical it was suppressed at.
    assert [(c.after.risk.name, c.rose) for c in again] == [("CRITICAL", False)]
    assert await alerts(db) == []
    assert (await the_finding(db)).status == FindingStatus.SUPPRESSED
