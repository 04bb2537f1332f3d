"""The webhook destination's settings (``WATCHER_WEBHOOK_*``), inherited by
:class:`watcher.config.Settings`: every alert also POSTed, signed, to a SIEM or a pager."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings

from watcher.config_views import WebhookSettings

# A shorter key is guessable enough to forge a signature offline.
MIN_SECRET_LENGTH = 16


class WebhookFields(BaseSettings):
    """``WATCHER_WEBHOOK_URL`` and ``WATCHER_WEBHOOK_SECRET``: both, or neither."""

    webhook_url: str | None = Field(
        None, repr=False, description="Every alert is also POSTed here as JSON, signed"
    )
    webhook_secret: SecretStr | None = Field(
        None, description="Key of the webhook requests' HMAC-SHA256 signature"
    )
    webhook_timeout: float = Field(10.0, gt=0, description="Total seconds per webhook request")

    if TYPE_CHECKING:
        user_agent: str  # a field of :class:`watcher.config.Settings`, which mixes this in

    @property
    def webhook(self) -> WebhookSettings | None:
        """The webhook's settings, or ``None`` unless ``WATCHER_WEBHOOK_URL`` is set."""
        if self.webhook_url is None or self.webhook_secret is None:
            return None
        return WebhookSettings(
            url=self.webhook_url,
            secret=self.webhook_secret.get_secret_value(),
            timeout=self.webhook_timeout,
            user_agent=self.user_agent,
        )

    @field_validator("webhook_url", "webhook_secret", mode="before")
    @classmethod
    def _webhook_empty_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("webhook_url")
    @classmethod
    def _webhook_http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(f"must be at least {MIN_SECRET_LENGTH} characters long")
        return value

    @model_validator(mode="after")
    def _webhook_fully_configured(self) -> WebhookFields:
        # Unsigned alerts would let anyone who finds the receiver's URL forge them; a secret
        # without a URL is a destination that meant to be configured and silently is not.
        if self.webhook_url is not None and self.webhook_secret is None:
            raise ValueError(
                "WATCHER_WEBHOOK_SECRET is not set but WATCHER_WEBHOOK_URL is: the receiver"
                " checks each request's signature with it; set both, or neither"
            )
        if self.webhook_secret is not None and self.webhook_url is None:
            raise ValueError(
                "WATCHER_WEBHOOK_URL is not set but WATCHER_WEBHOOK_SECRET is: set both to"
                " send alerts to a webhook, or neither"
            )
        return self
