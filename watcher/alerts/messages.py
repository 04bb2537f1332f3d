"""The alert message: what the pipeline tells security, as a typed record, and its wording.

The pipeline states facts (which project, which internal names, what happened); the words
of the notification live here, with the rendering. A message is stored in the outbox as
JSON (:meth:`AlertMessage.to_payload`) and read back for delivery
(:meth:`AlertMessage.from_payload`), which also reads the payloads of earlier versions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class AlertKind(StrEnum):
    """What happened, as far as security is concerned."""

    NEW = "new"  # a public project collides with internal names (new findings)
    RELEASE = "release"  # a new release of a reported squat
    REOPENED = "reopened"  # a removed squat is back
    OWNER = "owner"  # ownership changed on a reported squat
    CAME_AND_WENT = "came_and_went"  # created and removed before anything looked at it
    REMOVED = "removed"  # a reported squat was removed from the index
    OURS = "ours"  # somebody not among our owners gained a role on our own project
    SOURCE_DOWN = "source_down"  # a catalog source (private index) failing for too long
    SOURCE_BACK = "source_back"  # ... and readable again
    RISK = "risk"  # a reported squat's risk rose (a public release above ours, ...)


# Per kind: the start of the notification text, and the message's header.
_WORDING = {
    AlertKind.NEW: ("Possible squat on PyPI", "Possible squat of an internal package"),
    AlertKind.RELEASE: (
        "New release of a reported squat on PyPI",
        "New release of a reported squat",
    ),
    AlertKind.REOPENED: ("Squat back on PyPI", "A removed squat is back"),
    AlertKind.OWNER: (
        "Ownership changed on a reported squat on PyPI",
        "Ownership change on a squat",
    ),
    AlertKind.CAME_AND_WENT: (
        "Squat appeared on PyPI and was removed before it was looked at",
        "A squat came and went",
    ),
    AlertKind.REMOVED: ("Removed from PyPI", "Squat removed from the index"),
    AlertKind.OURS: (
        "Role change on our own PyPI project",
        "Role change on our own public project",
    ),
    AlertKind.SOURCE_DOWN: ("Watch source failing", "A source is failing"),
    AlertKind.SOURCE_BACK: ("Watch source working again", "A source recovered"),
    AlertKind.RISK: ("Risk rose on a reported squat on PyPI", "Risk rose on a reported squat"),
}

# Our versions listed in a message: the newest few (a long history says nothing more).
OUR_VERSIONS_SHOWN = 10


@dataclass(frozen=True)
class AlertMatch:
    """One internal name (or prefix) the public project hits, or one role gained (OURS)."""

    internal_name: str
    internal_display: str
    kind: str
    detail: str
    severity: str


@dataclass(frozen=True)
class RoleGrant:
    """A role on our own project given to somebody who is not among our owners."""

    role: str
    user: str


@dataclass(frozen=True)
class AlertMessage:
    """One alert about one public project."""

    kind: AlertKind
    public_name: str
    display_name: str
    matches: list[AlertMatch]
    severity: str
    project_url: str | None
    source: str
    version: str | None = None
    change: str | None = None  # what changed, in the index's words
    summary: str | None = None
    author: str | None = None
    owners: list[str] = field(default_factory=list)
    organization: str | None = None
    first_release: str | None = None  # ISO time of the first upload
    grants: list[RoleGrant] = field(default_factory=list)  # OURS only
    # The risk from both sides' versions (``severity`` is its level): why, our highest
    # version and the newest few of ours, the public highest, whether the public project
    # predates our first internal upload, and (RISK) the level it rose from.
    risk_reason: str | None = None
    our_highest: str | None = None
    our_versions: list[str] = field(default_factory=list)
    public_highest: str | None = None
    predates: bool | None = None
    previous_severity: str | None = None
    # The findings the alert is about that people can still act on (its Slack buttons).
    finding_ids: list[int] = field(default_factory=list)

    @property
    def title(self) -> str:
        """The message's header."""
        return _WORDING[self.kind][1]

    @property
    def section(self) -> str:
        """What follows the project's name in the message body."""
        if self.kind == AlertKind.OURS:
            return "gained role holders who are not among the catalog's owners:"
        if self.kind == AlertKind.SOURCE_DOWN:
            return "is failing."
        if self.kind == AlertKind.SOURCE_BACK:
            return "works again."
        return "collides with:"

    @property
    def about_a_source(self) -> bool:
        """True for notices about a catalog source, not about a public project."""
        return self.kind in (AlertKind.SOURCE_DOWN, AlertKind.SOURCE_BACK)

    @property
    def text(self) -> str:
        """The one-line notification (also what the log says)."""
        lead = _WORDING[self.kind][0]
        if self.about_a_source:
            # display_name is the index's URL (never with credentials), change what happened.
            return f"{lead}: {self.display_name}: {self.change}"
        if self.kind == AlertKind.REMOVED:
            return (
                f"{lead}: {self.public_name} is gone; resolved its findings against {self._hits()}"
            )
        if self.kind == AlertKind.OURS:
            names = ", ".join(f"{g.user} ({g.role})" for g in self.grants)
            return f"{lead}: {self.display_name}: {self.change} ({names} not among our owners)"
        change = f" ({self.change})" if self.change else ""
        if self.kind == AlertKind.RISK and self.previous_severity:
            change += f" ({self.previous_severity} to {self.severity})"
        risk = f"; risk {self.severity}: {self.risk_reason}" if self.risk_reason else ""
        if self.predates:
            risk += "; the public project predates our first internal upload"
        return (
            f"{lead}: {self.display_name} {self.version or '(no release)'}{change} "
            f"collides with {self._hits()}{risk}"
        )

    def _hits(self) -> str:
        return "; ".join(f"internal {m.internal_display!r} ({m.kind})" for m in self.matches)

    def to_payload(self) -> dict[str, Any]:
        """The JSON stored in the outbox (``text`` and ``title`` included for readers of
        the table)."""
        return {
            "event": str(self.kind),
            "title": self.title,
            "text": self.text,
            "public_name": self.public_name,
            "display_name": self.display_name,
            "version": self.version,
            "source": self.source,
            "severity": self.severity,
            "change": self.change,
            "matches": [vars(m) for m in self.matches],
            "grants": [vars(g) for g in self.grants],
            "summary": self.summary,
            "author": self.author,
            "owners": list(self.owners),
            "organization": self.organization,
            "project_url": self.project_url,
            "first_release": self.first_release,
            "risk_reason": self.risk_reason,
            "our_highest": self.our_highest,
            "our_versions": list(self.our_versions),
            "public_highest": self.public_highest,
            "predates": self.predates,
            "previous_severity": self.previous_severity,
            "finding_ids": list(self.finding_ids),
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> AlertMessage:
        """Read a stored payload back (also one written before messages were typed)."""
        return cls(
            kind=AlertKind(payload.get("event") or AlertKind.NEW),
            public_name=str(payload["public_name"]),
            display_name=str(payload.get("display_name") or payload["public_name"]),
            matches=[
                AlertMatch(
                    internal_name=str(m["internal_name"]),
                    internal_display=str(m.get("internal_display") or m["internal_name"]),
                    kind=str(m["kind"]),
                    detail=str(m.get("detail") or ""),
                    severity=str(m.get("severity") or ""),
                )
                for m in payload.get("matches") or []
            ],
            severity=str(payload.get("severity") or ""),
            project_url=payload.get("project_url"),
            source=str(payload.get("source") or "index"),
            version=payload.get("version"),
            change=payload.get("change"),
            summary=payload.get("summary"),
            author=payload.get("author"),
            owners=[str(o) for o in payload.get("owners") or []],
            organization=payload.get("organization"),
            first_release=payload.get("first_release"),
            grants=[RoleGrant(str(g["role"]), str(g["user"])) for g in payload.get("grants") or []]
            or _grants_of_old(payload),
            # Absent from payloads stored before risks were assessed from versions.
            risk_reason=_text(payload.get("risk_reason")),
            our_highest=_text(payload.get("our_highest")),
            our_versions=[str(v) for v in payload.get("our_versions") or []],
            public_highest=_text(payload.get("public_highest")),
            predates=payload["predates"] if isinstance(payload.get("predates"), bool) else None,
            previous_severity=_text(payload.get("previous_severity")),
            finding_ids=_ids(payload.get("finding_ids")),
        )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _ids(value: Any) -> list[int]:
    # Absent from payloads stored before findings had buttons; anything but ids is dropped.
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, int) and not isinstance(v, bool) and v > 0]


def _grants_of_old(payload: dict[str, Any]) -> list[RoleGrant]:
    # Payloads written before grants were a field said them in the details only:
    # "mallory became Owner; not one of the catalog's owners".
    if payload.get("event") != AlertKind.OURS:
        return []
    grants = []
    for match in payload.get("matches") or []:
        user, _, rest = str(match.get("detail") or "").partition(" became ")
        role = rest.partition(";")[0]
        if user and role:
            grants.append(RoleGrant(role, user))
    return grants
