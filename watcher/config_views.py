"""Typed views of the settings, one per system: what each owner needs and nothing else
(:attr:`watcher.config.Settings.index`, ``.slack``, ``.api``, ``.schedule``)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True, slots=True)
class IndexSettings:
    """What the index client needs (:attr:`Settings.index`)."""

    url: str = dataclasses.field(repr=False)  # may carry a mirror's credentials
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
    api_url: str | None = dataclasses.field(repr=False)
    """Slack Web API base URL ending in ``/``, or ``None`` for Slack's own
    (``WATCHER_SLACK_API_URL``)."""
    timeout: float
    """Total seconds per Slack request (``WATCHER_SLACK_TIMEOUT``)."""
    user_agent: str
    """``User-Agent`` sent to Slack (``WATCHER_USER_AGENT``)."""


@dataclasses.dataclass(frozen=True, slots=True)
class AlertSettings:
    """How alerts are routed and paced (:attr:`Settings.alerts`)."""

    digest_threshold: int = 5
    """More alerts than this ready in one dispatch round go out as one digest, the full
    list in its thread (``WATCHER_DIGEST_THRESHOLD``)."""
    min_risk: str = "medium"
    """Alerts below this risk wait for the daily digest (``WATCHER_ALERT_MIN_RISK``)."""
    critical_mention: str | None = None
    """Slack mention(s) put on top-level critical alerts (``WATCHER_SLACK_CRITICAL_MENTION``)."""
    pace: float = 1.0
    """Seconds between two messages to the channel, at least (``WATCHER_SLACK_PACE``)."""


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
    index_concurrency: int = 8
    """Index look-ups the API may have in flight at once, on its own connections
    (``WATCHER_API_INDEX_CONCURRENCY``); more wait briefly, then get 503."""


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
    source_alert_after: float = 3600.0
    """Seconds a watch source may fail before it is alerted, once (and its recovery once)
    (``WATCHER_SOURCE_ALERT_AFTER``)."""
    index_reload_interval: float = 600.0
    """Between reads of the catalog's private indexes (``WATCHER_INDEX_RELOAD_INTERVAL``):
    the catalog job runs at the shorter of the two intervals."""
    retention_days: int = 90
    """Days delivered alerts stay in the outbox (``WATCHER_RETENTION_DAYS``)."""
    retention_interval: float = 3600.0
    """Between retention passes (rows age by days: an hour late is nothing)."""


@dataclasses.dataclass(frozen=True, slots=True)
class PrivateIndexSettings:
    """How the catalog's private indexes are read (:attr:`Settings.indexes`)."""

    user_agent: str
    """``User-Agent`` sent on every request (``WATCHER_USER_AGENT``)."""
    timeout: float
    """Total seconds per request attempt (``WATCHER_HTTP_TIMEOUT``)."""
    retries: int
    """Retries on 429/5xx answers, connection errors and timeouts (``WATCHER_HTTP_RETRIES``)."""
    concurrency: int
    """Requests to one index in flight at once (``WATCHER_INDEX_CONCURRENCY``)."""
    reload_interval: float
    """Seconds between reads of each index (``WATCHER_INDEX_RELOAD_INTERVAL``); SIGHUP
    reads them at once."""
    alert_after: float
    """Seconds an index may fail before its outage is alerted, once
    (``WATCHER_SOURCE_ALERT_AFTER``); its recovery is alerted once too."""


@dataclasses.dataclass(frozen=True, slots=True)
class WebhookSettings:
    """What the webhook sender needs (:attr:`Settings.webhook`); exists only when set."""

    url: str = dataclasses.field(repr=False)  # may carry a token of the receiver's
    """Where every alert is POSTed as JSON (``WATCHER_WEBHOOK_URL``)."""
    secret: str = dataclasses.field(repr=False)
    """Key of the HMAC-SHA256 signature of each request (``WATCHER_WEBHOOK_SECRET``)."""
    timeout: float
    """Total seconds per request (``WATCHER_WEBHOOK_TIMEOUT``)."""
    user_agent: str
    """``User-Agent`` sent (``WATCHER_USER_AGENT``)."""
