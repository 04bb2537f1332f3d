"""Re-assessing findings against a new catalog (:func:`reassess_all`), on both databases."""

from __future__ import annotations

from datetime import UTC, datetime

from packaging.utils import NormalizedName
from sqlalchemy import select

from watcher.alerts.messages import AlertKind, AlertMessage
from watcher.catalog.model import Catalog, InternalPackage
from watcher.pipeline.risk import reassess_all
from watcher.store import Database, findings, history
from watcher.store.findings import RiskRecord
from watcher.store.models import OutboxAlert

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = datetime(2026, 2, 1, tzinfo=UTC)
BILLING = NormalizedName("acme-billing")


def catalog(*versions: str) -> Catalog:
    packages = (
        {BILLING: InternalPackage("acme-billing", "http://127.0.0.1:9/simple/", versions)}
        if versions
        else {}
    )
    return Catalog(
        names={BILLING: "acme-billing"},
        prefixes={NormalizedName("acme"): "acme"},
        packages=packages,
    )


async def seed(db: Database, public_version: str, risk: str) -> None:
    async with db.write() as session:
        project, _ = await history.upsert_project(
            session, BILLING, "acme-billing", T0, history.ProjectDetails()
        )
        await history.add_release(
            session, project, history.ReleaseRecord(public_version, "feed:updates", T0)
        )
        for internal, kind in (("acme-billing", "exact"), ("acme", "prefix")):
            await findings.add_finding(
                session,
                public_name=BILLING,
                internal_name=internal,
                kind=kind,
                detail="d",
                now=T0,
                risk=RiskRecord.of(risk if kind == "exact" else "high", "seeded", None),
            )


async def risk_alerts(db: Database) -> list[AlertMessage]:
    async with db.transaction() as session:
        rows = await session.execute(select(OutboxAlert.payload).order_by(OutboxAlert.id))
        return [AlertMessage.from_payload(p) for p in rows.scalars()]


async def stored(db: Database) -> dict[str, str | None]:
    async with db.transaction() as session:
        return {f.kind: f.risk for f in await findings.findings_for(session, BILLING)}


async def test_our_new_release_lowers_the_risk_silently(db: Database) -> None:
    await seed(db, "5.0", "critical")  # public 5.0 was above our 4.2.0
    async with db.write() as session:
        changes = await reassess_all(session, catalog("4.2.0", "6.0"), T1)
    assert [(c.finding.kind, c.before.name, c.after.risk.name) for c in changes] == [
        ("exact", "CRITICAL", "HIGH")
    ]
    assert await stored(db) == {"exact": "high", "prefix": "high"}
    assert await risk_alerts(db) == []


async def test_a_catalog_now_knowing_our_versions_raises_it_and_alerts_once(db: Database) -> None:
    await seed(db, "5.0", "high")
    link = "http://127.0.0.1:9/project/{}/".format
    async with db.write() as session:
        changes = await reassess_all(session, catalog("1.0", "4.2.0"), T1, lambda n, v: link(n))
    assert [c.rose for c in changes] == [True]
    assert await stored(db) == {"exact": "critical", "prefix": "high"}
    alerts = await risk_alerts(db)
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.kind is AlertKind.RISK
    assert (alert.severity, alert.previous_severity) == ("critical", "high")
    assert (alert.public_highest, alert.our_highest, alert.our_versions) == (
        "5.0",
        "4.2.0",
        ["1.0", "4.2.0"],
    )
    assert alert.project_url == link(BILLING)
    # The same catalog again: nothing changed, nothing alerted.
    async with db.write() as session:
        assert await reassess_all(session, catalog("1.0", "4.2.0"), T1) == []
    assert len(await risk_alerts(db)) == 1


async def test_unknown_versions_are_critical_and_the_prefix_finding_stays_high(
    db: Database,
) -> None:
    await seed(db, "0.1", "high")
    async with db.write() as session:
        changes = await reassess_all(session, catalog(), T1)  # no private index lists it
    assert [(c.finding.kind, c.after.risk.name) for c in changes] == [("exact", "CRITICAL")]
    assert await stored(db) == {"exact": "critical", "prefix": "high"}


async def test_findings_of_names_that_left_the_catalog_are_left_alone(db: Database) -> None:
    await seed(db, "5.0", "high")
    async with db.write() as session:
        assert await reassess_all(session, Catalog(), T1) == []
    assert await stored(db) == {"exact": "high", "prefix": "high"}
