"""The operational knobs of the settings: intervals, caps, retries, alert routing. Beyond
the public contract; their defaults suit production. :class:`watcher.config.Settings`
inherits them (with its configuration: ``WATCHER_*`` variables, frozen, no infinities)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings


class OperationalSettings(BaseSettings):
    """Knobs every deployment may leave alone (each is a ``WATCHER_*`` variable too)."""

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
    digest_threshold: int = Field(
        5, ge=1, description="More alerts than this ready at once are sent as one digest"
    )
    alert_min_risk: Literal["none", "low", "medium", "high", "critical"] = Field(
        "medium", description="Alerts below this risk go to the daily digest only"
    )
    slack_critical_mention: str | None = Field(
        None, description="Slack mention put on critical alerts, e.g. <!subteam^S0123ABC>"
    )
    slack_pace: float = Field(
        1.0, ge=0, le=60, description="Seconds between two messages to the channel, at least"
    )
    catalog_reload_interval: float = Field(
        60.0, gt=0, description="Seconds between checks of the catalog file for changes"
    )
    index_reload_interval: float = Field(
        600.0,
        gt=0,
        description="Seconds between reads of the catalog's private indexes (SIGHUP: at once)",
    )
    index_concurrency: int = Field(
        8, ge=1, le=100, description="Requests to one private index in flight at once"
    )
    source_alert_after: float = Field(
        3600.0, gt=0, description="Seconds a source may fail before it is alerted (once)"
    )
    retention_days: int = Field(
        90,
        ge=1,
        le=36500,
        description="Days delivered alerts are kept in the outbox (findings and history: always)",
    )
    shutdown_grace: float = Field(
        25.0, gt=0, description="Seconds running jobs get to finish after SIGTERM"
    )
