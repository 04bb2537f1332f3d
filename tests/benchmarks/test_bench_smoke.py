"""The benchmark runs end to end at a toy size (no timing asserted: figures are for reading)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.benchmarks import bench_listing, bench_matching, bench_quality, bench_soak

FIXTURES = Path(__file__).with_name("fixtures")


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


def test_quality_benchmark_runs_on_tiny_fixtures(capfd: pytest.CaptureFixture[str]) -> None:
    # Made-up names (not the real lists): every figure is printed, recall is computed.
    bench_quality.main(
        [
            "--public-list",
            str(FIXTURES / "quality_public.tsv"),
            "--dev-set",
            str(FIXTURES / "quality_dev.tsv"),
        ]
    )
    out = capfd.readouterr().out

    def figure(label: str) -> float:
        found = re.search(rf"^{re.escape(label)}\s+([\d,.]+)", out, re.MULTILINE)
        assert found, f"{label!r} missing from:\n{out}"
        return float(found.group(1).replace(",", ""))

    assert figure("top projects (catalog)") == 8
    assert figure("  squats") == 6
    assert figure("  found, matched to their own target") == 5  # all but the unrelated one
    assert figure("top-5,000 catalog: public names alerting, any severity") > 0
    assert figure("  ratio to the floor") > 0
    assert "two edits: minimum name length" in out
    assert "prefix typos:" in out


def test_quality_benchmark_says_when_its_inputs_are_missing(
    capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bench_quality.main(["--public-list", str(tmp_path / "none.tsv")])
    out = capfd.readouterr().out
    assert "not found" in out
    assert "nothing measured" in out


def test_listing_benchmark_runs_and_diffs_exactly(capfd: pytest.CaptureFixture[str]) -> None:
    bench_listing.main(["--projects", "5000"])
    out = capfd.readouterr().out
    diffs = re.findall(r"^    new ([\d,]+), changed ([\d,]+), removed ([\d,]+)$", out, re.MULTILINE)
    counts = [tuple(int(n.replace(",", "")) for n in d) for d in diffs]
    assert len(counts) == 3, out
    initial, unchanged, changed = counts
    assert initial[1:] == (0, 0)
    assert initial[0] > 4_000  # the corpus drops names that canonicalize alike
    assert unchanged == (0, 0, 0)
    # At this size: 6 projects replaced by new ones, up to 12 serials moved on the others.
    assert changed[0] == changed[2] == 6
    assert 6 <= changed[1] <= 12
    assert len(re.findall(r"^    [\d.]+x the baseline$", out, re.MULTILINE)) == 3


@pytest.mark.slow
def test_soak_benchmark_alerts_every_planted_squat_once(capfd: pytest.CaptureFixture[str]) -> None:
    # 9 s: a baseline slice, then 10 clients; one squat a second, two spam waves.
    size = "--releases 300 --minutes 0.15 --clients 10 --slice 3 --projects 1000"
    load = "--wave-size 150 --wave-every 3 --squat-every 1"
    bench_soak.main(f"{size} {load}".split())
    out = capfd.readouterr().out

    def figure(label: str) -> float:
        found = re.search(rf"^{re.escape(label)}\s+([\d,.]+)", out, re.MULTILINE)
        assert found, f"{label!r} missing from:\n{out}"
        return float(found.group(1).replace(",", ""))

    planted = figure("planted squats")
    assert planted >= 8  # one a second, and one inside each spam wave
    assert figure("  alerted exactly once") == planted
    assert figure("releases published") > 0
    # Three slices in each table: alert latency and API answers, then resources.
    assert len(re.findall(r"^ +\d+s (baseline|loaded) ", out, re.MULTILINE)) == 2 * 3
    for label in (
        "alert latency, baseline (no API client)",
        "alert latency, under API load",
        "alert latency, squats inside spam waves",
    ):
        assert re.search(rf"^{re.escape(label)} +p50 +[\d.]+ ", out, re.MULTILINE), out
    assert figure("  ratio last / after warm-up") > 0
    assert re.search(r"^API answers \d+ \(", out, re.MULTILINE), out
    assert figure("service exit code") == 0
