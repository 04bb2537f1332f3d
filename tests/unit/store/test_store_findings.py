"""Findings and their lifecycle (open, resolved, reopened), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from watcher.store import Database, findings
from watcher.store.findings import LEFT_CATALOG, REMOVED_FROM_INDEX, FindingRow
from watcher.store.models import Finding, FindingStatus

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)
T2 = T0 + timedelta(hours=2)


async def add(db: Database, public: str, internal: str, kind: str, now: datetime = T0) -> bool:
    async with db.transaction() as session:
        return await findings.add_finding(
            session,
            public_name=public,
            internal_name=internal,
            kind=kind,
            detail=f"{public} vs {internal}",
            now=now,
        )


async def of(db: Database, public: str) -> list[FindingRow]:
    async with db.transaction() as session:
        return await findings.findings_for(session, public)


async def states(db: Database) -> dict[tuple[str, str, str], tuple[str, str | None]]:
    """(public, internal, kind) -> (status, resolution) of every finding."""
    async with db.transaction() as session:
        rows = (await session.execute(select(Finding))).scalars().all()
    return {(f.public_name, f.internal_name, f.kind): (f.status, f.resolution) for f in rows}


async def test_finding_unique_per_public_internal_and_kind(db: Database) -> None:
    assert await add(db, "acme-billing", "acme-billing", "exact")
    assert not await add(db, "acme-billing", "acme-billing", "exact")
    assert await add(db, "acme-billing", "acme", "prefix")
    assert await add(db, "acme-billing", "acme-billing", "prefix")
    assert await add(db, "acme-other", "acme-billing", "exact")
    found = await of(db, "acme-billing")
    async with db.transaction() as session:
        total = len(list((await session.execute(select(Finding))).scalars()))
    assert [(f.internal_name, f.kind) for f in found] == [
        ("acme-billing", "exact"),
        ("acme", "prefix"),
        ("acme-billing", "prefix"),
    ]
    assert all(f.status == "open" and f.first_seen_at == T0 for f in found)
    assert total == 4
    first = found[0]
    assert first == FindingRow(
        id=first.id,
        public_name="acme-billing",
        internal_name="acme-billing",
        kind="exact",
        detail="acme-billing vs acme-billing",
        status=FindingStatus.OPEN,
        first_seen_at=T0,
        updated_at=T0,
        resolution=None,
    )
    assert first.key == ("acme-billing", "exact")
    assert await of(db, "nothing-here") == []


async def test_resolve_open_findings_of_removed_names(db: Database) -> None:
    await add(db, "acme-b", "acme", "prefix")
    await add(db, "acme-a", "acme-alpha", "typo")
    await add(db, "acme-a", "acme", "prefix")
    await add(db, "acme-kept", "acme", "prefix")
    async with db.transaction() as session:
        assert await findings.resolve_open_findings(session, [], T1) == []
        resolved = await findings.resolve_open_findings(
            session, ["acme-b", "acme-a", "unknown"], T1
        )
    # Sorted by public name, then internal name and kind.
    assert resolved == [
        ("acme-a", "acme", "prefix"),
        ("acme-a", "acme-alpha", "typo"),
        ("acme-b", "acme", "prefix"),
    ]
    assert await states(db) == {
        ("acme-a", "acme", "prefix"): ("resolved", REMOVED_FROM_INDEX),
        ("acme-a", "acme-alpha", "typo"): ("resolved", REMOVED_FROM_INDEX),
        ("acme-b", "acme", "prefix"): ("resolved", REMOVED_FROM_INDEX),
        ("acme-kept", "acme", "prefix"): ("open", None),
    }
    assert all(f.updated_at == T1 and f.first_seen_at == T0 for f in await of(db, "acme-a"))
    # Resolving again finds nothing open: the first resolution stays as it was.
    async with db.transaction() as session:
        assert await findings.resolve_open_findings(session, ["acme-a"], T2, "other") == []
    assert all(f.updated_at == T1 for f in await of(db, "acme-a"))


async def test_resolve_open_findings_stores_the_reason_given(db: Database) -> None:
    await add(db, "acme-x", "acme", "prefix")
    async with db.transaction() as session:
        await findings.resolve_open_findings(session, ["acme-x"], T1, reason="came and went")
    [finding] = await of(db, "acme-x")
    assert (finding.status, finding.resolution) == (FindingStatus.RESOLVED, "came and went")


async def test_reopen_only_the_keys_the_name_matches_today(db: Database) -> None:
    await add(db, "acme-billing", "acme-billing", "exact")
    await add(db, "acme-billing", "acme", "prefix")
    await add(db, "acme-billing", "acme-bill", "typo")
    await add(db, "acme-open", "acme", "prefix")
    await add(db, "other", "acme", "prefix")
    async with db.transaction() as session:
        await findings.resolve_open_findings(session, ["acme-billing", "other"], T1)

    async with db.transaction() as session:
        # Nothing given, nothing reopened.
        assert await findings.reopen_findings(session, "acme-billing", set(), T2) == []
        reopened = await findings.reopen_findings(
            session,
            "acme-billing",
            # The public name still hits 'acme-billing' and 'acme'; 'acme-bill' left the
            # catalog. A key for an open finding or one never recorded changes nothing.
            {("acme-billing", "exact"), ("acme", "prefix"), ("acme-billing", "typo")},
            T2,
        )
    assert sorted(f.key for f in reopened) == [("acme", "prefix"), ("acme-billing", "exact")]
    # What is returned is the finding as it now stands.
    assert all(f.status == FindingStatus.OPEN for f in reopened)
    assert all((f.updated_at, f.resolution) == (T2, None) for f in reopened)
    assert all(f.first_seen_at == T0 for f in reopened)
    assert await states(db) == {
        ("acme-billing", "acme-billing", "exact"): ("open", None),
        ("acme-billing", "acme", "prefix"): ("open", None),
        ("acme-billing", "acme-bill", "typo"): ("resolved", REMOVED_FROM_INDEX),
        ("acme-open", "acme", "prefix"): ("open", None),  # another public name
        ("other", "acme", "prefix"): ("resolved", REMOVED_FROM_INDEX),  # another public name
    }
    stored = {f.key: f for f in await of(db, "acme-billing")}
    assert [f.updated_at for f in reopened] == [stored[f.key].updated_at for f in reopened]
    assert stored[("acme-bill", "typo")].updated_at == T1
    # Open findings are not "reopened" again.
    async with db.transaction() as session:
        again = await findings.reopen_findings(
            session, "acme-billing", {("acme-billing", "exact"), ("acme", "prefix")}, T2
        )
    assert again == []


async def test_resolve_for_internal_names_and_prefixes_by_kind(db: Database) -> None:
    # 'acme' is both an internal name and a prefix: a public name can hit either.
    await add(db, "acme", "acme", "exact")  # against the name 'acme'
    await add(db, "acme-tools", "acme", "prefix")  # against the prefix 'acme'
    await add(db, "acmetools", "acme", "prefix_separator")  # the prefix too
    await add(db, "acme-bill", "acme-billing", "typo")
    await add(db, "acme-billing", "acme-billing", "exact")
    await add(db, "payments-core", "payments-core", "exact")
    async with db.transaction() as session:
        assert await findings.resolve_for_internal(session, [], [], T1) == []
        # Only the NAME 'acme' left the catalog (the prefix stays), and 'acme-billing'.
        gone = await findings.resolve_for_internal(session, ["acme", "acme-billing"], [], T1)
    assert [(f.public_name, f.internal_name, f.kind) for f in gone] == [
        ("acme", "acme", "exact"),
        ("acme-bill", "acme-billing", "typo"),
        ("acme-billing", "acme-billing", "exact"),
    ]
    assert all(isinstance(f, FindingRow) for f in gone)
    after_names = await states(db)
    assert after_names == {
        ("acme", "acme", "exact"): ("resolved", LEFT_CATALOG),
        ("acme-tools", "acme", "prefix"): ("open", None),
        ("acmetools", "acme", "prefix_separator"): ("open", None),
        ("acme-bill", "acme-billing", "typo"): ("resolved", LEFT_CATALOG),
        ("acme-billing", "acme-billing", "exact"): ("resolved", LEFT_CATALOG),
        ("payments-core", "payments-core", "exact"): ("open", None),
    }

    # Now the PREFIX 'acme' leaves (with a reason of the caller's), and a name that is
    # given as a prefix resolves only prefix kinds.
    async with db.transaction() as session:
        gone = await findings.resolve_for_internal(
            session, [], ["acme", "payments-core"], T2, reason="prefix dropped"
        )
    assert [(f.public_name, f.kind) for f in gone] == [
        ("acme-tools", "prefix"),
        ("acmetools", "prefix_separator"),
    ]
    after_prefixes = await states(db)
    assert after_prefixes[("acme-tools", "acme", "prefix")] == ("resolved", "prefix dropped")
    assert after_prefixes[("acmetools", "acme", "prefix_separator")] == (
        "resolved",
        "prefix dropped",
    )
    assert after_prefixes[("payments-core", "payments-core", "exact")] == ("open", None)
    # Findings resolved earlier keep their first resolution.
    assert after_prefixes[("acme", "acme", "exact")] == ("resolved", LEFT_CATALOG)
    [exact] = await of(db, "acme")
    assert exact.updated_at == T1


async def test_resolve_for_internal_leaves_findings_resolved_otherwise_alone(
    db: Database,
) -> None:
    await add(db, "acme-x", "acme-billing", "typo")
    async with db.transaction() as session:
        await findings.resolve_open_findings(session, ["acme-x"], T1)
        assert await findings.resolve_for_internal(session, ["acme-billing"], [], T2) == []
    [finding] = await of(db, "acme-x")
    assert (finding.resolution, finding.updated_at) == (REMOVED_FROM_INDEX, T1)


async def test_touch_open_updates_only_open_findings_of_the_name(db: Database) -> None:
    await add(db, "acme-x", "acme", "prefix")
    await add(db, "acme-x", "acme-xy", "typo")
    await add(db, "acme-y", "acme", "prefix")
    async with db.transaction() as session:
        await findings.resolve_for_internal(session, ["acme-xy"], [], T1)
    async with db.transaction() as session:
        await findings.touch_open(session, "acme-x", T2)
    updated = {f.key: f.updated_at for f in await of(db, "acme-x")}
    assert updated == {("acme", "prefix"): T2, ("acme-xy", "typo"): T1}
    assert [f.updated_at for f in await of(db, "acme-y")] == [T0]
