"""Settings from the environment and a TOML file (watcher.config)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from watcher import __version__
from watcher.cli import main
from watcher.config import (
    ApiSettings,
    IndexSettings,
    ScheduleSettings,
    Settings,
    SlackSettings,
    env_name,
    load_settings,
)
from watcher.errors import ConfigError
from watcher.store.urls import normalize_database_url

WATCH = ("pypi_url", "catalog")
INDEX = "http://127.0.0.1:9"


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return tmp_path / "watcher.toml"


def _one_line(exc: pytest.ExceptionInfo[ConfigError]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def _refused(**overrides: Any) -> str:
    """The one-line message of the ConfigError that loading the settings raises."""
    with pytest.raises(ConfigError) as info:
        load_settings(**overrides)
    return _one_line(info)


def _cli_refuses(capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``watcher status``: it must exit 2 with one line on stderr; return that line."""
    assert main(["status"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("watcher: ")
    return lines[0].removeprefix("watcher: ")


FLOAT_SETTINGS = sorted(
    name for name, field in Settings.model_fields.items() if field.annotation is float
)


# -- defaults and sources -----------------------------------------------------


def test_defaults(clean_env: None) -> None:
    settings = load_settings()

    assert settings.pypi_url is None
    assert settings.catalog is None
    assert settings.database_url == "sqlite+aiosqlite:///watcher.db"
    assert settings.is_sqlite
    assert settings.poll_interval == 60.0
    assert settings.http_host == "127.0.0.1"
    assert settings.http_port == 8080
    assert settings.slack_token is None
    assert settings.slack_channel is None
    assert settings.slack_api_url is None
    assert settings.api_token is None
    assert not settings.slack_enabled
    assert settings.user_agent == f"watcher/{__version__}"
    assert settings.dispatch_interval == 1.0
    assert settings.http_timeout == 30.0
    assert settings.http_retries == 3
    assert settings.max_feed_bytes == 5 * 1024 * 1024
    assert settings.max_json_bytes == 32 * 1024 * 1024
    assert settings.alert_retry_base == 5.0
    assert settings.slack_timeout == 10.0
    assert settings.catalog_reload_interval == 60.0
    assert settings.log_level == "INFO"
    assert settings.log_format == "text"


def test_environment_variables(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("WATCHER_PYPI_URL", INDEX + "/")
    monkeypatch.setenv("WATCHER_CATALOG", str(tmp_path / "catalog.toml"))
    monkeypatch.setenv("WATCHER_DATABASE_URL", "postgresql+asyncpg://u@127.0.0.1/w")
    monkeypatch.setenv("WATCHER_POLL_INTERVAL", "2.5")
    monkeypatch.setenv("WATCHER_SLACK_TOKEN", "xoxb-test")
    monkeypatch.setenv("WATCHER_SLACK_CHANNEL", "C0SECURITY")
    monkeypatch.setenv("WATCHER_HTTP_HOST", "0.0.0.0")
    monkeypatch.setenv("WATCHER_HTTP_PORT", "9090")
    monkeypatch.setenv("WATCHER_API_TOKEN", "api-secret")
    monkeypatch.setenv("WATCHER_USER_AGENT", "watcher (security@example.com)")
    monkeypatch.setenv("WATCHER_HTTP_RETRIES", "0")
    monkeypatch.setenv("WATCHER_LOG_LEVEL", "debug")

    settings = load_settings(require=WATCH)

    assert settings.index_url == INDEX  # trailing slash dropped
    assert settings.catalog_path == tmp_path / "catalog.toml"
    assert settings.database_url == "postgresql+asyncpg://u@127.0.0.1/w"
    assert not settings.is_sqlite
    assert settings.poll_interval == 2.5
    assert settings.slack_token is not None
    assert settings.slack_token.get_secret_value() == "xoxb-test"
    assert settings.slack_channel == "C0SECURITY"
    assert settings.slack_enabled
    assert settings.http_host == "0.0.0.0"
    assert settings.http_port == 9090
    assert settings.api_token is not None
    assert settings.api_token.get_secret_value() == "api-secret"
    assert settings.user_agent == "watcher (security@example.com)"
    assert settings.http_retries == 0
    assert settings.log_level == "DEBUG"  # any case, stored in upper case


def test_toml_keys(clean_env: None, config_file: Path, tmp_path: Path) -> None:
    config_file.write_text(
        f'pypi_url = "{INDEX}"\n'
        f'catalog = "{(tmp_path / "catalog.toml").as_posix()}"\n'
        "poll_interval = 30\n"
        "http_port = 8081\n"
        'slack_token = "xoxb-file"\n'
        'slack_channel = "C0FILE"\n'
        "max_feed_bytes = 1024\n"
    )

    settings = load_settings(config_file, require=WATCH)

    assert settings.index_url == INDEX
    assert settings.catalog_path == tmp_path / "catalog.toml"
    assert settings.poll_interval == 30.0
    assert settings.http_port == 8081
    assert settings.slack_token is not None
    assert settings.slack_token.get_secret_value() == "xoxb-file"
    assert settings.slack_channel == "C0FILE"
    assert settings.max_feed_bytes == 1024


def test_environment_overrides_the_file(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, config_file: Path
) -> None:
    config_file.write_text(
        f'pypi_url = "{INDEX}"\npoll_interval = 30\nhttp_port = 8081\nlog_level = "WARNING"\n'
    )
    monkeypatch.setenv("WATCHER_POLL_INTERVAL", "5")
    monkeypatch.setenv("WATCHER_PYPI_URL", "http://127.0.0.1:10")

    settings = load_settings(config_file)

    assert settings.poll_interval == 5.0
    assert settings.pypi_url == "http://127.0.0.1:10"
    # Keys the environment does not set still come from the file.
    assert settings.http_port == 8081
    assert settings.log_level == "WARNING"


def test_explicit_arguments_override_the_environment(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHER_POLL_INTERVAL", "5")

    assert load_settings(poll_interval=0.5).poll_interval == 0.5


def test_settings_are_frozen(clean_env: None) -> None:
    settings = load_settings()

    with pytest.raises(ValidationError):
        settings.poll_interval = 1.0  # type: ignore[misc]


def test_env_name() -> None:
    assert env_name("pypi_url") == "WATCHER_PYPI_URL"
    assert env_name("poll_interval") == "WATCHER_POLL_INTERVAL"


# -- required settings ---------------------------------------------------------


def test_missing_pypi_url_names_the_variable(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("WATCHER_CATALOG", str(tmp_path / "catalog.toml"))

    with pytest.raises(ConfigError) as info:
        load_settings(require=WATCH)

    assert _one_line(info).startswith("WATCHER_PYPI_URL is not set")


def test_missing_catalog_names_the_variable(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHER_PYPI_URL", INDEX)

    with pytest.raises(ConfigError) as info:
        load_settings(require=WATCH)

    assert _one_line(info).startswith("WATCHER_CATALOG is not set")


@pytest.mark.parametrize("variable", ["WATCHER_PYPI_URL", "WATCHER_CATALOG"])
def test_empty_required_variable_counts_as_missing(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str
) -> None:
    monkeypatch.setenv("WATCHER_PYPI_URL", INDEX)
    monkeypatch.setenv("WATCHER_CATALOG", str(tmp_path / "catalog.toml"))
    monkeypatch.setenv(variable, "")

    with pytest.raises(ConfigError) as info:
        load_settings(require=WATCH)

    assert _one_line(info).startswith(f"{variable} is not set")


def test_nothing_is_required_unless_asked(clean_env: None) -> None:
    settings = load_settings()

    with pytest.raises(ConfigError, match=r"^WATCHER_PYPI_URL is not set"):
        _ = settings.index_url
    with pytest.raises(ConfigError, match=r"^WATCHER_CATALOG is not set"):
        _ = settings.catalog_path


# -- invalid values --------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("WATCHER_POLL_INTERVAL", "0", "greater than 0"),
        ("WATCHER_POLL_INTERVAL", "-1", "greater than 0"),
        ("WATCHER_POLL_INTERVAL", "soon", "valid number"),
        ("WATCHER_DISPATCH_INTERVAL", "0", "greater than 0"),
        ("WATCHER_HTTP_TIMEOUT", "0", "greater than 0"),
        ("WATCHER_HTTP_RETRIES", "-1", "greater than or equal to 0"),
        ("WATCHER_HTTP_RETRIES", "11", "less than or equal to 10"),
        ("WATCHER_HTTP_PORT", "65536", "less than or equal to 65535"),
        ("WATCHER_HTTP_PORT", "-1", "greater than or equal to 0"),
        ("WATCHER_HTTP_PORT", "http", "valid integer"),
        ("WATCHER_MAX_FEED_BYTES", "0", "greater than 0"),
        ("WATCHER_ALERT_RETRY_BASE", "0", "greater than 0"),
        ("WATCHER_SLACK_TIMEOUT", "0", "greater than 0"),
        ("WATCHER_SLACK_TIMEOUT", "-1", "greater than 0"),
        ("WATCHER_SLACK_TIMEOUT", "soon", "valid number"),
        ("WATCHER_CATALOG_RELOAD_INTERVAL", "0", "greater than 0"),
        ("WATCHER_CATALOG_RELOAD_INTERVAL", "-1", "greater than 0"),
        ("WATCHER_CATALOG_RELOAD_INTERVAL", "soon", "valid number"),
        ("WATCHER_PYPI_URL", "ftp://127.0.0.1/", "http:// or https:// URL"),
        ("WATCHER_PYPI_URL", "127.0.0.1:8080", "http:// or https:// URL"),
        ("WATCHER_PYPI_URL", "http://", "http:// or https:// URL"),
        ("WATCHER_SLACK_API_URL", "file:///slack", "http:// or https:// URL"),
    ],
)
def test_invalid_value_names_the_variable(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, reason: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(ConfigError) as info:
        load_settings()

    message = _one_line(info)
    assert message.startswith(f"{variable}: ")
    assert reason in message


@pytest.mark.parametrize("port", ["0", "1", "65535"])
def test_port_bounds_are_inclusive(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, port: str
) -> None:
    monkeypatch.setenv("WATCHER_HTTP_PORT", port)

    assert load_settings().http_port == int(port)


def test_invalid_value_in_the_file_names_the_setting(clean_env: None, config_file: Path) -> None:
    config_file.write_text("poll_interval = 0\n")

    with pytest.raises(ConfigError) as info:
        load_settings(config_file)

    assert _one_line(info).startswith("WATCHER_POLL_INTERVAL: ")


def test_several_invalid_values_still_give_one_line(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHER_POLL_INTERVAL", "0")
    monkeypatch.setenv("WATCHER_HTTP_PORT", "99999")

    with pytest.raises(ConfigError) as info:
        load_settings()

    message = _one_line(info)
    assert message.startswith("WATCHER_")
    assert "(and 1 more problems)" in message


# -- the config file ---------------------------------------------------------------


def test_unknown_key_in_the_file_is_refused(clean_env: None, config_file: Path) -> None:
    config_file.write_text("poll_interval = 30\npoll_intervall = 31\n")

    with pytest.raises(ConfigError) as info:
        load_settings(config_file)

    message = _one_line(info)
    assert str(config_file) in message
    assert "unknown setting 'poll_intervall'" in message


def test_missing_config_file(clean_env: None, tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"

    with pytest.raises(ConfigError) as info:
        load_settings(missing)

    assert _one_line(info) == f"config file {missing} does not exist"


def test_config_file_that_is_not_toml(clean_env: None, config_file: Path) -> None:
    config_file.write_text("poll_interval = 30\nthis is not toml\n")

    with pytest.raises(ConfigError) as info:
        load_settings(config_file)

    message = _one_line(info)
    assert message.startswith(f"config file {config_file}: ")
    assert "line 2" in message


def test_config_file_that_is_a_directory(clean_env: None, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path)

    assert _one_line(info).startswith(f"config file {tmp_path}: ")


def test_config_file_that_is_not_utf8(clean_env: None, config_file: Path) -> None:
    config_file.write_bytes(b'log_level = "\xff"\n')

    with pytest.raises(ConfigError) as info:
        load_settings(config_file)

    assert _one_line(info) == f"config file {config_file}: not UTF-8 text"


# -- normalization and secrets ------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("http://127.0.0.1:9/api", "http://127.0.0.1:9/api/"),
        ("http://127.0.0.1:9/api/", "http://127.0.0.1:9/api/"),
        ("https://127.0.0.1:9", "https://127.0.0.1:9/"),
    ],
)
def test_slack_api_url_gets_a_trailing_slash(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    monkeypatch.setenv("WATCHER_SLACK_API_URL", value)

    assert load_settings().slack_api_url == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("http://127.0.0.1:9", "http://127.0.0.1:9"),
        ("http://127.0.0.1:9/", "http://127.0.0.1:9"),
        ("https://127.0.0.1:9/mirror/", "https://127.0.0.1:9/mirror"),
    ],
)
def test_pypi_url_loses_its_trailing_slash(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    monkeypatch.setenv("WATCHER_PYPI_URL", value)

    assert load_settings().pypi_url == expected


@pytest.mark.parametrize("empty", ["", " "])
def test_empty_slack_variables_mean_unset(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, empty: str
) -> None:
    monkeypatch.setenv("WATCHER_SLACK_TOKEN", empty)
    monkeypatch.setenv("WATCHER_SLACK_CHANNEL", empty)

    settings = load_settings()

    assert settings.slack_token is None
    assert settings.slack_channel is None
    assert not settings.slack_enabled


def test_empty_slack_settings_in_the_file_mean_unset(clean_env: None, config_file: Path) -> None:
    config_file.write_text('slack_token = ""\nslack_channel = ""\n')

    settings = load_settings(config_file)

    assert settings.slack_token is None
    assert settings.slack_channel is None
    assert not settings.slack_enabled


def test_secrets_are_not_shown(clean_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHER_SLACK_TOKEN", "xoxb-very-secret")
    monkeypatch.setenv("WATCHER_SLACK_CHANNEL", "C0")
    monkeypatch.setenv("WATCHER_API_TOKEN", "api-very-secret")

    settings = load_settings()

    for shown in (repr(settings), str(settings), f"{settings}", repr(settings.model_dump())):
        assert "very-secret" not in shown
    assert "**********" in repr(settings)


def test_relative_catalog_in_the_file_is_relative_to_the_file(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config_dir = tmp_path / "etc"
    config_dir.mkdir()
    config = config_dir / "watcher.toml"
    config.write_text('pypi_url = "http://127.0.0.1:9"\ncatalog = "catalog.toml"\n')

    assert load_settings(config).catalog == config_dir / "catalog.toml"

    # From the environment, a relative path stays relative to the working directory.
    monkeypatch.setenv("WATCHER_CATALOG", "mine.toml")
    assert load_settings(config).catalog == Path("mine.toml")


# -- per-system views -----------------------------------------------------------------


def test_views_of_the_defaults(clean_env: None) -> None:
    settings = load_settings(pypi_url=INDEX)

    assert settings.index == IndexSettings(
        url=INDEX,
        user_agent=f"watcher/{__version__}",
        timeout=30.0,
        retries=3,
        max_feed_bytes=5 * 1024 * 1024,
        max_json_bytes=32 * 1024 * 1024,
        max_index_bytes=512 * 1024 * 1024,
        max_journal_bytes=64 * 1024 * 1024,
    )
    assert settings.slack is None
    assert settings.api == ApiSettings(host="127.0.0.1", port=8080, token=None)
    assert settings.schedule == ScheduleSettings(
        poll_interval=60.0,
        reconcile_interval=1800.0,
        journal=False,
        journal_interval=60.0,
        journal_max_backoff=3600.0,
        dispatch_interval=1.0,
        alert_retry_base=5.0,
        catalog_reload_interval=60.0,
    )


def test_views_from_the_environment(clean_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable, value in {
        "WATCHER_PYPI_URL": INDEX + "/mirror/",
        "WATCHER_USER_AGENT": "watcher (security@example.com)",
        "WATCHER_HTTP_TIMEOUT": "7.5",
        "WATCHER_HTTP_RETRIES": "5",
        "WATCHER_MAX_FEED_BYTES": "11",
        "WATCHER_MAX_JSON_BYTES": "12",
        "WATCHER_MAX_INDEX_BYTES": "13",
        "WATCHER_MAX_JOURNAL_BYTES": "14",
        "WATCHER_SLACK_TOKEN": "xoxb-env",
        "WATCHER_SLACK_CHANNEL": "C0ENV",
        "WATCHER_SLACK_API_URL": "http://127.0.0.1:9/api",
        "WATCHER_SLACK_TIMEOUT": "2.5",
        "WATCHER_HTTP_HOST": "0.0.0.0",
        "WATCHER_HTTP_PORT": "9090",
        "WATCHER_API_TOKEN": "api-env",
        "WATCHER_POLL_INTERVAL": "1",
        "WATCHER_RECONCILE_INTERVAL": "2",
        "WATCHER_JOURNAL": "true",
        "WATCHER_JOURNAL_INTERVAL": "3",
        "WATCHER_JOURNAL_MAX_BACKOFF": "4",
        "WATCHER_DISPATCH_INTERVAL": "5",
        "WATCHER_ALERT_RETRY_BASE": "6",
        "WATCHER_CATALOG_RELOAD_INTERVAL": "7",
    }.items():
        monkeypatch.setenv(variable, value)

    settings = load_settings()

    assert settings.index == IndexSettings(
        url=INDEX + "/mirror",
        user_agent="watcher (security@example.com)",
        timeout=7.5,
        retries=5,
        max_feed_bytes=11,
        max_json_bytes=12,
        max_index_bytes=13,
        max_journal_bytes=14,
    )
    assert settings.slack == SlackSettings(
        token="xoxb-env",
        channel="C0ENV",
        api_url="http://127.0.0.1:9/api/",
        timeout=2.5,
        user_agent="watcher (security@example.com)",
    )
    assert settings.api == ApiSettings(host="0.0.0.0", port=9090, token="api-env")
    assert settings.schedule == ScheduleSettings(
        poll_interval=1.0,
        reconcile_interval=2.0,
        journal=True,
        journal_interval=3.0,
        journal_max_backoff=4.0,
        dispatch_interval=5.0,
        alert_retry_base=6.0,
        catalog_reload_interval=7.0,
    )


def test_views_from_the_file(clean_env: None, config_file: Path) -> None:
    config_file.write_text(
        f'pypi_url = "{INDEX}"\n'
        "http_timeout = 9\n"
        "max_index_bytes = 2048\n"
        'slack_token = "xoxb-file"\n'
        'slack_channel = "C0FILE"\n'
        "slack_timeout = 3\n"
        'api_token = "api-file"\n'
        "http_port = 8081\n"
        "catalog_reload_interval = 15\n"
        "journal = true\n"
    )

    settings = load_settings(config_file)

    assert settings.index.url == INDEX
    assert settings.index.timeout == 9.0
    assert settings.index.max_index_bytes == 2048
    assert settings.slack is not None
    assert settings.slack.token == "xoxb-file"
    assert settings.slack.channel == "C0FILE"
    assert settings.slack.api_url is None
    assert settings.slack.timeout == 3.0
    assert settings.api.token == "api-file"
    assert settings.api.port == 8081
    assert settings.schedule.catalog_reload_interval == 15.0
    assert settings.schedule.journal is True


def test_index_view_needs_the_index_url(clean_env: None) -> None:
    settings = load_settings()

    with pytest.raises(ConfigError) as info:
        _ = settings.index

    assert _one_line(info).startswith("WATCHER_PYPI_URL is not set")


def test_slack_view_is_none_when_neither_token_nor_channel_is_set(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHER_SLACK_API_URL", "http://127.0.0.1:9/api/")

    settings = load_settings()

    assert settings.slack is None
    assert not settings.slack_enabled


def test_views_are_frozen(clean_env: None) -> None:
    settings = load_settings(pypi_url=INDEX, slack_token="xoxb-test", slack_channel="C0")
    assert settings.slack is not None

    views = (settings.index, settings.slack, settings.api, settings.schedule)
    for view in views:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(view, dataclasses.fields(view)[0].name, None)
        assert not hasattr(view, "__dict__")  # slots


def test_views_do_not_show_secrets(clean_env: None) -> None:
    settings = load_settings(
        slack_token="xoxb-very-secret", slack_channel="C0", api_token="api-very-secret"
    )
    assert settings.slack is not None

    for shown in (repr(settings.slack), str(settings.slack), repr(settings.api)):
        assert "very-secret" not in shown
    assert "C0" in repr(settings.slack)


# -- configuration that cannot half-work ------------------------------------------------
# Each mistake below used to start a daemon that quietly did less than asked.


@pytest.mark.parametrize(
    ("variables", "missing", "present"),
    [
        ({"WATCHER_SLACK_TOKEN": "xoxb-test"}, "WATCHER_SLACK_CHANNEL", "WATCHER_SLACK_TOKEN"),
        ({"WATCHER_SLACK_CHANNEL": "C0SEC"}, "WATCHER_SLACK_TOKEN", "WATCHER_SLACK_CHANNEL"),
        (
            {"WATCHER_SLACK_TOKEN": "", "WATCHER_SLACK_CHANNEL": "C0SEC"},
            "WATCHER_SLACK_TOKEN",
            "WATCHER_SLACK_CHANNEL",
        ),
        (
            {"WATCHER_SLACK_TOKEN": "xoxb-test", "WATCHER_SLACK_CHANNEL": " "},
            "WATCHER_SLACK_CHANNEL",
            "WATCHER_SLACK_TOKEN",
        ),
    ],
)
def test_half_configured_slack_is_refused(
    clean_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variables: dict[str, str],
    missing: str,
    present: str,
) -> None:
    for variable, value in variables.items():
        monkeypatch.setenv(variable, value)

    message = _refused()

    assert message.startswith(f"{missing} is not set but {present} is: ")
    assert "set both" in message
    assert "xoxb-test" not in message
    assert _cli_refuses(capsys) == message


def test_half_configured_slack_in_the_file_is_refused(clean_env: None, config_file: Path) -> None:
    config_file.write_text('slack_token = "xoxb-file"\n')

    with pytest.raises(ConfigError) as info:
        load_settings(config_file)

    assert _one_line(info).startswith(
        "WATCHER_SLACK_CHANNEL is not set but WATCHER_SLACK_TOKEN is: "
    )


def test_slack_channel_from_the_environment_completes_the_file(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, config_file: Path
) -> None:
    config_file.write_text('slack_token = "xoxb-file"\n')
    monkeypatch.setenv("WATCHER_SLACK_CHANNEL", "C0ENV")

    assert load_settings(config_file).slack_enabled


def test_half_configured_slack_from_arguments_is_refused(clean_env: None) -> None:
    assert _refused(slack_token="xoxb-test").startswith("WATCHER_SLACK_CHANNEL is not set")
    assert _refused(slack_channel="C0").startswith("WATCHER_SLACK_TOKEN is not set")


@pytest.mark.parametrize("value", ["", " ", "\t"])
def test_empty_api_token_is_refused(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    monkeypatch.setenv("WATCHER_API_TOKEN", value)

    message = _refused()

    assert message.startswith("WATCHER_API_TOKEN: is set but empty")
    assert "unset" in message
    assert _cli_refuses(capsys) == message


def test_empty_api_token_in_the_file_or_arguments_is_refused(
    clean_env: None, config_file: Path
) -> None:
    config_file.write_text('api_token = ""\n')

    with pytest.raises(ConfigError) as info:
        load_settings(config_file)

    assert _one_line(info).startswith("WATCHER_API_TOKEN: is set but empty")
    assert _refused(api_token="").startswith("WATCHER_API_TOKEN: is set but empty")


def test_unset_api_token_leaves_the_api_open(clean_env: None) -> None:
    assert load_settings().api.token is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("postgresql://u:p@127.0.0.1/w", "postgresql+asyncpg://u:p@127.0.0.1/w"),
        ("postgres://u:p@127.0.0.1:5433/w", "postgresql+asyncpg://u:p@127.0.0.1:5433/w"),
        ("PostgreSQL://u@db/w?ssl=require", "postgresql+asyncpg://u@db/w?ssl=require"),
        ("postgresql+asyncpg://u:p%40ss@db/w", "postgresql+asyncpg://u:p%40ss@db/w"),
        ("sqlite:///watcher.db", "sqlite+aiosqlite:///watcher.db"),
        ("sqlite:////var/lib/watcher/w.db", "sqlite+aiosqlite:////var/lib/watcher/w.db"),
        ("sqlite://", "sqlite+aiosqlite://"),
        ("sqlite+aiosqlite:///watcher.db", "sqlite+aiosqlite:///watcher.db"),
    ],
)
def test_database_url_gets_the_async_driver(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    monkeypatch.setenv("WATCHER_DATABASE_URL", value)

    settings = load_settings()

    assert settings.database_url == expected
    assert settings.is_sqlite == expected.startswith("sqlite")
    assert normalize_database_url(value) == expected


def test_database_url_in_the_file_or_arguments_gets_the_async_driver(
    clean_env: None, config_file: Path
) -> None:
    config_file.write_text('database_url = "postgres://u@db/w"\n')

    assert load_settings(config_file).database_url == "postgresql+asyncpg://u@db/w"
    assert load_settings(database_url="sqlite:///x.db").database_url == ("sqlite+aiosqlite:///x.db")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("postgresql+psycopg2://u:hunter2@db/w", "only SQLite"),
        ("postgresql+psycopg://u:hunter2@db/w", "and PostgreSQL"),
        ("sqlite+pysqlite:///w.db", "only SQLite"),
        ("mysql+aiomysql://u:hunter2@db/w", "only SQLite"),
        ("mysql://u:hunter2@db/w", "'mysql'"),
        ("oracle+oracledb://u:hunter2@db/w", "are supported"),
        ("garbage", "not a database URL"),
        ("", "not a database URL"),
        ("//u:hunter2@db/w", "not a database URL"),
        ("postgresql://u:hunter2@db:port/w", "port must be a number"),
    ],
)
def test_unusable_database_url_is_refused(
    clean_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    value: str,
    reason: str,
) -> None:
    monkeypatch.setenv("WATCHER_DATABASE_URL", value)

    message = _refused()

    assert message.startswith("WATCHER_DATABASE_URL: ")
    assert reason in message
    assert "hunter2" not in message  # the URL may hold a password: never repeated
    assert _cli_refuses(capsys) == message


def test_normalize_database_url_raises_value_error() -> None:
    with pytest.raises(ValueError, match=r"only SQLite .* and PostgreSQL .* are supported"):
        normalize_database_url("mysql+aiomysql://db/w")
    with pytest.raises(ValueError, match="not a database URL"):
        normalize_database_url("garbage")


def test_every_float_setting_is_covered() -> None:
    assert "poll_interval" in FLOAT_SETTINGS
    assert "slack_timeout" in FLOAT_SETTINGS
    assert "shutdown_grace" in FLOAT_SETTINGS
    assert "index_reload_interval" in FLOAT_SETTINGS
    assert "source_alert_after" in FLOAT_SETTINGS
    assert "slack_pace" in FLOAT_SETTINGS
    assert "webhook_timeout" in FLOAT_SETTINGS
    assert len(FLOAT_SETTINGS) == 14


@pytest.mark.parametrize("value", ["inf", "-inf", "Infinity", "nan", "NaN"])
@pytest.mark.parametrize("field", FLOAT_SETTINGS)
def test_non_finite_numbers_are_refused(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, field: str, value: str
) -> None:
    monkeypatch.setenv(env_name(field), value)

    message = _refused()

    assert message.startswith(f"{env_name(field)}: ")
    assert "finite number" in message or "greater than 0" in message


def test_non_finite_numbers_are_refused_from_the_file_and_the_cli(
    clean_env: None,
    monkeypatch: pytest.MonkeyPatch,
    config_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config_file.write_text("poll_interval = inf\n")  # a TOML float

    with pytest.raises(ConfigError) as info:
        load_settings(config_file)

    assert _one_line(info) == "WATCHER_POLL_INTERVAL: Input should be a finite number"

    monkeypatch.setenv("WATCHER_HTTP_TIMEOUT", "inf")
    assert _cli_refuses(capsys) == "WATCHER_HTTP_TIMEOUT: Input should be a finite number"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("debug", "DEBUG"), ("Warning", "WARNING"), (" error ", "ERROR"), ("CRITICAL", "CRITICAL")],
)
def test_log_level_in_any_case(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    monkeypatch.setenv("WATCHER_LOG_LEVEL", value)

    assert load_settings().log_level == expected


@pytest.mark.parametrize("value", ["LOUD", "", "WARN", "10"])
def test_unknown_log_level_is_refused(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    monkeypatch.setenv("WATCHER_LOG_LEVEL", value)

    message = _refused()

    assert message == (
        f"WATCHER_LOG_LEVEL: must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL (any case),"
        f" not {value!r}"
    )
    assert _cli_refuses(capsys) == message


def test_log_level_in_the_file_must_be_a_level_name(clean_env: None, config_file: Path) -> None:
    config_file.write_text("log_level = 10\n")

    with pytest.raises(ConfigError) as info:
        load_settings(config_file)

    assert _one_line(info).startswith("WATCHER_LOG_LEVEL: must be one of DEBUG, INFO,")


@pytest.mark.parametrize(
    ("value", "expected"), [("json", "json"), ("JSON", "json"), ("Text", "text")]
)
def test_log_format(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    monkeypatch.setenv("WATCHER_LOG_FORMAT", value)

    assert load_settings().log_format == expected


def test_log_format_from_the_file(clean_env: None, config_file: Path) -> None:
    config_file.write_text('log_format = "json"\n')

    assert load_settings(config_file).log_format == "json"


@pytest.mark.parametrize("value", ["xml", "", "logfmt"])
def test_unknown_log_format_is_refused(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    monkeypatch.setenv("WATCHER_LOG_FORMAT", value)

    message = _refused()

    assert message == f"WATCHER_LOG_FORMAT: must be one of text, json, not {value!r}"
    assert _cli_refuses(capsys) == message


# -- misspelt variables ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "meant"),
    [
        ("WATCHER_POLL_INTERVALL", "WATCHER_POLL_INTERVAL"),
        ("WATCHER_SLACK_CHANEL", "WATCHER_SLACK_CHANNEL"),
        ("WATCHER_API_TOKN", "WATCHER_API_TOKEN"),
        ("WATCHER_DB_URL", "WATCHER_DATABASE_URL"),
        ("WATCHER_LOGLEVEL", "WATCHER_LOG_LEVEL"),
        ("watcher_slack_chanel", "WATCHER_SLACK_CHANNEL"),  # read whatever the case
        ("WATCHER_PORT", "WATCHER_HTTP_PORT"),  # not a Kubernetes service link: no tcp://
    ],
)
def test_misspelt_variable_is_refused_with_the_closest_name(
    clean_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    meant: str,
) -> None:
    monkeypatch.setenv(variable, "9090")

    message = _refused()

    assert message == f"{variable} is not a watcher setting: did you mean {meant}?"
    assert _cli_refuses(capsys) == message


def test_unknown_variable_without_a_close_name_is_refused(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHER_NOT_A_SETTING", "1")

    assert _refused() == "WATCHER_NOT_A_SETTING is not a watcher setting: unset it"


def test_every_unknown_variable_is_named_on_one_line(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHER_SLACK_CHANEL", "C0")
    monkeypatch.setenv("WATCHER_POLL_INTERVALL", "5")

    assert _refused() == (
        "WATCHER_POLL_INTERVALL is not a watcher setting: did you mean WATCHER_POLL_INTERVAL?;"
        " WATCHER_SLACK_CHANEL is not a watcher setting: did you mean WATCHER_SLACK_CHANNEL?"
    )


def test_a_misspelt_variable_is_reported_before_what_it_leaves_unset(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHER_SLACK_TOKEN", "xoxb-test")
    monkeypatch.setenv("WATCHER_SLACK_CHANEL", "C0")

    assert "did you mean WATCHER_SLACK_CHANNEL?" in _refused()


def test_known_variables_in_any_case_are_accepted(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("watcher_poll_interval", "5")

    assert load_settings().poll_interval == 5.0


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("WATCHER_TEST_POSTGRES_URL", "postgresql+asyncpg://u@db/t"),  # the test harness's
        ("WATCHER_TEST_ANYTHING", "1"),
        # Kubernetes service links for a Service named "watcher".
        ("WATCHER_SERVICE_HOST", "10.0.0.11"),
        ("WATCHER_SERVICE_PORT", "8080"),
        ("WATCHER_SERVICE_PORT_HTTP", "8080"),
        ("WATCHER_PORT", "tcp://10.0.0.11:8080"),
        ("WATCHER_PORT_8080_TCP", "tcp://10.0.0.11:8080"),
        ("WATCHER_PORT_8080_TCP_PROTO", "tcp"),
        ("WATCHER_PORT_8080_TCP_PORT", "8080"),
        ("WATCHER_PORT_8080_TCP_ADDR", "10.0.0.11"),
    ],
)
def test_variables_that_are_not_settings_by_design_are_left_alone(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)

    assert load_settings().poll_interval == 60.0


def test_arguments_are_not_checked_as_variables(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only the environment is looked at; a misspelt argument is refused as before.
    assert load_settings(poll_interval=0.5).poll_interval == 0.5
    assert _refused(poll_intervall=0.5) == "settings: unknown setting 'poll_intervall'"


def test_api_index_concurrency_and_shutdown_grace(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    defaults = load_settings()
    assert defaults.api.index_concurrency == 8
    assert defaults.shutdown_grace == 25.0
    monkeypatch.setenv("WATCHER_API_INDEX_CONCURRENCY", "3")
    monkeypatch.setenv("WATCHER_SHUTDOWN_GRACE", "5.5")
    settings = load_settings()
    assert settings.api.index_concurrency == 3
    assert settings.shutdown_grace == 5.5
    monkeypatch.setenv("WATCHER_API_INDEX_CONCURRENCY", "0")
    assert _refused().startswith("WATCHER_API_INDEX_CONCURRENCY: ")


# -- the webhook ----------------------------------------------------------------


WEBHOOK_KEY = "whsec-0123456789abcdef"


def test_the_webhook_is_off_unless_its_url_is_set(clean_env: None) -> None:
    assert load_settings().webhook is None
    assert load_settings(webhook_url=" ", webhook_secret="").webhook is None


def test_the_webhook_view_keeps_url_and_secret_out_of_repr(clean_env: None) -> None:
    url = "https://siem.invalid/hooks/receiver-token-42"
    webhook = load_settings(webhook_url=url, webhook_secret=WEBHOOK_KEY).webhook
    assert webhook is not None
    assert (webhook.url, webhook.secret, webhook.timeout) == (url, WEBHOOK_KEY, 10.0)
    assert "receiver-token-42" not in repr(webhook)
    assert WEBHOOK_KEY not in repr(webhook)


@pytest.mark.parametrize(
    ("variables", "reason"),
    [
        (
            {"WATCHER_WEBHOOK_URL": "https://siem.invalid/hook"},
            "WATCHER_WEBHOOK_SECRET is not set but WATCHER_WEBHOOK_URL is",
        ),
        (
            {"WATCHER_WEBHOOK_SECRET": WEBHOOK_KEY},
            "WATCHER_WEBHOOK_URL is not set but WATCHER_WEBHOOK_SECRET is",
        ),
        (
            {"WATCHER_WEBHOOK_URL": "https://siem.invalid/hook", "WATCHER_WEBHOOK_SECRET": "short"},
            "WATCHER_WEBHOOK_SECRET: must be at least 16 characters long",
        ),
        (
            {
                "WATCHER_WEBHOOK_URL": "ftp://siem.invalid/hook",
                "WATCHER_WEBHOOK_SECRET": WEBHOOK_KEY,
            },
            "WATCHER_WEBHOOK_URL: must be an http:// or https:// URL",
        ),
    ],
)
def test_a_half_configured_webhook_is_refused(
    clean_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variables: dict[str, str],
    reason: str,
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)

    message = _refused()

    assert reason in message
    assert "short" not in message.replace("too short", "")  # the secret is never repeated
    assert _cli_refuses(capsys) == message
