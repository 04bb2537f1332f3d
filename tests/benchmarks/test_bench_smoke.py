"""The benchmark runs end to end at a toy size (no timing asserted: figures are for reading)."""

from __future__ import annotations

import re

import pytest

from tests.benchmarks import bench_matching


def test_benchmark_runs_and_finds_every_planted_lookalike(
    capfd: pytest.CaptureFixture[str],
) -> None:
    bench_matching.main(
        ["--public", "5000", "--internal", "300", "--prefixes", "5", "--brute-sample", "200"]
    )
    out = capfd.readouterr().out

    def figure(label: str) -> float:
        found = re.search(rf"^{re.escape(label)}\s+([\d,.]+)", out, re.MULTILINE)
        assert found, f"{label!r} missing from:\n{out}"
        return float(found.group(1).replace(",", ""))

    assert figure("planted look-alikes") > 0
    assert figure("  found with the right kind") == figure("planted look-alikes")
    assert figure("brute-force pairs (OSA<=1) missing from the scan") == 0
    assert figure("  ratio to baseline") > 0
    assert figure("lookup proposed name vs public index p99") > 0
