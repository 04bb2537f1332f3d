"""The check API benchmark runs end to end at a toy size (figures are for reading, not
asserted; that no known name reached the index is)."""

from __future__ import annotations

import pytest

from tests.benchmarks import bench_check_api


def test_check_api_benchmark_runs_and_asks_the_index_nothing(
    capfd: pytest.CaptureFixture[str],
) -> None:
    bench_check_api.main(
        ["--names", "5000", "--clients", "8", "--requests", "400", "--rate", "200",
         "--deps", "50", "--check-requests", "5"]
    )  # fmt: skip
    out = capfd.readouterr().out
    assert "index requests made by those checks: 0 (goal: 0)" in out
    assert "GET /v1/names at 200 req/s" in out
    assert "POST /v1/check, 50 hash-pinned requirements, 5 requests" in out
    assert "names indexed both ways" in out
