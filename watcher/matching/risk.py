"""The one risk model: how dangerous a public project is, from the match and both sides'
versions. Pure functions, no I/O.

pip, given our private index and the public one (``--extra-index-url``), installs the
highest version it finds on either. So for a public project with exactly our name:

======== ==================================================================================
risk     when
======== ==================================================================================
critical exact name, not ours, and the public highest version is above our highest, or
         equal to one of ours with other files, or we cannot tell (our versions unknown,
         the public versions unknown, a public version that is not PEP 440)
high     exact name with every public version below ours (or equal, with the same files);
         any public project under one of our prefixes
medium   separator, typo, reorder and affix look-alikes; confusable/look-alike prefixes
low      near our prefixes (glued, one edit, affix words before)
none     our own public project (allowlisted or owned by our owners)
======== ==================================================================================

(confusable and look-alike names stay ``high``, as their kinds always were.)

Choices, each on the side of "cannot tell it is lower":

- **pre-releases count.** pip skips them unless asked (``--pre``), but takes them when they
  are all that satisfies a requirement (``acme-billing>4.2``) or when a requirement names
  one; a public ``99.0rc1`` above our ``4.2.0`` is one such requirement away from being
  installed. The reason says when the highest public version is a pre-release.
- **yanked releases count**: pip still installs a yanked release pinned with ``==``.
- **a version that is not PEP 440** cannot be compared: for an exact name it is critical.
- **files**: a public version equal to one of ours is harmless only when every public file
  of it is one of ours (SHA-256); unknown digests on either side count as other files.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from packaging.version import InvalidVersion, Version

from watcher.catalog.model import Catalog, InternalPackage
from watcher.matching.model import KIND_SEVERITY, Match, MatchKind, Risk
from watcher.pypi.models import ReleaseInfo
from watcher.text import printable

# Versions come from the index (hostile): those quoted in a reason are clipped and shown
# with control characters escaped; the reason is plain text, escaped again where shown.
_SHOWN = 64


@dataclass(frozen=True)
class Assessment:
    """The risk of one match, why, and both sides' highest versions.

    ``predates`` is True when the public project's first upload is older than our first
    internal upload (a real project we collided with, not a squat); ``None`` when either
    time is unknown.
    """

    risk: Risk
    reason: str
    predates: bool | None = None
    our_highest: str | None = None
    public_highest: str | None = None


def assess(
    kind: MatchKind,
    ours: InternalPackage | None,
    releases: Sequence[ReleaseInfo] | None,
    *,
    allowed: bool = False,
    severity: Risk | None = None,
) -> Assessment:
    """The risk of an existing public project matched by ``kind``.

    ``ours`` is what our private indexes say of the internal name (``None``: nothing, our
    versions are unknown); ``releases`` the public project's releases (``None`` or empty:
    unknown, the details could not be had or list nothing); ``allowed``: the public
    project is ours (allowlisted or owned by our owners); ``severity`` the match's own
    severity (its kind's, or lower for a weak score), used for look-alikes.
    """
    our_highest = _spelling(ours) if ours is not None else None
    public = _Public.of(releases or ())
    predates = _predates(ours, releases or ())

    def verdict(risk: Risk, reason: str) -> Assessment:
        return Assessment(risk, reason, predates, our_highest, public.highest_text)

    if allowed:
        return verdict(Risk.NONE, "our own public project")
    if kind == MatchKind.PREFIX:
        return verdict(Risk.HIGH, "a public project under our prefix")
    if kind != MatchKind.EXACT:
        what = "prefix" if kind.on_prefix else "name"
        # The match's own severity when known: its score can lower its kind's (issue 13).
        shown = KIND_SEVERITY[kind] if severity is None else severity
        return verdict(shown, f"a {kind} look-alike of our {what}")
    critical = _exact_critical(ours, public)
    if critical is not None:
        return verdict(Risk.CRITICAL, critical)
    # _exact_critical returned a reason unless both are known.
    assert ours is not None
    assert ours.highest is not None
    if public.highest == ours.highest:
        reason = f"public {_shown(public.highest_text)} has the same files as ours"
    else:
        reason = (
            f"every public version is below ours: public {_shown(public.highest_text)}, "
            f"ours {_shown(our_highest)}"
        )
    return verdict(Risk.HIGH, reason)


def assess_matches(
    matches: Iterable[Match],
    catalog: Catalog,
    releases: Sequence[ReleaseInfo] | None,
    *,
    allowed: bool = False,
) -> dict[Match, Assessment]:
    """Each match of one existing public project, assessed (see :func:`assess`)."""
    return {
        m: assess(
            m.kind,
            catalog.package(m.internal_name),
            releases,
            allowed=allowed,
            severity=m.severity,
        )
        for m in matches
    }


def strongest(assessments: dict[Match, Assessment]) -> tuple[Match, Assessment]:
    """The highest-risk match (ties: the first in the engine's order, strongest kind)."""
    return max(assessments.items(), key=lambda item: item[1].risk)


@dataclass(frozen=True)
class _Public:
    """The public side: highest comparable version, and versions we cannot compare."""

    releases: tuple[ReleaseInfo, ...]
    parsed: tuple[tuple[Version, ReleaseInfo], ...]
    invalid: tuple[str, ...]

    @classmethod
    def of(cls, releases: Sequence[ReleaseInfo]) -> _Public:
        parsed, invalid = [], []
        for release in releases:
            version = _version(release.version)
            if version is None:
                invalid.append(release.version)
            else:
                parsed.append((version, release))
        return cls(tuple(releases), tuple(parsed), tuple(invalid))

    @property
    def highest(self) -> Version | None:
        return max((v for v, _ in self.parsed), default=None)

    @property
    def highest_text(self) -> str | None:
        """The highest comparable version as the index spells it (else an invalid one)."""
        highest = self.highest
        if highest is None:
            return self.invalid[-1] if self.invalid else None
        return next(r.version for v, r in self.parsed if v == highest)


def _exact_critical(ours: InternalPackage | None, public: _Public) -> str | None:
    """Why an exact collision is critical, or None when it is not."""
    if ours is None or ours.highest is None:
        return "our versions are unknown: no private index lists this name with a version"
    if not public.releases:
        return "the public versions are unknown"
    if public.invalid:
        return (
            f"public version {_shown(public.invalid[0])} is not PEP 440: "
            "cannot tell it is below ours"
        )
    highest = public.highest
    assert highest is not None  # every release parsed
    if highest > ours.highest:
        pre = " (a pre-release: pip takes it with --pre or a requirement only it meets)"
        return (
            f"public {_shown(public.highest_text)} is above our highest "
            f"{_shown(_spelling(ours))}" + (pre if highest.is_prerelease else "")
        )
    mine = {v for v in map(_version, ours.versions) if v is not None}
    for version, release in public.parsed:
        if version in mine and not _same_files(release, ours):
            return (
                f"public {_shown(release.version)} equals one of ours with other files "
                "(or files whose digests are unknown): version pins do not tell them apart"
            )
    return None


def _same_files(release: ReleaseInfo, ours: InternalPackage) -> bool:
    # Unknown digests (a release a feed announced, one read back from the store, a file
    # whose digest the index did not give) are never taken for ours.
    if not release.digests or len(release.digests) < len(release.files):
        return False  # some file's digest is unknown: cannot tell it is one of ours
    return set(release.digests) <= ours.hashes


def _predates(ours: InternalPackage | None, releases: Sequence[ReleaseInfo]) -> bool | None:
    first_ours = ours.first_upload if ours is not None else None
    first_public = first_public_upload(releases)
    if first_ours is None or first_public is None:
        return None
    return first_public < first_ours


def first_public_upload(releases: Sequence[ReleaseInfo]) -> datetime | None:
    """When the public project's first known file was uploaded."""
    return min((r.upload_time for r in releases if r.upload_time), default=None)


def _spelling(ours: InternalPackage) -> str | None:
    """Our highest version as our index spells it."""
    highest = ours.highest
    if highest is None:
        return None
    return next(v for v in reversed(ours.versions) if _version(v) == highest)


def _version(text: str) -> Version | None:
    # ValueError too: a release segment of thousands of digits exceeds int()'s limit.
    try:
        return Version(text)
    except (InvalidVersion, ValueError):
        return None


def _shown(version: str | None) -> str:
    return printable(version, _SHOWN)
