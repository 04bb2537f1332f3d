"""Settings from the environment and a TOML file (watcher.config)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from pydantic import ValidationError

from watcher import __version__
from watcher.config import (
    ApiSettings,
    IndexSettings,
    ScheduleSettings,
    SlackSettings,
    env_name,
    load_settings,
)
from watcher.errors import ConfigError

WATCH = ("pypi_url", "catalog")
INDEX = "http://127.0.0.1:9"


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return tmp_path / "watcher.toml"


def _one_line(exc: pytest.ExceptionInfo[ConfigError]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


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
    assert settings.log_level == "debug"


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


def test_unrelated_watcher_variables_are_ignored(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHER_NOT_A_SETTING", "1")

    assert load_settings().poll_interval == 60.0


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


def test_empty_tokens_mean_unset(clean_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHER_SLACK_TOKEN", "")
    monkeypatch.setenv("WATCHER_SLACK_CHANNEL", "")
    monkeypatch.setenv("WATCHER_API_TOKEN", "")

    settings = load_settings()

    assert settings.slack_token is None
    assert settings.slack_channel is None
    assert settings.api_token is None
    assert not settings.slack_enabled


def test_empty_token_in_the_file_means_unset(clean_env: None, config_file: Path) -> None:
    config_file.write_text('slack_token = ""\napi_token = ""\nslack_channel = "C0"\n')

    settings = load_settings(config_file)

    assert settings.slack_token is None
    assert settings.api_token is None
    assert not settings.slack_enabled


def test_slack_needs_both_token_and_channel(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHER_SLACK_TOKEN", "xoxb-test")

    assert not load_settings().slack_enabled


def test_secrets_are_not_shown(clean_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHER_SLACK_TOKEN", "xoxb-very-secret")
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


@pytest.mark.parametrize(
    "variables",
    [
        {"WATCHER_SLACK_TOKEN": "xoxb-test"},
        {"WATCHER_SLACK_CHANNEL": "C0SECURITY"},
        {"WATCHER_SLACK_TOKEN": "", "WATCHER_SLACK_CHANNEL": "C0SECURITY"},
        {"WATCHER_SLACK_TOKEN": "xoxb-test", "WATCHER_SLACK_CHANNEL": ""},
    ],
)
def test_slack_view_is_none_unless_token_and_channel_are_set(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, variables: dict[str, str]
) -> None:
    for variable, value in variables.items():
        monkeypatch.setenv(variable, value)
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
