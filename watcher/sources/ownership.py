"""The ownership audit: who holds the roles on our own public projects, on every reload.

Our own public projects are the catalog's allowlisted names and the public projects the
pipeline recorded as ours (owned by one of the catalog's owners when it saw them). On
every catalog reload each one's JSON details are read again; every user holding a role
who is not among the catalog's owners, and an organization that is not, is alerted
critical (an account takeover looks exactly like that). The change log, when followed,
reports the same grants sooner; the audit is what sees them without it. Either way a
stranger's role is alerted once (see :mod:`watcher.store.ownership`).

A project whose details cannot be read is not audited this time: it is said in the log
(once, until that changes) and never taken as having no strangers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from packaging.utils import NormalizedName

from watcher.alerts.messages import RoleGrant
from watcher.catalog.model import Catalog
from watcher.errors import IndexClientError, ProjectNotFound
from watcher.matching.live import CatalogView, LiveCatalog
from watcher.pipeline.recorder import Recorder
from watcher.pipeline.roles import ORGANIZATION, ROLE_HOLDER
from watcher.pypi import IndexClient, ProjectInfo
from watcher.redaction import redact
from watcher.store import Database, ownership
from watcher.store.base import clean_text, utcnow
from watcher.store.models import EventSource

log = logging.getLogger(__name__)

# JSON details read at once: a handful, so that an audit of many projects neither
# crowds out the polls' connections nor looks like a burst to the index.
DEFAULT_CONCURRENCY = 4
_CHANGE_LIMIT = 500  # the roles as quoted in an alert (a hostile index may list thousands)
_NAMES_LOGGED = 5
_USER_LIMIT = 100  # a user or organization name as quoted in an alert
_OWNERS_LIMIT = 50


@dataclass
class AuditReport:
    """What one audit did: projects read, alerts queued, and the projects whose roles are
    unknown this time (name -> why), never taken as safe: ``missing`` (the JSON API has
    no details: no visible release, quarantined, or no such project) and ``unreadable``
    (the index failed or answered nonsense)."""

    audited: int = 0
    alerts: int = 0
    missing: dict[str, str] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)


class OwnershipAudit:
    """Reads the roles on each of our own public projects and alerts strangers' roles."""

    def __init__(
        self,
        db: Database,
        client: IndexClient,
        catalog: LiveCatalog,
        recorder: Recorder,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = db
        self._client = client
        self._catalog = catalog
        self._recorder = recorder
        self._concurrency = concurrency
        self._clock = clock
        # What the log said last, so that an outage is said once, not on every reload.
        self._said: dict[str, frozenset[str]] = {"missing": frozenset(), "unreadable": frozenset()}
        self.last: AuditReport | None = None

    async def run(self, view: CatalogView | None = None) -> int:
        """Audit every one of our own public projects against ``view``'s owners (by
        default the catalog in use); return how many alerts it queued."""
        report = await self.audit(view)
        return report.alerts

    async def audit(self, view: CatalogView | None = None) -> AuditReport:
        """One audit, with its report (also kept in :attr:`last`)."""
        catalog = (view or self._catalog.current).catalog
        if not catalog.owners:
            # Without owners nobody can be told from a stranger: every role holder of an
            # allowlisted project would be alerted as one. Nothing to audit against.
            return AuditReport()
        async with self._db.transaction() as session:
            projects = await ownership.our_projects(session)
        for allowed in catalog.allow:
            projects.setdefault(allowed, allowed)
        report = AuditReport()
        limit = asyncio.Semaphore(self._concurrency)

        async def read(name: str) -> ProjectInfo | None:
            async with limit:
                try:
                    return await self._client.project(name)
                except ProjectNotFound:
                    # Not "free": the JSON API also answers 404 for a project with no
                    # visible release, or quarantined. Its roles are unknown.
                    report.missing[name] = "no JSON details"
                except IndexClientError as exc:
                    report.unreadable[name] = redact(str(exc))
                except Exception as exc:  # one odd answer must not stop the others
                    log.exception("ownership of %s not audited", name)
                    report.unreadable[name] = redact(f"{type(exc).__name__}: {exc}")
                return None

        names = sorted(projects)
        infos = await asyncio.gather(*(read(name) for name in names))
        for name, info in zip(names, infos, strict=True):
            if info is None:
                continue
            report.audited += 1
            grants = strangers_of(info, catalog)
            if grants:
                report.alerts += await self._alert(
                    NormalizedName(name), projects[name], info, grants
                )
        self._say_unreadable(report, len(names))
        self.last = report
        return report

    async def _alert(
        self, name: NormalizedName, display: str, info: ProjectInfo, grants: list[RoleGrant]
    ) -> int:
        holders = ", ".join(info.owners) or "nobody"
        org = f"; organization {info.organization}" if info.organization else ""
        change = clean_text(f"roles now: {holders}{org}", _CHANGE_LIMIT) or ""
        async with self._db.write() as session:
            return await self._recorder.record_role_change(
                session,
                name,
                display,
                grants,
                change=change,
                source=EventSource.INDEX,
                now=self._clock(),
                owners=[_bounded(o) for o in info.owners[:_OWNERS_LIMIT]],
                organization=_bounded(info.organization) if info.organization else None,
            )

    def _say_unreadable(self, report: AuditReport, total: int) -> None:
        """Say which projects could not be audited: once, until that changes."""
        for what, found, level in (
            ("missing", report.missing, logging.INFO),
            ("unreadable", report.unreadable, logging.WARNING),
        ):
            now = frozenset(found)
            if now and now != self._said[what]:
                shown = sorted(now)[:_NAMES_LOGGED]
                more = f" and {len(now) - len(shown)} more" if len(now) > len(shown) else ""
                log.log(
                    level,
                    "ownership audit: roles of %d of our %d public projects unknown, not"
                    " audited this time (%s%s); %s: %s",
                    len(now),
                    total,
                    ", ".join(shown),
                    more,
                    shown[0],
                    found[shown[0]],
                )
            elif not now and self._said[what] and what == "unreadable":
                log.info("ownership audit: the roles of our public projects can be read again")
            self._said[what] = now


def strangers_of(info: ProjectInfo, catalog: Catalog) -> list[RoleGrant]:
    """Every role on our own project held by somebody not among ``catalog``'s owners.

    The details list role holders without their roles: each counts as holding one. An
    organization that is not ours holds the project too (a transfer out looks like that).
    """
    grants: list[RoleGrant] = []
    seen: set[str] = set()
    for user in info.owners:
        if user.lower() not in catalog.owners and user.lower() not in seen:
            seen.add(user.lower())
            grants.append(RoleGrant(role=ROLE_HOLDER, user=_bounded(user)))
    org = info.organization
    if org is not None and org.lower() not in catalog.owners:
        grants.append(RoleGrant(role=ORGANIZATION, user=_bounded(org)))
    return grants


def _bounded(name: str) -> str:
    # Names come from the index: a hostile one must not flood the alert (the key is
    # bounded on its own, the same way on both paths).
    return clean_text(name, _USER_LIMIT) or ""
