"""Settings never show a secret in their repr (tracebacks, debug logs print it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from watcher.config import load_settings


def test_urls_with_credentials_and_tokens_stay_out_of_repr(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("WATCHER_PYPI_URL", "http://mirror-user:index-pw@127.0.0.1:9/")
    monkeypatch.setenv("WATCHER_CATALOG", str(tmp_path / "catalog.toml"))
    monkeypatch.setenv("WATCHER_DATABASE_URL", "postgresql://u:db-pw@127.0.0.1/w")
    monkeypatch.setenv("WATCHER_SLACK_TOKEN", "xoxb-slack-token")
    monkeypatch.setenv("WATCHER_SLACK_CHANNEL", "#alerts")
    monkeypatch.setenv("WATCHER_SLACK_API_URL", "http://slack-user:slack-pw@127.0.0.1:9/api/")
    monkeypatch.setenv("WATCHER_API_TOKEN", "api-token")
    settings = load_settings()
    shown = " ".join(
        repr(view) for view in (settings, settings.index, settings.slack, settings.api)
    )
    for secret in ("index-pw", "db-pw", "xoxb-slack-token", "slack-pw", "api-token"):
        assert secret not in shown
