"""The alert routing settings: digest threshold, minimum risk, critical mention, pace."""

from __future__ import annotations

import pytest

from watcher.alerts.planner import Routing
from watcher.config import load_settings
from watcher.errors import ConfigError


def test_defaults(clean_env: None) -> None:
    routing = Routing.of(load_settings().alerts)
    assert (routing.digest_threshold, routing.min_risk, routing.critical_mention) == (
        5,
        "medium",
        None,
    )
    assert routing.pace == 1.0


def test_from_the_environment(clean_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHER_DIGEST_THRESHOLD", "20")
    monkeypatch.setenv("WATCHER_ALERT_MIN_RISK", " High ")
    monkeypatch.setenv("WATCHER_SLACK_CRITICAL_MENTION", "<!subteam^S0SEC> <@U0ONCALL>")
    monkeypatch.setenv("WATCHER_SLACK_PACE", "2.5")
    alerts = load_settings().alerts
    assert (alerts.digest_threshold, alerts.min_risk, alerts.pace) == (20, "high", 2.5)
    assert alerts.critical_mention == "<!subteam^S0SEC> <@U0ONCALL>"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("WATCHER_SLACK_CRITICAL_MENTION", "@security"),  # not a mention Slack acts on
        ("WATCHER_SLACK_CRITICAL_MENTION", "<https://evil.example|click>"),
        ("WATCHER_SLACK_CRITICAL_MENTION", "<!subteam^S0SEC>*bold*"),
        ("WATCHER_ALERT_MIN_RISK", "severe"),
        ("WATCHER_DIGEST_THRESHOLD", "0"),
        ("WATCHER_SLACK_PACE", "-1"),
    ],
)
def test_bad_values_are_refused_naming_the_variable(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable):
        load_settings()
