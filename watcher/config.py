"""Settings: one frozen object built at start-up from a TOML file and ``WATCHER_*`` variables.

Environment variables override the file. The variable names are a public contract: operators
script them. A missing or invalid setting, a half-configured feature (a Slack token without its
channel) or a ``WATCHER_*`` variable that is no setting raises :class:`ConfigError` with one
line naming the variable; the CLI turns that into exit code 2.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from watcher import __version__
from watcher.config_env import ENV_PREFIX, check_environment
from watcher.config_knobs import OperationalSettings
from watcher.config_views import (
    AlertSettings,
    ApiSettings,
    IndexSettings,
    PrivateIndexSettings,
    ScheduleSettings,
    SlackSettings,
    WebhookSettings,
)
from watcher.config_webhook import WebhookFields
from watcher.errors import ConfigError

_ASYNC_URL_SCHEMES = ("sqlite+aiosqlite:", "postgresql+asyncpg:")
_ONE_MENTION = r"<(?:@[UW][A-Z0-9]{2,20}|!subteam\^S[A-Z0-9]{2,20}|!here|!channel)>"
_MENTION = re.compile(rf"{_ONE_MENTION}(?: {_ONE_MENTION}){{0,9}}")

__all__ = [
    "AlertSettings",
    "ApiSettings",
    "IndexSettings",
    "PrivateIndexSettings",
    "ScheduleSettings",
    "Settings",
    "SlackSettings",
    "WebhookSettings",
    "env_name",
    "load_settings",
]

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")

_REQUIRED_HINTS = {
    "pypi_url": "set it to PyPI's base URL (or a mirror serving its RSS, JSON and simple APIs)",
    "catalog": "set it to the path of the internal catalog TOML file",
}


def env_name(field: str) -> str:
    """The environment variable that sets ``field``."""
    return ENV_PREFIX + field.upper()


class Settings(OperationalSettings, WebhookFields):
    """Every knob of the daemon. Field ``x`` is set by ``WATCHER_X`` or key ``x`` in the file."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        frozen=True,
        extra="forbid",
        case_sensitive=False,
        # "inf" or "nan" as an interval or a timeout would never fire, or spin.
        allow_inf_nan=False,
    )

    # URLs may carry credentials (a private mirror, the database): kept out of repr().
    pypi_url: str | None = Field(
        None, repr=False, description="Base URL of the index (RSS, JSON, simple)"
    )
    catalog: Path | None = Field(None, description="Path of the internal catalog file")
    database_url: str = Field("sqlite+aiosqlite:///watcher.db", repr=False)
    poll_interval: float = Field(60.0, gt=0, description="Seconds between feed polls")
    slack_token: SecretStr | None = None
    slack_channel: str | None = None
    slack_api_url: str | None = Field(None, repr=False)
    # Verifies the Slack buttons' requests (POST /slack/actions); unset: the route refuses.
    slack_signing_secret: SecretStr | None = None
    http_host: str = "127.0.0.1"
    http_port: int = Field(8080, ge=0, le=65535)
    api_token: SecretStr | None = None
    api_index_concurrency: int = Field(
        8, ge=1, le=100, description="Index look-ups the HTTP API may have in flight at once"
    )
    user_agent: str = f"watcher/{__version__}"
    journal: bool = Field(
        False,
        description="Follow the index's XML-RPC change log too (opt-in: the index asks new"
        " integrations not to depend on XML-RPC)",
    )

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", description="Least severe level logged (any case; stored in upper case)"
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="Log lines as plain text or as one JSON object each"
    )

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
        "slack_signing_secret",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("alert_min_risk", mode="before")
    @classmethod
    def _lower_risk(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("slack_critical_mention")
    @classmethod
    def _mention(cls, value: str | None) -> str | None:
        # The one piece of markup that reaches the channel unescaped: only Slack's mention
        # syntax (a user, a user group, @here or @channel), nothing that could link.
        if value is None or not value.strip():
            return None
        if not _MENTION.fullmatch(value.strip()):
            raise ValueError(
                "must be Slack mentions like <@U0123ABC>, <!subteam^S0123ABC>, <!here> or"
                " <!channel>, separated by spaces"
            )
        return value.strip()

    @field_validator("api_token", mode="before")
    @classmethod
    def _api_token_not_blank(cls, value: Any) -> Any:
        # Unlike Slack's (where empty means off and Slack-off is visible in the logs), an empty
        # API token set on purpose would leave the API open without a word: refuse it.
        if isinstance(value, str | SecretStr):
            text = value.get_secret_value() if isinstance(value, SecretStr) else value
            if not text.strip():
                raise ValueError(
                    "is set but empty: set a token to require one on /v1/*, or unset the"
                    " variable to leave the API open"
                )
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if value.startswith(_ASYNC_URL_SCHEMES) and "://" in value:
            # Already a URL of a supported async driver: the database checks the rest when
            # it connects. Parsing it would load SQLAlchemy, which `watcher check` never
            # needs otherwise (the CLI keeps start-up light).
            return value
        from watcher.store.urls import normalize_database_url

        return normalize_database_url(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().upper() in LOG_LEVELS:
            return value.strip().upper()
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)} (any case), not {value!r}")

    @field_validator("log_format", mode="before")
    @classmethod
    def _log_format(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in LOG_FORMATS:
            return value.strip().lower()
        raise ValueError(f"must be one of {', '.join(LOG_FORMATS)}, not {value!r}")

    @model_validator(mode="after")
    def _slack_fully_configured(self) -> Settings:
        # A token without a channel (or the reverse) is a deployment that meant to alert on
        # Slack and would silently not: refuse it. Neither set is fine (the outbox keeps them).
        if (self.slack_token is None) != (self.slack_channel is None):
            missing, present = (
                ("slack_channel", "slack_token")
                if self.slack_channel is None
                else ("slack_token", "slack_channel")
            )
            raise ValueError(
                f"{env_name(missing)} is not set but {env_name(present)} is: set both to send"
                " alerts to Slack, or neither to keep them in the outbox"
            )
        if self.slack_signing_secret is not None and self.slack_token is None:
            raise ValueError(
                "WATCHER_SLACK_SIGNING_SECRET is set but WATCHER_SLACK_TOKEN is not: the"
                " buttons it verifies are on Slack alerts; set Slack up, or unset it"
            )
        return self

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
    def alerts(self) -> AlertSettings:
        """How alerts are routed and paced."""
        return AlertSettings(
            digest_threshold=self.digest_threshold,
            min_risk=self.alert_min_risk,
            critical_mention=self.slack_critical_mention,
            pace=self.slack_pace,
        )

    @property
    def api(self) -> ApiSettings:
        """The HTTP API's settings."""
        return ApiSettings(
            host=self.http_host,
            port=self.http_port,
            token=self.api_token.get_secret_value() if self.api_token is not None else None,
            index_concurrency=self.api_index_concurrency,
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
            index_reload_interval=self.index_reload_interval,
            source_alert_after=self.source_alert_after,
            retention_days=self.retention_days,
        )

    @property
    def indexes(self) -> PrivateIndexSettings:
        """How the catalog's private indexes are read."""
        return PrivateIndexSettings(
            user_agent=self.user_agent,
            timeout=self.http_timeout,
            retries=self.http_retries,
            concurrency=self.index_concurrency,
            reload_interval=self.index_reload_interval,
            alert_after=self.source_alert_after,
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
    check_environment(os.environ, {name.upper() for name in Settings.model_fields})
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
    if not err["loc"]:
        # A check across settings names its variables itself.
        return str(err["msg"]).removeprefix("Value error, ")
    field = str(err["loc"][0])
    if err["type"] == "extra_forbidden":
        where = f"config file {config_file}" if config_file else "settings"
        return f"{where}: unknown setting {field!r}"
    message = str(err["msg"]).removeprefix("Value error, ")
    more = f" (and {len(exc.errors()) - 1} more problems)" if len(exc.errors()) > 1 else ""
    return f"{env_name(field)}: {message}{more}"
