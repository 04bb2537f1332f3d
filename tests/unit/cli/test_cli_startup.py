"""Start-up cost of the command line: what importing it, ``--help`` and a bad name load.

Checked through ``sys.modules`` in a fresh interpreter, not with a clock: the parser and the
commands that fail before any I/O must not import the service's heavy dependencies.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import run_python

HEAVY = ("sqlalchemy", "alembic", "aiohttp", "numpy", "apscheduler", "slack_sdk")
# Settings (pydantic) are not needed to parse arguments either.
NOT_FOR_THE_PARSER = (*HEAVY, "pydantic", "pydantic_settings")

PROBE = """
import contextlib, io, json, sys
import watcher.cli
parser = watcher.cli._parser()
parser.format_help()
parser.parse_args(watcher.cli._prepare(sys.argv[1:]))
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    watcher.cli.main(["--help"])
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def loaded_after(code: str, *argv: str, cwd: Path) -> set[str]:
    """Top-level packages imported by ``code`` in a fresh interpreter."""
    done = run_python("-c", code, *argv, cwd=cwd)
    assert done.returncode == 0, done.stderr
    modules = json.loads(done.stdout.splitlines()[-1])
    assert isinstance(modules, list)
    return set(modules)


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "acme", "--json"],
        ["check", "-acme", "--config", "x.toml"],
        ["scan", "--names", "-", "--json"],
        ["status"],
        ["doctor", "--webhook-post"],
        ["db", "upgrade"],
        ["demo", "--port", "9000", "--seconds", "3"],
    ],
)
def test_building_the_parser_imports_nothing_heavy(tmp_path: Path, argv: list[str]) -> None:
    loaded = loaded_after(PROBE, *argv, cwd=tmp_path)

    assert "watcher" in loaded
    assert loaded.isdisjoint(NOT_FOR_THE_PARSER), sorted(loaded & set(NOT_FOR_THE_PARSER))


def test_an_invalid_name_is_refused_before_anything_heavy_is_loaded(tmp_path: Path) -> None:
    code = """
import json, sys
from watcher.cli import main
code = main(["check", "-acme", "--json"])
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules} | {f"exit={code}"})))
"""
    loaded = loaded_after(code, cwd=tmp_path)

    assert "exit=2" in loaded
    assert loaded.isdisjoint(NOT_FOR_THE_PARSER), sorted(loaded & set(NOT_FOR_THE_PARSER))


def test_help_in_a_real_process(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "watcher", "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    for command in ("run", "check", "scan", "status", "db", "demo"):
        assert command in done.stdout
    assert done.stderr == ""
