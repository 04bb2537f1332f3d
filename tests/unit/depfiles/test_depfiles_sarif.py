"""SARIF 2.1.0 output: structure checked against a hand-written subset of the schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from watcher.depfiles import (
    PROBLEM_CODES,
    MemoryIncludes,
    RiskFinding,
    parse,
    problems_for_internal,
    to_sarif,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "depfiles"
LEVELS = {"error", "warning", "note"}


def _check_subset(log: dict[str, Any]) -> None:
    """The parts of the SARIF 2.1.0 schema that code-scanning dashboards rely on.

    (jsonschema is not installed here, so the subset is asserted directly.)
    """
    assert set(log) == {"$schema", "version", "runs"}
    assert log["version"] == "2.1.0"
    assert log["$schema"].endswith("sarif-schema-2.1.0.json")
    assert isinstance(log["runs"], list)
    assert len(log["runs"]) == 1
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "watcher"
    assert isinstance(driver["version"], str)
    ids = [rule["id"] for rule in driver["rules"]]
    assert len(ids) == len(set(ids))
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"]
        assert rule["defaultConfiguration"]["level"] in LEVELS
    for artifact in run["artifacts"]:
        assert not artifact["location"]["uri"].startswith("/")
    for result in run["results"]:
        assert result["ruleId"] == ids[result["ruleIndex"]]
        assert result["level"] in LEVELS
        assert isinstance(result["message"]["text"], str)
        assert result["message"]["text"]
        assert "\n" not in result["message"]["text"]
        for location in result["locations"]:
            physical = location["physicalLocation"]
            assert physical["artifactLocation"]["uri"]
            if "region" in physical:
                line = physical["region"]["startLine"]
                assert isinstance(line, int)
                assert line >= 1
    json.dumps(log)  # plain JSON data


def test_sarif_of_reports_problems_and_findings() -> None:
    text = (
        "--extra-index-url https://bot:hunter2@pkgs.acme.example/simple\n"
        "acme-core>=1\nrequests==2.31.0\n"
    )
    report = parse("svc a/requirements.txt", text, includes=MemoryIncludes({}))
    lock = parse("poetry.lock", (FIXTURES / "poetry.lock").read_bytes())
    internal = problems_for_internal(report, lambda n: n == "acme-core")
    core, requests = report.dependencies
    log = to_sarif(
        [report, lock],
        "1.2.3",
        problems=internal,
        findings=[
            RiskFinding(core, "high", "exists on the public index", rule="internal-public"),
            (requests, "none", "a known public project"),
            (requests, "odd", "unknown risk label"),
        ],
        rule_descriptions={"internal-public": "an internal name exists publicly"},
    )
    _check_subset(log)
    assert "hunter2" not in json.dumps(log)
    run = log["runs"][0]
    rule_ids = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    assert set(PROBLEM_CODES) <= set(rule_ids)
    assert {"internal-public", "dependency-risk"} <= set(rule_ids)
    by_rule = {(r["ruleId"], r["level"]) for r in run["results"]}
    assert ("extra-index-url", "error") in by_rule
    assert ("no-hashes", "warning") in by_rule
    assert ("unpinned-internal", "error") in by_rule
    assert ("internal-public", "error") in by_rule
    assert ("dependency-risk", "warning") in by_rule  # unknown label: a warning
    # "none" is left out: two findings become results, not three
    assert sum(r["ruleId"] in {"internal-public", "dependency-risk"} for r in run["results"]) == 2
    extra = next(r for r in run["results"] if r["ruleId"] == "extra-index-url")
    physical = extra["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"]["uri"] == "svc%20a/requirements.txt"
    assert physical["region"] == {"startLine": 1}
    no_hashes = next(r for r in run["results"] if r["ruleId"] == "no-hashes")
    assert "region" not in no_hashes["locations"][0]["physicalLocation"]
    finding = next(r for r in run["results"] if r["ruleId"] == "internal-public")
    assert finding["properties"] == {"dependency": "acme-core", "risk": "high"}
    assert {a["location"]["uri"] for a in run["artifacts"]} == {
        "poetry.lock",
        "svc%20a/requirements.txt",
    }


def test_empty_sarif_is_valid() -> None:
    log = to_sarif([], "0")
    _check_subset(log)
    assert log["runs"][0]["results"] == []
