"""``WATCHER_SLACK_SIGNING_SECRET``: a secret (out of repr, redacted once the service
registers it), and refused in one line without the Slack alerts its buttons belong to."""

from __future__ import annotations

import pytest

from watcher.app import _register_secrets
from watcher.config import load_settings
from watcher.errors import ConfigError
from watcher.redaction import redact

SECRET = "c0ffee-signing-secret-4242"


def test_the_signing_secret_is_kept_out_of_repr_and_redacted(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHER_SLACK_TOKEN", "xoxb-slack-token")
    monkeypatch.setenv("WATCHER_SLACK_CHANNEL", "C0SECURITY")
    monkeypatch.setenv("WATCHER_SLACK_SIGNING_SECRET", SECRET)
    settings = load_settings()
    assert settings.slack_signing_secret is not None
    assert settings.slack_signing_secret.get_secret_value() == SECRET
    assert SECRET not in repr(settings)
    _register_secrets(settings)
    assert SECRET not in redact(f"verifying with {SECRET} failed")


def test_empty_is_unset(clean_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHER_SLACK_SIGNING_SECRET", "  ")
    assert load_settings().slack_signing_secret is None


def test_without_slack_it_is_refused_in_one_line(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHER_SLACK_SIGNING_SECRET", SECRET)
    with pytest.raises(ConfigError) as refused:
        load_settings()
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("WATCHER_SLACK_SIGNING_SECRET is set but WATCHER_SLACK_TOKEN is not")
    assert SECRET not in message
