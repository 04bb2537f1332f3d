"""The test suite's own reporting: skipped PostgreSQL tests are summed up in one line.

Runs pytest in a subprocess on a generated test file that uses ``tests/conftest.py``'s
``postgres_url()`` the way the database fixtures do.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import PG_ENV, PG_EXAMPLE_URL, REQUIRE_PG_ENV

REPO = Path(__file__).resolve().parents[3]

TESTS = """
import pytest

from tests.conftest import postgres_url


@pytest.mark.parametrize("n", range(3))
def test_needs_postgres(n: int) -> None:
    postgres_url()


def test_skipped_for_another_reason() -> None:
    pytest.skip("another reason")


def test_passes() -> None:
    pass
"""


def run_pytest(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    test_file = tmp_path / "test_generated.py"
    test_file.write_text(TESTS)
    clean = {k: v for k, v in os.environ.items() if k not in (PG_ENV, REQUIRE_PG_ENV)}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.conftest",
            "-p",
            "no:cacheprovider",
            f"--rootdir={REPO}",
            f"--confcutdir={tmp_path}",
            "-c",
            str(REPO / "pyproject.toml"),
            str(test_file),
        ],
        cwd=REPO,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_postgres_skips_are_one_line(tmp_path: Path) -> None:
    done = run_pytest(tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert f"3 PostgreSQL tests skipped: set {PG_ENV}={PG_EXAMPLE_URL} (bash .ci/run does)" in lines
    assert not [line for line in lines if "PostgreSQL tests need" in line]
    # Other skips keep their reason; the final counts still include every skip.
    (other,) = [line for line in lines if line.startswith("SKIPPED")]
    assert other.startswith("SKIPPED [1] ")
    assert other.endswith("test_generated.py:13: another reason")
    assert "1 passed, 4 skipped" in lines[-1]


def test_required_postgres_fails_without_a_url(tmp_path: Path) -> None:
    done = run_pytest(tmp_path, **{REQUIRE_PG_ENV: "1"})

    assert done.returncode == 1
    assert "3 failed, 1 passed, 1 skipped" in done.stdout.splitlines()[-1]
    assert f"{REQUIRE_PG_ENV} is set but PostgreSQL tests need {PG_ENV}" in done.stdout
    assert "PostgreSQL tests skipped" not in done.stdout


def test_the_example_url_is_readmes() -> None:
    assert f"`{PG_EXAMPLE_URL}`" in (REPO / "README.md").read_text()
