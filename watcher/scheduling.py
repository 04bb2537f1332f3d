"""The scheduling under :class:`~watcher.jobs.Jobs`: APScheduler 3 wiring, each run tracked
(so shutdown and a lost leadership can wait for or cancel it), runs asked for while one is
in progress run again after it, and the leader's jobs skipped on a replica that does not
lead (see :mod:`watcher.leader`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_RUNNING

from watcher.scheduler_logs import cancellations_unlogged

log = logging.getLogger("watcher.jobs")

Job = tuple[str, Callable[[], Awaitable[None]], float]  # id, the run, interval (seconds)


class JobScheduler:
    """Runs jobs on their intervals; ``leader_jobs`` only while :attr:`leading`."""

    def __init__(self, leader_jobs: Collection[str]) -> None:
        self._leader_jobs = frozenset(leader_jobs)
        self._running: dict[asyncio.Task[None], str] = {}  # runs in progress, by job
        # Only the leader among replicas does the leader's jobs; a replica alone leads from
        # the start.
        self.leading = True
        self._busy: set[str] = set()  # jobs running now
        self._again: dict[str, float] = {}  # asked for while running: when, after the run
        self._cancelling: set[asyncio.Task[None]] = set()  # kept until done (not collected)
        self.scheduler = AsyncIOScheduler(timezone=UTC)

    def run_now(self, job_id: str, reason: str | None = None, *, delay: float = 0.0) -> None:
        """Run a job as soon as possible, or in ``delay`` seconds.

        Asked while the job runs, it runs again once that run ends: the scheduler would
        skip a run due while one is in progress (one instance at a time), and the run in
        progress may have read what the request is about (a catalog file, a listing)
        before it changed.
        """
        job = self.scheduler.get_job(job_id)
        if job is not None:
            if reason:
                log.warning("%s", reason)
            if job_id in self._busy:
                self._again[job_id] = min(delay, self._again.get(job_id, delay))
                return
            due = datetime.now(UTC) + timedelta(seconds=delay)
            if job.next_run_time is None or job.next_run_time > due:  # never postponed
                job.modify(next_run_time=due)

    def _schedule_jobs(self, jobs: list[Job]) -> None:
        """Start the scheduler inside the running loop; every job runs at once, then on
        its interval."""
        now = datetime.now(UTC)
        for job_id, job, interval in jobs:
            self.scheduler.add_job(
                self._tracked(job_id, job),
                "interval",
                seconds=interval,
                id=job_id,
                next_run_time=now,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
            )
        self.scheduler.start()

    def _cancel_runs(self, names: Collection[str]) -> int:
        """Cancel the runs in progress of the jobs ``names`` (at once, without waiting for
        them to end); return how many."""
        runs = [task for task, name in self._running.items() if name in names]
        if runs:
            task = asyncio.get_running_loop().create_task(_cancelled(runs))
            self._cancelling.add(task)
            task.add_done_callback(self._cancelling.discard)
        return len(runs)

    async def stop(self, grace: float = 25.0) -> None:
        """Stop scheduling, let running jobs finish; cancel those still running after
        ``grace`` seconds (``WATCHER_SHUTDOWN_GRACE``), saying so in one line."""
        if not self.scheduler.running:
            return
        # Pause first: shutting APScheduler 3 down cancels the jobs it runs at once.
        self.scheduler.pause()
        if self._running:
            _, pending = await asyncio.wait(set(self._running), timeout=grace)
            if pending:
                log.warning(
                    "%d job%s still running after the %g s shutdown grace period"
                    " (WATCHER_SHUTDOWN_GRACE): cancelled",
                    len(pending),
                    "" if len(pending) == 1 else "s",
                    grace,
                )
                with cancellations_unlogged():  # announced above: no error
                    for task in pending:
                        task.cancel()
                    await asyncio.wait(pending)
        self.scheduler.shutdown(wait=False)

    def _tracked(
        self, name: str, job: Callable[[], Awaitable[None]]
    ) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            task = asyncio.current_task()
            assert task is not None
            if not self.leading and name in self._leader_jobs:
                return  # another replica leads: this work is its own
            self._running[task] = name
            self._busy.add(name)
            try:
                await job()
            except Exception:
                # One failed run must not stop the schedule; the next run retries. The job
                # logged it already (the first time in a row, with its traceback).
                log.debug("%s job failed", name, exc_info=True)
            finally:
                self._running.pop(task, None)
                self._busy.discard(name)
                again = self._again.pop(name, None)
                if again is not None:
                    # Once the task is done: the scheduler counts this run as finished in a
                    # done-callback of its own, added before this one; a run due earlier
                    # would be skipped as overlapping.
                    task.add_done_callback(lambda _: self._rerun(name, again))

        run.__name__ = name
        return run

    def _rerun(self, job_id: str, delay: float) -> None:
        if self.scheduler.state == STATE_RUNNING:  # not while stopping
            self.run_now(job_id, delay=delay)


async def _cancelled(tasks: list[asyncio.Task[None]]) -> None:
    with cancellations_unlogged():  # asked for and announced: no error
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)
