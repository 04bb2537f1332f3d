"""``watcher run`` in this process, SIGKILLed at a chosen database commit (test-only).

Run as ``python -m tests.crash.launcher`` with the daemon's usual ``WATCHER_*`` environment
plus the two below; or as ``python -m tests.crash.launcher --fork-server``, which imports
the service once and then forks one such daemon per request (one JSON line on stdin,
``{"id": ID, "env": {...}, "log": PATH}``; answered ``{"id": ID, "pid": PID}``, then
``{"id": ID, "exit": CODE}`` when it ends, CODE negative for a signal): importing takes
longer than a run, a test makes dozens of runs, and one server for all of them keeps the
sites (source lines) the same in every run.

- ``WATCHER_TEST_CRASH_TRACE``: a file that gets one JSON line per commit of a transaction
  that wrote something (``{"site": ..., "n": ..., "tables": [...]}``), and a last line
  ``{"kill": ...}`` just before the process kills itself;
- ``WATCHER_TEST_CRASH_AT`` (optional): ``PHASE N SITE``, kill the process at the ``N``-th
  writing commit made at ``SITE``; ``PHASE`` ``before`` kills it as the commit is asked for
  (the transaction is lost), ``after`` right after the database acknowledged it.

The production code is not touched: SQLAlchemy's engine events see every statement and
every commit, whichever module issued them. A site is the innermost frame of the watcher
package outside ``watcher/store`` (the helpers every caller shares) that was waiting on the
commit, e.g. ``sources/feeds.py:poll_feed:128``; read-only transactions (every idle
dispatch and status read) are not commit boundaries of interest and are not counted.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import selectors
import signal
import sys
import traceback
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

import greenlet  # type: ignore[import-untyped]  # no stubs; only getcurrent() is used
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

import watcher
from watcher.cli import main as watcher_main

TRACE_ENV = "WATCHER_TEST_CRASH_TRACE"
PLAN_ENV = "WATCHER_TEST_CRASH_AT"

_PACKAGE = Path(watcher.__file__).resolve().parent
_SHARED = _PACKAGE / "store"
_WRITE = re.compile(r'^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)', re.IGNORECASE)
_WRITES = "crash_writes"
_PRELOAD = (
    "watcher.app",
    "aiosqlite",
    "asyncpg",
    "sqlalchemy.dialects.sqlite.aiosqlite",
    "sqlalchemy.dialects.postgresql.asyncpg",
)


def commit_site() -> str:
    """Where the commit being made was asked for, as ``path:function:line`` in the package.

    SQLAlchemy runs the commit in a greenlet whose parent is suspended inside the awaiting
    coroutines: their frames are the parent greenlet's.
    """
    current = greenlet.getcurrent()
    frame: FrameType | None = current.parent.gr_frame if current.parent else None
    frame = frame or sys._getframe()
    while frame is not None:
        path = Path(frame.f_code.co_filename)
        if path.is_relative_to(_PACKAGE) and not path.is_relative_to(_SHARED):
            where = path.relative_to(_PACKAGE).as_posix()
            return f"{where}:{frame.f_code.co_name}:{frame.f_lineno}"
        frame = frame.f_back
    return "outside-the-package"


class CrashPlan:
    """Counts writing commits per site, records them, and kills the process as planned."""

    def __init__(self, trace: Path, plan: str | None) -> None:
        self._fd = os.open(trace, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._seen: Counter[str] = Counter()
        self._phase: str | None = None
        self._site: str | None = None
        self._n = 0
        if plan:
            phase, n, site = plan.split(" ", 2)
            if phase not in {"before", "after"}:
                raise SystemExit(f"{PLAN_ENV}: phase must be before or after, not {phase!r}")
            self._phase, self._n, self._site = phase, int(n), site

    def _line(self, record: dict[str, Any]) -> None:
        # One unbuffered write per line: a SIGKILL right after it loses nothing.
        os.write(self._fd, (json.dumps(record) + "\n").encode())

    def statement(self, conn: Connection, statement: str) -> None:
        """Note the table a writing statement touches, for the connection's transaction."""
        match = _WRITE.match(statement)
        if match:
            conn.info.setdefault(_WRITES, set()).add(match[1])

    def rollback(self, conn: Connection) -> None:
        """A rolled-back transaction wrote nothing that lasts."""
        conn.info.pop(_WRITES, None)

    def commit(self, conn: Connection) -> None:
        """Record a writing commit; kill the process here if it is the planned one."""
        tables = conn.info.pop(_WRITES, None)
        if not tables:
            return
        site = commit_site()
        self._seen[site] += 1
        n = self._seen[site]
        self._line({"site": site, "n": n, "tables": sorted(tables)})
        if site != self._site or n != self._n:
            return
        if self._phase == "after":
            # What SQLAlchemy does next (Connection._commit_impl): the commit is durable
            # before the process dies.
            conn.dialect.do_commit(conn.connection)
        self._line({"kill": self._phase, "site": site, "n": n})
        os.kill(os.getpid(), signal.SIGKILL)

    def install(self) -> None:
        """Listen to every engine this process creates."""

        def before_cursor_execute(
            conn: Connection, _cursor: Any, statement: str, *_args: Any
        ) -> None:
            self.statement(conn, statement)

        event.listen(Engine, "before_cursor_execute", before_cursor_execute)
        event.listen(Engine, "commit", self.commit)
        event.listen(Engine, "rollback", self.rollback)


def run_watcher() -> int:
    """Install the plan from the environment, then run ``watcher run``."""
    trace = os.environ.get(TRACE_ENV)
    if not trace:
        raise SystemExit(f"{TRACE_ENV} must name the trace file")
    CrashPlan(Path(trace), os.environ.get(PLAN_ENV)).install()
    return watcher_main(["run"])


def _child(env: dict[str, str], log: str, inherited: list[int]) -> None:
    """In a forked child: become ``watcher run`` with ``env``, output to ``log``; never
    returns."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in inherited:
            os.close(fd)
        out = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.environ.clear()
        os.environ.update(env)
        code = run_watcher()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _answer(record: dict[str, Any]) -> None:
    os.write(1, (json.dumps(record) + "\n").encode())


def fork_server() -> int:
    """Serve fork requests from stdin until it closes; answer each child's exit.

    Children run side by side (a request carries an ``id``, repeated in both answers). No
    threads: a fork copies only the calling one, and with it any lock another one held.
    """
    # Everything ``watcher run`` imports lazily, imported once here for every child.
    for module in _PRELOAD:
        importlib.import_module(module)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so that it wakes us up
    signal.set_wakeup_fd(wake_w)
    selector = selectors.DefaultSelector()
    selector.register(0, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    children: dict[int, object] = {}
    pending = b""
    reading = True
    while reading or children:
        for key, _ in selector.select(timeout=1.0):
            if key.fd == wake_r:
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_r, 4096)
                continue
            data = os.read(0, 1 << 16)
            if not data:
                reading = False
                selector.unregister(0)
                for pid in children:  # the test is gone: so are its daemons
                    os.kill(pid, signal.SIGKILL)
                continue
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                request = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    _child(request["env"], request["log"], [wake_r, wake_w])
                children[pid] = request["id"]
                _answer({"id": request["id"], "pid": pid})
        while children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            _answer({"id": children.pop(pid), "exit": os.waitstatus_to_exitcode(status)})
    return 0


def main() -> int:
    """``watcher run`` with a crash plan, or the fork server (``--fork-server``)."""
    if sys.argv[1:] == ["--fork-server"]:
        return fork_server()
    return run_watcher()


if __name__ == "__main__":
    raise SystemExit(main())
