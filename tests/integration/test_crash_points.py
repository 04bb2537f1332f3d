"""The daemon killed at every commit site of a poll, a reconcile, a change-log page and a
dispatch (and of the start-up catalog checks): every squat is alerted exactly once.

How: ``tests.crash.launcher`` runs the real ``watcher run`` with SQLAlchemy engine events
that count each commit of a transaction that wrote something, by the watcher function that
asked for it (its *site*), and SIGKILL the process right before the N-th commit at a site
(the transaction is lost) or right after it (it is durable). The scenario
(``tests.crash.scenario``) is first run without a kill, which gives the sites (and must
alert as designed); then, per kill plan, on a fresh database with fresh fakes: run with the
kill, restart without one until the outbox is drained, and check that the fake Slack got
each designed alert exactly once and nothing else (``scenario.verdict``).

Sampling, to stay within a couple of minutes: kills are planned per site, not as one global
N (the jobs run concurrently, so their commits interleave differently from run to run).
SQLite kills at every site, ``before`` and ``after`` alternating (both at the dispatcher's
sites), two runs at a time; PostgreSQL takes the other phase at the sites where its row
locks matter (see :func:`plans_for`).

The one window left by design: Slack accepted a post and the process died before recording
it (``before`` at the dispatcher's "sent" commit). The restarted dispatcher looks the
in-flight alert up in the channel history (``conversations.history``, by the alert id in the
message metadata) before posting again, so it is covered as long as the history can be read;
when it cannot, the dispatcher resends (a duplicate, never a loss). A duplicate in exactly
that case is reported as that window, anything else as a bug.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from tests.crash.forks import ForkServer
from tests.crash.scenario import DISPATCHER, FreshDatabase, KillPlan, RunResult, run, verdict

# Generous: a loaded CI machine slows every run down (about 2 minutes in all when idle).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(360)]

_SQLITE_LANES = 2
# Runs of one plan whose site was not reached before it counts as "not reached".
_TRIES = 3
# Tables of cursors and catalog bookkeeping only: no alert depends on how PostgreSQL locks.
_CATALOG = "sources/catalog.py:"
_BOOKKEEPING = {"catalog_checks", "catalog_state", "feed_states", "journal_state"}


def plans_for(baseline: RunResult, dialect: str) -> list[KillPlan]:
    """The kill plans of one dialect, from the uncrashed run's commits (deterministic).

    SQLite: every site at its first commit, ``before`` and ``after`` alternating in site
    order, both at the dispatcher's two sites. PostgreSQL (one database, and a dead
    process's claims wait out their 15 s lease there, so a run takes 15 s more): the other
    phase, at a site's second commit if any, at the sites of a poll, a reconcile, a change-log
    page and the pipeline that write events, findings, the outbox or the listing (where its
    row locks matter); at the dispatcher, after the routing and the claim and before the
    "sent". The start-up catalog checks are killed on SQLite only.
    """
    counts = Counter(str(c["site"]) for c in baseline.commits)
    tables: dict[str, set[str]] = {}
    for commit in baseline.commits:
        tables.setdefault(str(commit["site"]), set()).update(commit["tables"])
    dispatcher = sorted((s for s in counts if s.startswith(DISPATCHER)), key=_line)
    plans = []
    for i, site in enumerate(sorted(counts)):
        if dialect == "sqlite":
            phases = ["before", "after"] if site in dispatcher else [("before", "after")[i % 2]]
            plans += [KillPlan(phase, site, 1) for phase in phases]
        elif site in dispatcher:
            # After the routing and the claim, before the "sent" (the last site by line).
            phase = "before" if site == dispatcher[-1] else "after"
            plans.append(KillPlan(phase, site, min(2, counts[site])))
        elif tables[site] - _BOOKKEEPING and not site.startswith(_CATALOG):
            plans.append(KillPlan(("before", "after")[(i + 1) % 2], site, min(2, counts[site])))
    return plans


def _line(site: str) -> int:
    return int(site.rsplit(":", 1)[1])


async def test_killed_at_every_commit_site_alerts_each_squat_exactly_once(
    clean_env: None, database_url: str, tmp_path: Path
) -> None:
    dialect = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    database = FreshDatabase(database_url, tmp_path)
    await database.prepare()
    lines: list[str] = []
    async with ForkServer() as server:
        baseline = await run(server, database, tmp_path, None)
        lines.append(f"[{dialect}] baseline: {baseline.summary()}")
        problems = verdict(baseline)
        assert not problems, "\n".join([*problems, *lines, *baseline.texts])
        plans = plans_for(baseline, dialect)
        results: list[RunResult] = []
        queue = list(reversed(plans))

        async def lane() -> None:
            while queue:
                plan = queue.pop()
                for _ in range(_TRIES):  # a site some runs do not reach: tried again
                    result = await run(server, database, tmp_path, plan)
                    if not result.unreached:
                        break
                results.append(result)
                lines.append(f"[{dialect}] {result.summary()}")
                print(lines[-1], flush=True)  # progress, with -s

        # SQLite runs two at a time (a file each); PostgreSQL has one test database.
        await asyncio.gather(*(lane() for _ in range(_SQLITE_LANES if dialect == "sqlite" else 1)))
    sites = sorted({p.site for p in plans})
    lines.append(
        f"[{dialect}] {len(baseline.commits)} writing commits at {len(sites)} sites in the"
        f" uncrashed run; {len(plans)} kills, {sum(bool(r.killed) for r in results)} fired;"
        f" sites covered: {', '.join(sites)}"
    )
    failures = []
    for result in results:
        problems = verdict(result)
        if result.unreached and len(problems) == 1:  # only "never reached": not a failure
            lines.append(f"[{dialect}] {result.plan}: not reached in {_TRIES} runs")
        elif problems:
            failures.append(f"{result.plan}: {'; '.join(problems)} (log: {result.log})")
    print("\n".join(lines))
    assert not failures, "\n".join([*failures, "", *lines])
