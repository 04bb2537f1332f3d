"""Small helpers shared by tests (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import socket
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from pydantic import SecretStr

from watcher.alerts.messages import AlertKind, AlertMatch, AlertMessage
from watcher.config import Settings, env_name
from watcher.store.events import NewEvent
from watcher.store.models import EventKind, EventSource

CATALOG_NAMES = ("acme-billing", "Payments_Core", "internal-tool")


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def until(
    condition: Callable[[], Awaitable[bool]],
    seconds: float,
    what: str,
    log: Path | None = None,
) -> None:
    """Poll ``condition`` until it holds; fail after ``seconds`` naming ``what`` (and the
    daemon's ``log``, when there is one)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not await condition():
        if loop.time() > deadline:
            where = f"; the daemon's log is {log}" if log is not None else ""
            raise AssertionError(f"timed out after {seconds} s waiting for {what}{where}")
        await asyncio.sleep(0.05)


def write_catalog(
    path: Path,
    names: Sequence[str] = CATALOG_NAMES,
    *,
    prefixes: Sequence[str] = ("acme",),
    allow: Sequence[str] = ("acme-public-sdk",),
    owners: Sequence[str] = ("acme-corp",),
) -> None:
    """Rewrite the catalog file, as an editor or config management would (whole file)."""
    write_raw(
        path,
        f"names = {list(names)!r}\nprefixes = {list(prefixes)!r}\n"
        f"allow = {list(allow)!r}\nowners = {list(owners)!r}\n".replace("'", '"'),
    )


def write_raw(path: Path, text: str) -> None:
    """Replace a file in one step: a reload never reads a half-written file."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def daemon_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a ``watcher run`` process these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHER_")}
    for field, value in settings.model_dump(exclude_none=True).items():
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        env[env_name(field)] = str(value)
    return env


class Daemon:
    """``python -m watcher run`` in a child process, its output appended to ``log``."""

    def __init__(self, settings: Settings, log: Path) -> None:
        self._settings = settings
        self.log = log
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "watcher",
                "run",
                env=daemon_env(self._settings),
                stdout=out,
                stderr=out,
            )

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        assert await self.proc.wait() == -signal.SIGKILL

    async def terminate(self) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.proc.wait(), timeout=20)


@asynccontextmanager
async def daemon(settings: Settings, log: Path) -> AsyncIterator[Daemon]:
    """A daemon process for the block; it must exit 0 on SIGTERM at the end."""
    process = Daemon(settings, log)
    await process.start()
    try:
        yield process
    finally:
        assert process.proc is not None
        if process.proc.returncode is None:
            code = await process.terminate()
            assert code == 0, f"daemon exited {code}; its log is {log}"


def new_event(name: str, **fields: object) -> NewEvent:
    """An index event for ``name`` (a new project seen by the listing unless ``fields``
    say otherwise)."""
    values: dict[str, object] = {
        "normalized_name": name,
        "name": name,
        "event": EventKind.NEW,
        "source": EventSource.INDEX,
    }
    values.update(fields)
    return NewEvent(**values)  # type: ignore[arg-type]


def run_python(
    *args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` in a fresh process, with no ``WATCHER_*`` variable from the caller's
    environment but those in ``env``; its output captured as text."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WATCHER_")}
    return subprocess.run(
        [sys.executable, *args],
        input=stdin,
        cwd=cwd,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# -- a real private index: pypiserver ---------------------------------------------------


def build_wheel(folder: Path, name: str, version: str, *, content: str = "") -> Path:
    """A minimal wheel of ``name`` ``version`` (dist-info METADATA, WHEEL, RECORD) in
    ``folder``; ``content`` changes its bytes (another SHA-256)."""
    stem = f"{name.replace('-', '_')}-{version}"
    path = folder / f"{stem}-py3-none-any.whl"
    info = f"{stem}.dist-info"
    files = {
        f"{name.replace('-', '_')}/__init__.py": f"VERSION = {version!r}\n{content}",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
        f"{info}/RECORD": "",
    }
    with zipfile.ZipFile(path, "w") as wheel:
        for member, text in files.items():
            # A fixed timestamp: the same release built twice is the same file.
            wheel.writestr(zipfile.ZipInfo(member, (2024, 1, 1, 0, 0, 0)), text)
    return path


def build_sdist(folder: Path, name: str, version: str, *, content: str = "") -> Path:
    """A minimal sdist (``.tar.gz`` with PKG-INFO) of ``name`` ``version`` in ``folder``."""
    stem = f"{name.replace('-', '_')}-{version}"
    path = folder / f"{stem}.tar.gz"
    files = {
        f"{stem}/PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{stem}/setup.py": f"# {content}\n",
    }
    with tarfile.open(path, "w:gz") as sdist:
        for member, text in files.items():
            data = text.encode()
            entry = tarfile.TarInfo(member)
            entry.size = len(data)
            entry.mtime = 1_704_067_200
            sdist.addfile(entry, io.BytesIO(data))
    return path


def write_htpasswd(path: Path, users: dict[str, str]) -> None:
    """An htpasswd file written by passlib, in a child process: passlib imports the
    deprecated ``crypt`` module, and this suite turns warnings into errors."""
    script = (
        "import sys, warnings\n"
        "warnings.simplefilter('ignore')\n"
        "from passlib.apache import HtpasswdFile\n"
        "users = HtpasswdFile(sys.argv[1], new=True)\n"
        "for user, password in zip(sys.argv[2::2], sys.argv[3::2]):\n"
        "    users.set_password(user, password)\n"
        "users.save()\n"
    )
    pairs = [item for pair in users.items() for item in pair]
    subprocess.run([sys.executable, "-c", script, str(path), *pairs], check=True, timeout=60)


@asynccontextmanager
async def pypiserver(
    packages: Path, *, htpasswd: Path | None = None, startup: float = 30.0
) -> AsyncIterator[str]:
    """pypiserver serving ``packages`` on 127.0.0.1 for the block; yields its simple
    API root (``http://127.0.0.1:PORT/simple/``). With ``htpasswd``, every request
    (listing included) needs basic auth. Unknown projects answer 404: never a redirect
    to the public index."""
    port = closed_port()
    args = ["-m", "pypiserver", "run", "-p", str(port), "-i", "127.0.0.1", "--disable-fallback"]
    if htpasswd is not None:
        args += ["-P", str(htpasswd), "-a", "update,download,list"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        str(packages),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + startup
        while True:
            if proc.returncode is not None:
                raise AssertionError(f"pypiserver exited {proc.returncode} at start")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"pypiserver did not listen within {startup} s") from None
                await asyncio.sleep(0.1)
                continue
            writer.close()
            await writer.wait_closed()
            break
        yield f"http://127.0.0.1:{port}/simple/"
    finally:
        if proc.returncode is None:
            proc.terminate()
        await asyncio.wait_for(proc.wait(), timeout=20)


def prefix_alert(public_name: str = "acme-tools") -> AlertMessage:
    """A typical alert: a new public project under the catalog's ``acme`` prefix."""
    return AlertMessage(
        kind=AlertKind.NEW,
        public_name=public_name,
        display_name=public_name,
        version="1.0",
        matches=[AlertMatch("acme", "acme", "prefix", "under 'acme'-*", "high")],
        severity="high",
        project_url=None,
        source="feed:updates",
    )
