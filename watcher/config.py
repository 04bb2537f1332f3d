"""Settings: one frozen object built at start-up from a TOML file and ``WATCHER_*`` variables.

Environment variables override the file. The variable names are a public contract: operators
script them. A missing or invalid setting raises :class:`ConfigError` with one line naming the
variable; the CLI turns that into exit code 2.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from watcher import __version__
from watcher.errors import ConfigError

ENV_PREFIX = "WATCHER_"

_REQUIRED_HINTS = {
    "pypi_url": "set it to PyPI's base URL (or a mirror serving its RSS, JSON and simple APIs)",
    "catalog": "set it to the path of the internal catalog TOML file",
}


def env_name(field: str) -> str:
    """The environment variable that sets ``field``."""
    return ENV_PREFIX + field.upper()


# -- typed views of the settings, one per system ----------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class IndexSettings:
    """What the index client needs (:attr:`Settings.index`)."""

    url: str
    """The index's base URL, without a trailing slash (``WATCHER_PYPI_URL``)."""
    user_agent: str
    """``User-Agent`` sent on every request (``WATCHER_USER_AGENT``)."""
    timeout: float
    """Total seconds per request attempt (``WATCHER_HTTP_TIMEOUT``)."""
    retries: int
    """Retries on 429/5xx answers, connection errors and timeouts (``WATCHER_HTTP_RETRIES``)."""
    max_feed_bytes: int
    """Cap on an RSS body (``WATCHER_MAX_FEED_BYTES``)."""
    max_json_bytes: int
    """Cap on a JSON API body (``WATCHER_MAX_JSON_BYTES``)."""
    max_index_bytes: int
    """Cap on the ``/simple/`` listing (``WATCHER_MAX_INDEX_BYTES``)."""
    max_journal_bytes: int
    """Cap on an XML-RPC change-log answer (``WATCHER_MAX_JOURNAL_BYTES``)."""


@dataclasses.dataclass(frozen=True, slots=True)
class SlackSettings:
    """What the Slack sender needs (:attr:`Settings.slack`); exists only when Slack is on."""

    token: str = dataclasses.field(repr=False)
    """The bot token, in clear (``WATCHER_SLACK_TOKEN``); kept out of ``repr``."""
    channel: str
    """The channel alerts go to (``WATCHER_SLACK_CHANNEL``)."""
    api_url: str | None
    """Slack Web API base URL ending in ``/``, or ``None`` for Slack's own
    (``WATCHER_SLACK_API_URL``)."""
    timeout: float
    """Total seconds per Slack request (``WATCHER_SLACK_TIMEOUT``)."""
    user_agent: str
    """``User-Agent`` sent to Slack (``WATCHER_USER_AGENT``)."""


@dataclasses.dataclass(frozen=True, slots=True)
class ApiSettings:
    """What the HTTP API needs (:attr:`Settings.api`)."""

    host: str
    """Address to listen on (``WATCHER_HTTP_HOST``)."""
    port: int
    """Port to listen on; 0 picks a free one (``WATCHER_HTTP_PORT``)."""
    token: str | None = dataclasses.field(repr=False)
    """Bearer token the API requires, in clear, or ``None`` for none (``WATCHER_API_TOKEN``);
    kept out of ``repr``."""


@dataclasses.dataclass(frozen=True, slots=True)
class ScheduleSettings:
    """When the periodic jobs run (:attr:`Settings.schedule`). Every value is in seconds."""

    poll_interval: float
    """Between feed polls (``WATCHER_POLL_INTERVAL``)."""
    reconcile_interval: float
    """Between whole-index reconciles (``WATCHER_RECONCILE_INTERVAL``)."""
    journal: bool
    """Whether the index's XML-RPC change log is followed too (``WATCHER_JOURNAL``)."""
    journal_interval: float
    """Between change-log calls (``WATCHER_JOURNAL_INTERVAL``)."""
    journal_max_backoff: float
    """Longest wait after the change log's rate-limit fault (``WATCHER_JOURNAL_MAX_BACKOFF``)."""
    dispatch_interval: float
    """Between outbox drains (``WATCHER_DISPATCH_INTERVAL``)."""
    alert_retry_base: float
    """First retry delay of an alert Slack did not take (``WATCHER_ALERT_RETRY_BASE``)."""
    catalog_reload_interval: float
    """Between checks of the catalog file for changes (``WATCHER_CATALOG_RELOAD_INTERVAL``)."""


class Settings(BaseSettings):
    """Every knob of the daemon. Field ``x`` is set by ``WATCHER_X`` or key ``x`` in the file."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, extra="forbid", case_sensitive=False
    )

    pypi_url: str | None = Field(None, description="Base URL of the index (RSS, JSON, simple)")
    catalog: Path | None = Field(None, description="Path of the internal catalog file")
    database_url: str = "sqlite+aiosqlite:///watcher.db"
    poll_interval: float = Field(60.0, gt=0, description="Seconds between feed polls")
    slack_token: SecretStr | None = None
    slack_channel: str | None = None
    slack_api_url: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int = Field(8080, ge=0, le=65535)
    api_token: SecretStr | None = None
    user_agent: str = f"watcher/{__version__}"
    journal: bool = Field(
        False,
        description="Follow the index's XML-RPC change log too (opt-in: the index asks new"
        " integrations not to depend on XML-RPC)",
    )

    # Operational knobs beyond the public contract; defaults suit production.
    reconcile_interval: float = Field(
        1800.0, gt=0, description="Seconds between whole-index reconciles"
    )
    journal_interval: float = Field(
        60.0, gt=0, description="Seconds between change-log calls (when WATCHER_JOURNAL is on)"
    )
    journal_max_backoff: float = Field(
        3600.0, gt=0, description="Longest wait after the change log's rate-limit fault"
    )
    max_index_bytes: int = Field(512 * 1024 * 1024, gt=0, description="Cap on /simple/")
    max_journal_bytes: int = Field(64 * 1024 * 1024, gt=0, description="Cap on a change log")
    dispatch_interval: float = Field(1.0, gt=0, description="Seconds between outbox drains")
    http_timeout: float = Field(30.0, gt=0, description="Total seconds per index request")
    http_retries: int = Field(3, ge=0, le=10, description="Retries on 5xx/connection errors")
    max_feed_bytes: int = Field(5 * 1024 * 1024, gt=0, description="Cap on an RSS body")
    max_json_bytes: int = Field(32 * 1024 * 1024, gt=0, description="Cap on a JSON body")
    alert_retry_base: float = Field(5.0, gt=0, description="First retry delay of an alert")
    slack_timeout: float = Field(10.0, gt=0, description="Total seconds per Slack request")
    catalog_reload_interval: float = Field(
        60.0, gt=0, description="Seconds between checks of the catalog file for changes"
    )
    log_level: str = "INFO"

    @field_validator("pypi_url", "slack_api_url")
    @classmethod
    def _http_url(cls, value: str | None, info: Any) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http:// or https:// URL")
        if info.field_name == "slack_api_url":
            # slack-sdk joins method names onto base_url textually.
            return value if value.endswith("/") else value + "/"
        return value.rstrip("/")

    @field_validator(
        "pypi_url",
        "catalog",
        "slack_token",
        "slack_channel",
        "slack_api_url",
        "api_token",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @property
    def index_url(self) -> str:
        """The index's base URL; :class:`ConfigError` if unset."""
        if self.pypi_url is None:
            raise ConfigError(_missing("pypi_url"))
        return self.pypi_url

    @property
    def catalog_path(self) -> Path:
        """The catalog file's path; :class:`ConfigError` if unset."""
        if self.catalog is None:
            raise ConfigError(_missing("catalog"))
        return self.catalog

    @property
    def slack_enabled(self) -> bool:
        """Alerts go to Slack only when both a token and a channel are set."""
        return self.slack_token is not None and self.slack_channel is not None

    @property
    def index(self) -> IndexSettings:
        """The index client's settings; :class:`ConfigError` if ``WATCHER_PYPI_URL`` is unset."""
        return IndexSettings(
            url=self.index_url,
            user_agent=self.user_agent,
            timeout=self.http_timeout,
            retries=self.http_retries,
            max_feed_bytes=self.max_feed_bytes,
            max_json_bytes=self.max_json_bytes,
            max_index_bytes=self.max_index_bytes,
            max_journal_bytes=self.max_journal_bytes,
        )

    @property
    def slack(self) -> SlackSettings | None:
        """Slack's settings, or ``None`` unless both a token and a channel are set."""
        if self.slack_token is None or self.slack_channel is None:
            return None
        return SlackSettings(
            token=self.slack_token.get_secret_value(),
            channel=self.slack_channel,
            api_url=self.slack_api_url,
            timeout=self.slack_timeout,
            user_agent=self.user_agent,
        )

    @property
    def api(self) -> ApiSettings:
        """The HTTP API's settings."""
        return ApiSettings(
            host=self.http_host,
            port=self.http_port,
            token=self.api_token.get_secret_value() if self.api_token is not None else None,
        )

    @property
    def schedule(self) -> ScheduleSettings:
        """The periodic jobs' intervals."""
        return ScheduleSettings(
            poll_interval=self.poll_interval,
            reconcile_interval=self.reconcile_interval,
            journal=self.journal,
            journal_interval=self.journal_interval,
            journal_max_backoff=self.journal_max_backoff,
            dispatch_interval=self.dispatch_interval,
            alert_retry_base=self.alert_retry_base,
            catalog_reload_interval=self.catalog_reload_interval,
        )

    @property
    def is_sqlite(self) -> bool:
        """True when the database is the embedded SQLite default."""
        return self.database_url.startswith("sqlite")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Explicit arguments, then the environment, then the file.
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


def _missing(field: str) -> str:
    return f"{env_name(field)} is not set: {_REQUIRED_HINTS[field]}"


def load_settings(
    config_file: Path | None = None, *, require: tuple[str, ...] = (), **overrides: Any
) -> Settings:
    """Build the settings, or raise :class:`ConfigError` with a one-line reason.

    ``require`` names fields that must be set for the command at hand (``pypi_url`` and
    ``catalog`` for watching; a schema upgrade needs neither).
    """
    cls: type[Settings] = Settings
    if config_file is not None:
        try:
            with config_file.open("rb") as fh:
                tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"config file {config_file} does not exist") from None
        except UnicodeDecodeError:
            raise ConfigError(f"config file {config_file}: not UTF-8 text") from None
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"config file {config_file}: {exc}") from None

        class _FromFile(Settings):
            model_config = SettingsConfigDict(toml_file=config_file)

        cls = _FromFile
    try:
        settings = cls(**overrides)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc, config_file)) from None
    for field in require:
        if getattr(settings, field) is None:
            raise ConfigError(_missing(field))
    if (
        config_file is not None
        and settings.catalog is not None
        and not settings.catalog.is_absolute()
        and "catalog" not in overrides
        and not os.environ.get(env_name("catalog"))
    ):
        # A catalog path written in the config file is relative to that file, so a config
        # directory can be moved or mounted as a whole.
        settings = settings.model_copy(update={"catalog": config_file.parent / settings.catalog})
    return settings


def _one_line(exc: ValidationError, config_file: Path | None) -> str:
    err = exc.errors()[0]
    field = str(err["loc"][0]) if err["loc"] else "?"
    if err["type"] == "extra_forbidden":
        where = f"config file {config_file}" if config_file else "settings"
        return f"{where}: unknown setting {field!r}"
    message = str(err["msg"]).removeprefix("Value error, ")
    more = f" (and {len(exc.errors()) - 1} more problems)" if len(exc.errors()) > 1 else ""
    return f"{env_name(field)}: {message}{more}"
