"""SARIF 2.1.0 output of dependency-file checks, for code-scanning dashboards.

File problems (from the reports and from
:func:`~watcher.depfiles.checks.problems_for_internal`) and per-dependency risk findings
(the caller's verdicts: internal name public, look-alike...) become results of one run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from watcher.depfiles.model import PROBLEM_CODES, Dependency, DependencyFile, Location, Problem

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)

# SARIF level of a finding's risk; None leaves it out (a clean dependency is no result).
DEFAULT_RISK_LEVELS: Mapping[str, str | None] = {
    "critical": "error",
    "high": "error",
    "medium": "warning",
    "low": "note",
    "info": "note",
    "none": None,
    "clean": None,
}


@dataclass(frozen=True, slots=True)
class RiskFinding:
    """A verdict on one dependency: ``risk`` is the caller's label, ``reason`` one line.

    ``rule`` becomes the SARIF rule id (one rule per kind of risk the caller reports).
    """

    dependency: Dependency
    risk: str
    reason: str
    rule: str = "dependency-risk"


def to_sarif(
    reports: Sequence[DependencyFile],
    tool_version: str,
    *,
    problems: Iterable[Problem] = (),
    findings: Iterable[RiskFinding | tuple[Dependency, str, str]] = (),
    risk_levels: Mapping[str, str | None] = DEFAULT_RISK_LEVELS,
    rule_descriptions: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One SARIF log with one run: every problem of ``reports``, then ``problems`` (e.g. from
    ``problems_for_internal``), then ``findings`` (``(dependency, risk, reason)`` tuples are
    accepted). A risk missing from ``risk_levels`` is a warning; one mapped to None is left
    out. ``rule_descriptions`` describes the caller's finding rules.
    """
    descriptions = dict(rule_descriptions or {})
    rules: list[dict[str, Any]] = []
    rule_index: dict[str, int] = {}

    def rule(rule_id: str, text: str, level: str) -> int:
        if rule_id not in rule_index:
            rule_index[rule_id] = len(rules)
            rules.append(
                {
                    "id": rule_id,
                    "name": _pascal(rule_id),
                    "shortDescription": {"text": text},
                    "defaultConfiguration": {"level": level},
                }
            )
        return rule_index[rule_id]

    # every problem code is declared, so dashboards know the rules even when none fired
    for code, (severity, text) in PROBLEM_CODES.items():
        rule(code, text, severity)
    results: list[dict[str, Any]] = []
    all_problems = [p for report in reports for p in report.problems]
    all_problems.extend(problems)
    for prob in all_problems:
        default, text = PROBLEM_CODES.get(prob.code, (prob.severity, prob.code))
        results.append(
            _result(
                prob.code,
                rule(prob.code, text, default),
                prob.severity,
                prob.message,
                prob.location,
            )
        )
    for item in findings:
        finding = item if isinstance(item, RiskFinding) else RiskFinding(*item)
        level = risk_levels.get(finding.risk, "warning")
        if level is None:
            continue
        index = rule(
            finding.rule,
            descriptions.get(finding.rule, "a dependency the watcher considers risky"),
            "warning",
        )
        dep = finding.dependency
        label = dep.name or dep.url or "dependency"
        result = _result(
            finding.rule,
            index,
            level,
            f"{label}: {finding.risk} risk: {finding.reason}",
            dep.location,
        )
        result["properties"] = {"dependency": dep.canonical or label, "risk": finding.risk}
        results.append(result)
    artifacts = sorted({f for report in reports for f in (report.files or (report.name,))})
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "watcher",
                        "version": tool_version,
                        "rules": rules,
                    }
                },
                "artifacts": [{"location": {"uri": _uri(f)}} for f in artifacts],
                "results": results,
            }
        ],
    }


def _result(rule_id: str, index: int, level: str, text: str, location: Location) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(location.file)}}
    if location.line is not None and location.line >= 1:
        physical["region"] = {"startLine": location.line}
    return {
        "ruleId": rule_id,
        "ruleIndex": index,
        "level": level,
        "message": {"text": text},
        "locations": [{"physicalLocation": physical}],
    }


def _uri(file: str) -> str:
    """A relative URI reference for a file name (``a b/req.txt`` -> ``a%20b/req.txt``)."""
    return quote(file.replace("\\", "/"), safe="/")


def _pascal(rule_id: str) -> str:
    return "".join(part.capitalize() for part in rule_id.replace("/", "-").split("-") if part)
