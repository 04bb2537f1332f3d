"""Roles on our own public projects held by strangers: the alerts they deserve.

Both the change log (through the pipeline) and the ownership audit (reading the JSON
details on every catalog reload) report such roles; a stranger's role is alerted once,
whichever saw it first (:mod:`watcher.store.ownership` keeps the keys). The recorder
queues what :func:`role_alerts` returns, in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from packaging.utils import NormalizedName

from watcher.alerts.messages import AlertKind, AlertMatch, AlertMessage, RoleGrant
from watcher.pypi import ProjectInfo
from watcher.store import Session, history, ownership

# The role of a grant whose role the index did not say (the JSON details are read for
# role holders, not their roles): alerted once per user, whatever their role.
ROLE_HOLDER = "role holder"
# The "role" of an organization that holds our project and is not one of our owners.
ORGANIZATION = "organization"
# A takeover of one of our own projects can ship code to everyone who installs it.
SEVERITY = "critical"


async def role_alerts(
    session: Session,
    link: Callable[[str, str | None], str],
    public: NormalizedName,
    display: str,
    grants: Sequence[RoleGrant],
    *,
    change: str,
    source: str,
    owners: Sequence[str] = (),
    organization: str | None = None,
) -> list[tuple[str, AlertMessage]]:
    """One (outbox key, message) per grant not alerted yet, in ``grants``' order."""
    alerts = []
    for grant in grants:
        role = None if grant.role == ROLE_HOLDER else grant.role
        if await ownership.role_alerted(session, public, grant.user, role):
            continue
        if role is None:
            detail = f"{grant.user} holds a role"
        elif role == ORGANIZATION:
            detail = f"the project is in organization {grant.user}"
        else:
            detail = f"{grant.user} became {grant.role}"
        message = AlertMessage(
            kind=AlertKind.OURS,
            public_name=public,
            display_name=display,
            matches=[
                AlertMatch(
                    internal_name=public,
                    internal_display=display,
                    kind="ours",
                    detail=f"{detail}; not one of the catalog's owners",
                    severity=SEVERITY,
                )
            ],
            severity=SEVERITY,
            project_url=link(public, None),
            source=source,
            change=change,
            owners=list(owners),
            organization=organization,
            grants=[grant],
        )
        alerts.append((ownership.role_key(public, grant.user, role), message))
    return alerts


async def record_ours(session: Session, info: ProjectInfo, now: datetime) -> None:
    """Record a public project owned by one of our owners as ours, with its details
    (owners and organization among them): audited from now on, whoever holds its roles."""
    await history.upsert_project(
        session,
        info.canonical,
        info.name,
        now,
        history.ProjectDetails(
            latest_version=info.latest_version,
            summary=info.summary,
            author=info.author,
            author_email=info.author_email,
            owners=list(info.owners),
            organization=info.organization,
            last_serial=info.last_serial,
        ),
    )
    await ownership.mark_ours(session, info.canonical)
