"""What a match is, how severe each kind is, and the risk verdict built from matches."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

from packaging.utils import NormalizedName


class MatchKind(StrEnum):
    """Why a public name was matched to an internal one. Stored in the database: never rename.

    The order is the order of precedence: when one public name hits one internal name
    through several rules, only the first kind in this order is reported.
    """

    EXACT = "exact"  # same PEP 503 canonical name
    SEPARATOR = "separator"  # separators added, removed or moved: acmebilling
    CONFUSABLE = "confusable"  # same ultra-normalized form (the index refuses these)
    LOOKALIKE = "lookalike"  # read-alike sequences: acrne (rn/m), vv/w, cl/d, 5/s
    TYPO = "typo"  # one insertion, deletion, substitution or adjacent swap
    REORDER = "reorder"  # same words, other order: billing-acme
    AFFIX = "affix"  # py/python/lib/sdk/api/client/core... added or removed at an end
    ALIAS = "alias"  # a name people type for it: mysql (pymysql), pytorch, requests-2
    SHORT = "short_name"  # near miss of a name of 4 chars or fewer: swap, double, look-alike
    COMBINED = "combined"  # two rules at once: separator/look-alike/affix/alias + one edit
    TWO_TYPOS = "two_typos"  # two edits of a long name: requstes, tensoflpw
    AFFIX_SWAP = "affix_swap"  # one affix swapped for another: kafka-cli for kafka-core
    COMBOSQUAT = "combosquat"  # the exact name with other words: requests-darwin-lite
    PREFIX = "prefix"  # the namespace root itself or a name under it: acme, acme-*
    PREFIX_SEPARATOR = "prefix_separator"  # root glued to the next word: acmetools
    PREFIX_CONFUSABLE = "prefix_confusable"  # the root read l/i/1, o/0 alike: g1obex-x
    PREFIX_LOOKALIKE = "prefix_lookalike"  # a look-alike of the root: acrne-tools
    PREFIX_TYPO = "prefix_typo"  # one edit of the root: acm-tools
    PREFIX_AFFIX = "prefix_affix"  # affix words before the root: python-acme-tools

    @property
    def on_prefix(self) -> bool:
        """True for kinds whose ``internal_name`` is a namespace root, not a package name."""
        return self.value.startswith("prefix")


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
    # Indistinguishable when read: copy-paste and reading errors install it.
    MatchKind.CONFUSABLE: Risk.HIGH,
    MatchKind.LOOKALIKE: Risk.HIGH,
    # Inside our namespace: a plausible future internal name, or bait for a typo.
    MatchKind.PREFIX: Risk.HIGH,
    # What a tired engineer types: classic typosquats.
    MatchKind.SEPARATOR: Risk.MEDIUM,
    MatchKind.TYPO: Risk.MEDIUM,
    MatchKind.REORDER: Risk.MEDIUM,
    MatchKind.AFFIX: Risk.MEDIUM,
    MatchKind.ALIAS: Risk.MEDIUM,
    MatchKind.SHORT: Risk.MEDIUM,
    MatchKind.COMBINED: Risk.MEDIUM,
    MatchKind.TWO_TYPOS: Risk.MEDIUM,
    MatchKind.PREFIX_CONFUSABLE: Risk.MEDIUM,
    MatchKind.PREFIX_LOOKALIKE: Risk.MEDIUM,
    # Near our namespace root: worth a look, noisy for short roots.
    MatchKind.PREFIX_SEPARATOR: Risk.LOW,
    MatchKind.PREFIX_TYPO: Risk.LOW,
    MatchKind.PREFIX_AFFIX: Risk.LOW,
    # Plausible but mostly unrelated projects: listed, never loud.
    MatchKind.AFFIX_SWAP: Risk.LOW,
    MatchKind.COMBOSQUAT: Risk.LOW,
}
# KIND_SEVERITY is each kind's ceiling: a fuzzy match whose score is below its kind's
# floor here is reported one step lower (see :mod:`watcher.matching.score`).


@dataclass(frozen=True, order=True)
class Match:
    """One public name hitting one internal name or prefix, and why."""

    public_name: NormalizedName
    internal_name: NormalizedName
    kind: MatchKind
    detail: str
    # How close the two names are, 0..1 (1: the same name); orders findings. Not part of
    # equality: the same pair matched by the same rule is the same match.
    score: float = field(default=1.0, compare=False)

    @property
    def severity(self) -> Risk:
        """Severity of this match when the public project exists: its kind's, lowered to
        ``low`` when the score is below the kind's floor (see ``severity_of``)."""
        return severity_of(self.kind, self.score)


# Per kind, the score below which a match is only ``low`` (kinds not listed keep their
# kind's severity). Chosen from bench_quality's score table: see watcher/matching/score.py.
MEDIUM_FLOOR: dict[MatchKind, float] = {
    # One edit of a name of 6 letters or fewer (0.83) is most often another word.
    MatchKind.TYPO: 0.84,
    # Two edits: medium from 12 letters (0.83); 8 to 11 letters are found, at low.
    MatchKind.TWO_TYPOS: 0.82,
    MatchKind.COMBINED: 0.8,
    MatchKind.SHORT: 0.75,
    # Affix words removed (`auth` for `auth-api`): medium only while most of the name is
    # left (0.9 x the share of the name kept).
    MatchKind.AFFIX: 0.7,
}


def severity_of(kind: MatchKind, score: float) -> Risk:
    """The severity of a match of ``kind`` with ``score``."""
    ceiling = KIND_SEVERITY[kind]
    floor = MEDIUM_FLOOR.get(kind)
    if floor is not None and score < floor and ceiling > Risk.LOW:
        return Risk.LOW
    return ceiling


def assess_risk(matches: Iterable[Match], *, public_exists: bool, allowed: bool) -> Risk:
    """The verdict for one name.

    - an allowlisted (our own) public project: ``none``;
    - matches and the public project exists: the strongest match's severity;
    - the name is still free: ``medium`` when it is ours (exact or inside a prefix), since
      anyone can register it and pip would then prefer it; ``low`` when it only resembles
      ours (registering it would make a look-alike);
    - no match: ``none``.
    """
    found = list(matches)
    if allowed or not found:
        return Risk.NONE
    if not public_exists:
        ours = any(m.kind in (MatchKind.EXACT, MatchKind.PREFIX) for m in found)
        return Risk.MEDIUM if ours else Risk.LOW
    return max(m.severity for m in found)
