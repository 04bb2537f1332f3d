"""Index events: queued by the sources, claimed by workers with a lease, finished by their
holder; on SQLite and PostgreSQL (schema from the migrations)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.support import new_event
from watcher.store import Database, events
from watcher.store.events import ClaimedEvent, NewEvent
from watcher.store.models import EventKind, EventSource, IndexEvent

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
LEASE = timedelta(minutes=5)


async def queue(db: Database, *names: str, now: datetime = T0) -> list[int]:
    """Queue one event per name; return their ids in order."""
    async with db.transaction() as session:
        await events.add_events(session, [new_event(n) for n in names], now)
    async with db.transaction() as session:
        rows = await session.execute(select(IndexEvent.id).order_by(IndexEvent.id))
        return [int(r[0]) for r in rows][-len(names) :]


async def claim(
    db: Database, worker: str, now: datetime = T0, limit: int = 100, lease: timedelta = LEASE
) -> list[ClaimedEvent]:
    async with db.write() as session:
        return await events.claim_events(session, worker, now, lease, limit)


async def holders(db: Database) -> dict[int, tuple[str | None, datetime | None]]:
    async with db.transaction() as session:
        rows = await session.execute(
            select(IndexEvent.id, IndexEvent.claimed_by, IndexEvent.lease_until)
        )
        return {int(i): (by, until) for i, by, until in rows}


async def pending(db: Database) -> int:
    async with db.transaction() as session:
        return await events.pending_count(session)


# --- queueing and claiming --------------------------------------------------------------


async def test_events_round_trip_every_field(db: Database) -> None:
    published = datetime(2024, 4, 30, 8, 0, 1, 5, tzinfo=UTC)
    full = NewEvent(
        normalized_name="acme-billing",
        name="Acme_Billing",
        event=EventKind.RELEASE,
        source=EventSource.FEED_UPDATES,
        serial=12345678901,  # beyond 32 bits: the column is a BIGINT
        detail="add Owner mallory",
        version="9.0",
        published_at=published,
        author="Mallory",
    )
    async with db.transaction() as session:
        await events.add_events(session, [], T0)  # nothing to add is fine
        await events.add_events(session, [full, new_event("acme-other")], T0)
    assert await pending(db) == 2
    claimed = await claim(db, "w1")
    assert [type(c) for c in claimed] == [ClaimedEvent, ClaimedEvent]
    first, second = claimed
    assert first.id < second.id
    assert NewEvent(**{f: getattr(first, f) for f in vars(full)}) == full
    assert first.published_at is not None
    assert first.published_at.utcoffset() == timedelta(0)
    assert (second.normalized_name, second.event, second.source) == (
        "acme-other",
        EventKind.NEW,
        EventSource.INDEX,
    )
    assert (second.serial, second.detail, second.version, second.published_at) == (
        None,
        None,
        None,
        None,
    )
    async with db.transaction() as session:
        created = (await session.execute(select(IndexEvent.created_at))).scalars().all()
    assert created == [T0, T0]


async def test_an_event_without_a_source_is_the_listings(db: Database) -> None:
    # Rows written before sources were recorded have none: they came from the listing.
    async with db.transaction() as session:
        session.add(
            IndexEvent(
                normalized_name="acme-x", name="acme-x", event=EventKind.CHANGED, created_at=T0
            )
        )
    [event] = await claim(db, "w1")
    assert (event.source, event.event) == (EventSource.INDEX, EventKind.CHANGED)


async def test_claim_takes_unheld_events_oldest_first_up_to_the_limit(db: Database) -> None:
    ids = await queue(db, "acme-a", "acme-b", "acme-c")
    first = await claim(db, "w1", limit=2)
    assert [e.id for e in first] == ids[:2]
    assert [e.normalized_name for e in first] == ["acme-a", "acme-b"]
    held = await holders(db)
    assert held[ids[0]] == ("w1", T0 + LEASE)
    assert held[ids[1]] == ("w1", T0 + LEASE)
    assert held[ids[2]] == (None, None)
    # Claiming does not remove: the events still wait until finished.
    assert await pending(db) == 3


async def test_two_claimers_in_separate_transactions_get_disjoint_events(db: Database) -> None:
    ids = await queue(db, *(f"acme-{i}" for i in range(5)))
    one = await claim(db, "w1", limit=3)
    two = await claim(db, "w2", limit=3)
    three = await claim(db, "w3", limit=3)
    assert [e.id for e in one] == ids[:3]
    assert [e.id for e in two] == ids[3:]
    assert three == []
    held = await holders(db)
    assert {i: held[i][0] for i in ids} == {
        ids[0]: "w1",
        ids[1]: "w1",
        ids[2]: "w1",
        ids[3]: "w2",
        ids[4]: "w2",
    }


async def test_concurrent_claimers_get_disjoint_events(db: Database) -> None:
    """Claimers whose write transactions overlap (each waits inside its transaction before
    committing) never take the same event; together they take every event once."""
    ids = await queue(db, *(f"acme-{i:02d}" for i in range(12)))

    async def claimer(worker: str) -> list[int]:
        async with db.write() as session:
            claimed = await events.claim_events(session, worker, T0, LEASE, 4)
            await asyncio.sleep(0.2)  # hold the claim open while the others claim
        return [e.id for e in claimed]

    workers = [f"w{i}" for i in range(4)]
    results = await asyncio.gather(*(claimer(w) for w in workers))
    taken = [i for r in results for i in r]
    assert sorted(taken) == ids  # every event once: disjoint, and none left behind
    assert len(set(taken)) == len(taken)
    assert sorted(len(r) for r in results) == [0, 4, 4, 4]
    held = await holders(db)
    for worker, result in zip(workers, results, strict=True):
        assert all(held[i][0] == worker for i in result)


@pytest.mark.postgres
async def test_claim_skips_rows_another_open_transaction_locked(postgres_db: Database) -> None:
    # Row locks (FOR UPDATE SKIP LOCKED) exist on PostgreSQL only: the second claimer does
    # not wait for the first to commit, nor see its events as free.
    db = postgres_db
    ids = await queue(db, *(f"acme-{i}" for i in range(4)))
    async with db.write() as holder:
        held = await events.claim_events(holder, "w1", T0, LEASE, 2)
        async with db.write() as other:
            rest = await events.claim_events(other, "w2", T0, LEASE, 10)
    assert [e.id for e in held] == ids[:2]
    assert [e.id for e in rest] == ids[2:]


@pytest.mark.postgres
async def test_claim_skips_rows_locked_by_an_uncommitted_claim(postgres_db: Database) -> None:
    # The first claimer's transaction is still open (its lease not yet visible to others)
    # when the second claims: only the row locks keep them apart.
    db = postgres_db
    ids = await queue(db, *(f"acme-{i}" for i in range(6)))
    first_claimed = asyncio.Event()
    second_done = asyncio.Event()

    async def first() -> list[int]:
        async with db.write() as session:
            claimed = await events.claim_events(session, "w1", T0, LEASE, 3)
            first_claimed.set()
            await asyncio.wait_for(second_done.wait(), timeout=10)
        return [e.id for e in claimed]

    async def second() -> list[int]:
        await first_claimed.wait()
        try:
            async with db.write() as session:
                claimed = await events.claim_events(session, "w2", T0, LEASE, 10)
        finally:
            second_done.set()
        return [e.id for e in claimed]

    one, two = await asyncio.gather(first(), second())
    assert one == ids[:3]
    assert two == ids[3:]


# --- leases -----------------------------------------------------------------------------


async def test_an_expired_lease_makes_the_event_claimable_again(db: Database) -> None:
    [event_id] = await queue(db, "acme-x")
    assert [e.id for e in await claim(db, "w1", now=T0)] == [event_id]
    # Within the lease (up to its last instant) nobody else gets it.
    assert await claim(db, "w2", now=T0 + LEASE / 2) == []
    assert await claim(db, "w2", now=T0 + LEASE) == []
    # The first worker died: once its lease ran out the event is free.
    later = T0 + LEASE + timedelta(microseconds=1)
    again = await claim(db, "w2", now=later)
    assert [e.id for e in again] == [event_id]
    assert (await holders(db))[event_id] == ("w2", later + LEASE)
    # The dead worker's late finish does not remove what another worker now holds.
    async with db.write() as session:
        assert await events.finish_events(session, [event_id], "w1") == 0
    assert await pending(db) == 1
    async with db.write() as session:
        assert await events.finish_events(session, [event_id], "w2") == 1
    assert await pending(db) == 0


async def test_finish_deletes_only_what_the_worker_still_holds(db: Database) -> None:
    a, b, c, d = await queue(db, "acme-a", "acme-b", "acme-c", "acme-d")
    await claim(db, "w1", limit=2)  # a, b
    await claim(db, "w2", limit=1)  # c; d stays unclaimed
    async with db.write() as session:
        # w1 asks for all four: only its own two go.
        assert await events.finish_events(session, [a, b, c, d], "w1") == 2
    held = await holders(db)
    assert sorted(held) == [c, d]
    assert held[c][0] == "w2"
    assert held[d] == (None, None)
    async with db.write() as session:
        assert await events.finish_events(session, [d], "w2") == 0  # unclaimed: not w2's
        assert await events.finish_events(session, [], "w2") == 0
        assert await events.finish_events(session, [c], "w2") == 1
    assert sorted(await holders(db)) == [d]


async def test_extend_leases_keeps_holding_past_the_first_lease(db: Database) -> None:
    a, b = await queue(db, "acme-a", "acme-b")
    await claim(db, "w1")
    longer = T0 + LEASE + timedelta(minutes=1)
    async with db.write() as session:
        await events.extend_leases(session, [a], "w1", longer)
        await events.extend_leases(session, [b], "w2", longer)  # not w2's: unchanged
    held = await holders(db)
    assert held[a] == ("w1", longer)
    assert held[b] == ("w1", T0 + LEASE)
    after_first = T0 + LEASE + timedelta(seconds=1)
    assert [e.id for e in await claim(db, "w2", now=after_first)] == [b]
    assert await claim(db, "w3", now=longer) == []  # b is w2's now, a still w1's
    assert [e.id for e in await claim(db, "w3", now=longer + timedelta(seconds=1))] == [a]


async def test_release_events_frees_only_the_workers_own_claims(db: Database) -> None:
    a, b, c = await queue(db, "acme-a", "acme-b", "acme-c")
    await claim(db, "w1", limit=2)  # a, b
    await claim(db, "w2", limit=1)  # c
    async with db.write() as session:
        await events.release_events(session, [a, c], "w1")
    held = await holders(db)
    assert held[a] == (None, None)
    assert held[b] == ("w1", T0 + LEASE)
    assert held[c] == ("w2", T0 + LEASE)
    # Released: another worker takes it at once, without waiting for the lease.
    assert [e.id for e in await claim(db, "w3")] == [a]


async def test_release_all_frees_every_claim(db: Database) -> None:
    a, b, c = await queue(db, "acme-a", "acme-b", "acme-c")
    await claim(db, "w1", limit=1)
    await claim(db, "w2", limit=1)
    async with db.write() as session:
        assert await events.release_all(session) == 2
    assert set((await holders(db)).values()) == {(None, None)}
    async with db.write() as session:
        assert await events.release_all(session) == 0
    assert [e.id for e in await claim(db, "w3")] == [a, b, c]
    assert await pending(db) == 3
