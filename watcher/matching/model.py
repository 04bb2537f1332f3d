"""What a match is, how severe each kind is, and the risk verdict built from matches."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum, StrEnum

from packaging.utils import NormalizedName


class MatchKind(StrEnum):
    """Why a public name was matched to an internal one. Stored in the database: never rename."""

    EXACT = "exact"
    PREFIX = "prefix"


class Risk(IntEnum):
    """Ordered verdict; ``str(risk)`` is the lower-case name used in the API."""

    NONE = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    def __str__(self) -> str:
        return self.name.lower()


# Default severity of an existing public project matched by each kind.
KIND_SEVERITY: dict[MatchKind, Risk] = {
    # Same canonical name: pip treats it as our package and picks the highest version.
    MatchKind.EXACT: Risk.CRITICAL,
    # Inside our namespace: a plausible future internal name, or bait for a typo.
    MatchKind.PREFIX: Risk.HIGH,
}


@dataclass(frozen=True, order=True)
class Match:
    """One public name hitting one internal name or prefix, and why."""

    public_name: NormalizedName
    internal_name: NormalizedName
    kind: MatchKind
    detail: str

    @property
    def severity(self) -> Risk:
        """Severity of this match when the public project exists."""
        return KIND_SEVERITY[self.kind]


def assess_risk(matches: Iterable[Match], *, public_exists: bool, allowed: bool) -> Risk:
    """The verdict for one name.

    - an allowlisted (our own) public project: ``none``;
    - matches and the public project exists: the strongest match's severity;
    - matches but the name is still free: ``medium``, since anyone can register it and pip
      would then prefer it;
    - no match: ``none``.
    """
    found = list(matches)
    if allowed or not found:
        return Risk.NONE
    if not public_exists:
        return Risk.MEDIUM
    return max(m.severity for m in found)
