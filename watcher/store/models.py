"""Tables. Names are stored canonical (PEP 503), computed in Python so SQLite works too."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql import expression

from watcher.store.base import Base, utcnow

NAME_LENGTH = 255
NAME = String(NAME_LENGTH)
EVENT_KEY_LIMIT = 600  # an outbox key: kind, public name, matched entries (cut beyond)


class FindingStatus(StrEnum):
    """Where a finding stands: open (alerted), acknowledged (someone is on it: updates go
    to its thread), suppressed (quiet until its risk rises above the risk it had then),
    resolved (closed; reopened when the project comes back or changes)."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    SUPPRESSED = "suppressed"
    RESOLVED = "resolved"


class OutboxStatus(StrEnum):
    """An outbox row's delivery state: pending -> sending -> sent (sending -> pending on
    failure, retried with backoff)."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"


class EventKind(StrEnum):
    """What a source saw happen to a public project that matched the catalog."""

    NEW = "new"  # a project the index did not have before (listing, change log)
    CHANGED = "changed"  # a known project changed (listing serial moved, change log)
    OWNER = "owner"  # its roles changed (change log)
    CATALOG = "catalog"  # a catalog entry added since the last start matches it
    RELEASE = "release"  # a release announced by a feed
    EXISTS = "exists"  # the start-up check found a catalog name taken on the index


class EventSource(StrEnum):
    """Which source recorded an event (also the "seen via" of its alert and releases)."""

    FEED_UPDATES = "feed:updates"
    FEED_PACKAGES = "feed:packages"
    INDEX = "index"
    JOURNAL = "journal"
    CATALOG_CHECK = "catalog-check"


class FeedState(Base):
    """Cursor of one RSS feed: the ETag to send and the item keys seen in the last good poll."""

    __tablename__ = "feed_states"

    feed: Mapped[str] = mapped_column(String(32), primary_key=True)
    etag: Mapped[str | None] = mapped_column(String(512))
    seen_keys: Mapped[list[str]] = mapped_column(JSON, default=list)
    newest_key: Mapped[str | None] = mapped_column(String(600))
    polled_at: Mapped[datetime | None]
    advanced_at: Mapped[datetime | None]
    # How many polls found the window moved past everything seen before (items may have
    # been missed; each one triggered a whole-index reconcile).
    gaps: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class PublicProject(Base):
    """A public project whose name matched the catalog, as last seen on the index."""

    __tablename__ = "public_projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    normalized_name: Mapped[str] = mapped_column(NAME, unique=True)
    name: Mapped[str] = mapped_column(NAME)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    latest_version: Mapped[str | None] = mapped_column(NAME)
    summary: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(Text)
    author_email: Mapped[str | None] = mapped_column(Text)
    owners: Mapped[list[str]] = mapped_column(JSON, default=list)
    organization: Mapped[str | None] = mapped_column(NAME)
    last_serial: Mapped[int | None] = mapped_column(BigInteger)
    # One of our own public projects (owned by one of the catalog's owners when first
    # seen): audited for strangers' roles on every catalog reload. It stays ours when
    # our owners lose their roles: that is a takeover, to be alerted, not forgotten.
    ours: Mapped[bool] = mapped_column(default=False, server_default=expression.false())

    releases: Mapped[list[Release]] = relationship(
        back_populates="project", order_by="Release.id", lazy="raise"
    )


class Release(Base):
    """One release of a matched public project, stored once, with ownership at the time."""

    __tablename__ = "releases"
    __table_args__ = (UniqueConstraint("project_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("public_projects.id", ondelete="CASCADE"))
    version: Mapped[str] = mapped_column(NAME)
    upload_time: Mapped[datetime | None]
    files: Mapped[list[str]] = mapped_column(JSON, default=list)
    # SHA-256 of the files (hex), when the details gave them: "same version, other files"
    # is told from them.
    digests: Mapped[list[str] | None] = mapped_column(JSON)
    yanked: Mapped[bool] = mapped_column(default=False)
    author: Mapped[str | None] = mapped_column(Text)
    owners: Mapped[list[str]] = mapped_column(JSON, default=list)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    source: Mapped[str] = mapped_column(String(32))

    project: Mapped[PublicProject] = relationship(back_populates="releases", lazy="raise")


class Finding(Base):
    """A public name colliding with an internal name or prefix; unique per name pair and kind."""

    __tablename__ = "findings"
    __table_args__ = (UniqueConstraint("public_name", "internal_name", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_name: Mapped[str] = mapped_column(NAME, index=True)
    internal_name: Mapped[str] = mapped_column(NAME)
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=FindingStatus.OPEN)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Why it was last resolved ("removed from the index", "no longer in the catalog").
    resolution: Mapped[str | None] = mapped_column(Text)
    # The risk last assessed from both sides' versions (a Risk's name), why, and whether
    # the public project predates our first internal upload (a real project, not a squat).
    risk: Mapped[str | None] = mapped_column(String(16))
    risk_reason: Mapped[str | None] = mapped_column(Text)
    predates: Mapped[bool | None]
    # The risk it had when it was suppressed: it stays quiet until its risk rises above it.
    suppressed_risk: Mapped[str | None] = mapped_column(String(16))


class FindingEvent(Base):
    """One change of a finding's status: who, when, why and from where (its history)."""

    __tablename__ = "finding_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    finding_id: Mapped[int] = mapped_column(
        ForeignKey("findings.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(255))
    via: Mapped[str] = mapped_column(String(16))  # slack, api, cli, service
    action: Mapped[str] = mapped_column(String(16))  # open, acknowledge, suppress, ...
    reason: Mapped[str | None] = mapped_column(Text)
    from_status: Mapped[str | None] = mapped_column(String(16))  # None: when it was opened
    to_status: Mapped[str] = mapped_column(String(16))


class OutboxAlert(Base):
    """An alert waiting for (or done with) delivery. One row per public project and event."""

    __tablename__ = "alert_outbox"
    __table_args__ = (
        Index("ix_alert_outbox_due", "status", "next_attempt_at"),
        Index("ix_alert_outbox_public_name", "public_name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_key: Mapped[str] = mapped_column(String(EVENT_KEY_LIMIT), unique=True)
    public_name: Mapped[str] = mapped_column(NAME)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # pending -> sending -> sent; sending -> pending on failure (retried with backoff)
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    slack_ts: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Routing (see watcher.alerts.planner): what the alert is (its payload's event, or a
    # digest's kind) and its assessed risk, copied out of the payload so rows can be chosen
    # in SQL; whether it belongs to the first start's baseline summary.
    kind: Mapped[str | None] = mapped_column(String(32))
    risk: Mapped[str | None] = mapped_column(String(16))
    baseline: Mapped[bool] = mapped_column(default=False, server_default=expression.false())
    # How it is delivered; NULL until planned: "post" (top-level), "reply" (in the thread of
    # ``parent_id``'s message), "member" (told by ``digest_id``'s message, not on its own),
    # "daily" (held for the daily digest).
    route: Mapped[str | None] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("alert_outbox.id"))
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("alert_outbox.id"))
    # The top-level message whose thread this one was posted in (NULL: it is top-level).
    thread_ts: Mapped[str | None] = mapped_column(String(64))


class CatalogCheck(Base):
    """A catalog entry already checked against the index once (the first-start check)."""

    __tablename__ = "catalog_checks"

    normalized_name: Mapped[str] = mapped_column(NAME, primary_key=True)
    entry: Mapped[str] = mapped_column(String(16), primary_key=True)  # "name" or "prefix"
    found: Mapped[bool]
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)


class IndexProject(Base):
    """Every project name on the public index, with its serial: the reconcile's memory.

    On SQLite the table is clustered on the name (``WITHOUT ROWID``): the reconcile's diff
    walks it and the listing in the same order, which keeps a million lookups cache-warm.
    """

    __tablename__ = "index_projects"
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012 - SQLAlchemy's own form

    normalized_name: Mapped[str] = mapped_column(NAME, primary_key=True)
    name: Mapped[str] = mapped_column(NAME)
    last_serial: Mapped[int | None] = mapped_column(BigInteger)
    # Indexed: the check API follows what the listing gained and lost since it last looked.
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    removed_at: Mapped[datetime | None] = mapped_column(index=True)


class IndexState(Base):
    """The last simple-index listing applied (one row): its serial guards against stale ones."""

    __tablename__ = "index_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    serial: Mapped[int | None] = mapped_column(BigInteger)
    etag: Mapped[str | None] = mapped_column(String(512))
    projects: Mapped[int] = mapped_column(Integer, default=0)
    reconciled_at: Mapped[datetime | None]


class IndexEvent(Base):
    """A matched change seen by a source, waiting for its details and its alert.

    Written in the same transaction as the source's cursor (feed, listing, change log), so
    a crash between the source and the alert loses nothing: the next run picks the event
    up. A worker claims events with a lease (``lease_until``, ``claimed_by``) so that one
    event is processed by one worker, also across replicas; a lease that expires (its
    worker died) makes the event claimable again.
    """

    __tablename__ = "index_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    normalized_name: Mapped[str] = mapped_column(NAME, index=True)
    name: Mapped[str] = mapped_column(NAME)
    event: Mapped[str] = mapped_column(String(16))  # an EventKind
    serial: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # What changed, in the index's words, when the journal said ("add Owner mallory").
    detail: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(16))  # an EventSource; None: the listing
    # What a feed item said: its release, publication time and author.
    version: Mapped[str | None] = mapped_column(NAME)
    published_at: Mapped[datetime | None]
    author: Mapped[str | None] = mapped_column(Text)
    lease_until: Mapped[datetime | None] = mapped_column(index=True)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    # Failed processing: retried with backoff from ``next_attempt_at``; after too many
    # attempts the event is dead-lettered (``dead_at``): kept, shown in the status, never
    # claimed again, so one poisonous project cannot hold up the others.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    dead_at: Mapped[datetime | None] = mapped_column(index=True)


class JournalState(Base):
    """The change-log cursor (one row): the last serial fully processed, and the backoff.

    The cursor moves in the same transaction that stores what its rows changed, so a crash
    repeats a page rather than skipping one.
    """

    __tablename__ = "journal_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    serial: Mapped[int] = mapped_column(BigInteger)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    retry_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CatalogState(Base):
    """The catalog in use, per source (a file today): what was loaded, when, and the last
    failed reload. Kept in the database so ``watcher status`` can show it from outside."""

    __tablename__ = "catalog_state"

    source: Mapped[str] = mapped_column(String(1024), primary_key=True)
    digest: Mapped[str | None] = mapped_column(String(64))
    loaded_at: Mapped[datetime | None]
    names: Mapped[int] = mapped_column(Integer, default=0)
    prefixes: Mapped[int] = mapped_column(Integer, default=0)
    allow: Mapped[int] = mapped_column(Integer, default=0)
    owners: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    error_at: Mapped[datetime | None]
    # A private index: names taken as mirrors of public projects, failing since when, and
    # when that outage was alerted (once; cleared with the recovery alert).
    mirrored: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failing_since: Mapped[datetime | None]
    down_alerted_at: Mapped[datetime | None]


class AlertDestination(Base):
    """A destination every alert is also delivered to besides Slack (the webhook), from
    when it was first configured: alerts queued before that are not sent to it."""

    __tablename__ = "alert_destinations"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    enabled_at: Mapped[datetime] = mapped_column(default=utcnow)


class AlertDelivery(Base):
    """One alert's delivery to one destination: queued in the alert's own transaction,
    pending -> sending -> sent like the outbox row (retried with backoff)."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (
        UniqueConstraint("alert_id", "destination", name="uq_alert_deliveries_alert"),
        Index("ix_alert_deliveries_due", "destination", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alert_outbox.id", ondelete="CASCADE"))
    destination: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SlackRequest(Base):
    """A signed Slack request already acted on: the same signature again is a replay,
    whichever replica it reaches (kept for twice Slack's five-minute window)."""

    __tablename__ = "slack_requests"

    signature: Mapped[str] = mapped_column(String(100), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(index=True)


class CatalogPackage(Base):
    """The last good load of one project of a private index: kept so a restart while the
    index is down protects the same names and versions."""

    __tablename__ = "catalog_packages"

    source: Mapped[str] = mapped_column(String(1024), primary_key=True)
    normalized_name: Mapped[str] = mapped_column(NAME, primary_key=True)
    name: Mapped[str] = mapped_column(NAME)
    versions: Mapped[list[str]] = mapped_column(JSON, default=list)
    # [filename, sha256 or null, upload time ISO or null] per file
    files: Mapped[list[list[str | None]]] = mapped_column(JSON, default=list)
    # Why the name is a mirror of a public project (null: ours, protected).
    mirrored: Mapped[str | None] = mapped_column(Text)
    etag: Mapped[str | None] = mapped_column(String(512))
    loaded_at: Mapped[datetime] = mapped_column(default=utcnow)
