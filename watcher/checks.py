"""On-demand verdicts: "is this name safe?" (shared by the HTTP API and the CLI)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from packaging.utils import NormalizedName

if TYPE_CHECKING:
    from watcher.store.known import StoredProject

from watcher.acceptance import Acceptance, would_accept
from watcher.catalog.model import Catalog
from watcher.errors import ProjectNotFound
from watcher.matching import Match, MatchKind, Risk, assess_risk
from watcher.matching.live import LiveCatalog
from watcher.matching.risk import Assessment, assess_matches, strongest
from watcher.names import canonical
from watcher.pypi import ProjectInfo
from watcher.pypi.models import ReleaseInfo

LOOKALIKES_SHOWN = 50  # public look-alikes listed in a verdict (the total is given too)


class StoredDetails(Protocol):
    """What the store keeps of public projects (a
    :class:`~watcher.sources.known_names.KnownNames`)."""

    def project(self, name: str) -> StoredProject | None:
        """The stored project ``name`` with its open findings, if the store has it."""


class KnownPublicNames(Protocol):
    """The public names the store knows: the service's
    :class:`~watcher.matching.public_names.PublicNames` (an index, kept in step), or a
    one-shot command's :class:`~watcher.matching.public_names.ListedNames` (one read)."""

    @property
    def as_of(self) -> datetime | None:
        """When the store was read for these answers (None: not built yet)."""

    def contains(self, name: str) -> bool | None:
        """Whether canonical ``name`` is known to be on the index (None: not built yet)."""

    def similar(self, name: NormalizedName) -> list[Match] | None:
        """Known public names that look like ``name``, without ``name`` itself (None: not
        built yet)."""


class IndexLookup(Protocol):
    """What a :class:`NameChecker` asks of the index: an :class:`~watcher.pypi.IndexClient`,
    or the HTTP API's limited :class:`~watcher.web.lookups.IndexLookups`."""

    @property
    def confirmed(self) -> bool:
        """True once the index's base URL was confirmed."""

    async def confirm_index(self) -> None:
        """Make sure the base URL is a package index."""

    async def exists(self, name: str) -> bool:
        """Whether ``name`` is registered on the index."""

    async def project(self, name: str) -> ProjectInfo:
        """The public project's details (raises :class:`ProjectNotFound` on a JSON 404)."""


@dataclass(frozen=True)
class Verdict:
    """Everything we can say about one name right now."""

    name: NormalizedName
    internal: bool
    allowed: bool
    public_exists: bool
    matches: list[Match]
    risk: Risk
    # The risk model's word on an existing public project (none for a free name).
    assessment: Assessment | None = None
    assessed: dict[Match, Assessment] = field(default_factory=dict)
    # Where ``public_exists`` comes from: "store" (the stored listing, as of ``as_of``) or
    # "index" (asked now).
    basis: str = "index"
    as_of: datetime | None = None
    # Known public names that look like this one (None: the store's view is not built yet).
    lookalikes: list[Match] | None = None
    acceptance: Acceptance | None = None
    # What the store keeps of the public project (it matched the catalog), and our versions.
    stored: StoredProject | None = None
    our_versions: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The HTTP API's (and ``watcher check --json``'s) representation."""
        return {
            "name": self.name,
            "internal": self.internal,
            "allowlisted": self.allowed,
            "public_exists": self.public_exists,
            "basis": {
                "source": self.basis,
                "as_of": self.as_of.isoformat() if self.as_of is not None else None,
            },
            "risk": str(self.risk),
            **self._assessment_json(),
            "matches": [
                {
                    "kind": str(m.kind),
                    "internal_name": m.internal_name,
                    "public_name": m.public_name,
                    "detail": m.detail,
                    "severity": str(self.assessed[m].risk if m in self.assessed else m.severity),
                    "score": m.score,
                }
                for m in self.matches
            ],
            **self._public_json(),
        }

    def _public_json(self) -> dict[str, Any]:
        extra: dict[str, Any] = {
            "reason": reason_of(self),
            "remediation": remediation_of(self),
        }
        if self.internal:
            extra["our_versions"] = list(self.our_versions[-20:])
        stored = self.stored
        if stored is not None:
            extra["public_project"] = {
                "name": stored.name,
                "latest_version": stored.latest_version,
                "first_release": (
                    stored.first_release.isoformat() if stored.first_release else None
                ),
                "owners": list(stored.owners),
                "ours": stored.ours,
            }
            extra["findings"] = [
                {
                    "id": f.id,
                    "internal_name": f.internal_name,
                    "kind": f.kind,
                    "status": f.status,
                    "risk": f.risk,
                }
                for f in stored.findings
            ]
        if self.acceptance is not None:
            extra["index_would_accept"] = self.acceptance.to_json()
        if self.lookalikes is not None:
            extra["public_lookalikes"] = [
                {
                    "public_name": m.public_name,
                    "kind": str(m.kind),
                    "detail": m.detail,
                    "severity": str(m.severity),
                    "score": m.score,
                }
                for m in self.lookalikes[:LOOKALIKES_SHOWN]
            ]
            extra["public_lookalikes_total"] = len(self.lookalikes)
        return extra

    def _assessment_json(self) -> dict[str, Any]:
        # Only for an existing public project: a free name has no versions to weigh.
        top = self.assessment
        if top is None:
            return {}
        return {
            "risk_reason": top.reason,
            "our_highest": top.our_highest,
            "public_highest": top.public_highest,
            "predates": top.predates,
        }


class NameChecker:
    """Validates a name, matches it against the catalog and asks the index if it exists.

    With ``confirm_index``, the index's base URL is confirmed (once, by
    :meth:`IndexLookup.confirm_index`) before the first name is asked of it: a base URL
    that is not an index would answer "not found" for every name, and every name would
    look free.
    """

    def __init__(
        self,
        catalog: LiveCatalog,
        client: IndexLookup,
        *,
        confirm_index: bool = False,
        known: KnownPublicNames | None = None,
        details: StoredDetails | None = None,
    ) -> None:
        self._catalog = catalog
        self._client = client
        self._confirm = confirm_index
        self._known = known
        self._details = details

    @property
    def listing_as_of(self) -> datetime | None:
        """When the store's view of the public names was last read (None: not built)."""
        return self._known.as_of if self._known is not None else None

    @property
    def catalog(self) -> LiveCatalog:
        """The catalog names are checked against."""
        return self._catalog

    async def check(self, name: str, *, lookalikes: bool = True, details: bool = False) -> Verdict:
        """The verdict for ``name`` (without ``lookalikes``: no public look-alikes and
        no ultra-normalized collision check, for the many names of a dependency file; with
        ``details``: an existing public project the store does not keep is described from
        one look-up of its JSON details, shared and reused by the index look-ups).

        Raises :class:`~watcher.errors.InvalidName` before any request is made,
        :class:`~watcher.errors.NotAnIndex` when confirming the index found something else
        at its base URL, and :class:`~watcher.errors.IndexClientError` when the index
        cannot be asked.
        """
        norm = canonical(name)
        view = self._catalog.current
        matches = view.matcher.match(norm)
        known = self._known
        # A name the store knows exists is answered without a request; any other is asked
        # (a name registered since the last look must not pass for free).
        stored = known.contains(norm) if known is not None else None
        if stored:
            exists, basis, as_of = True, "store", known.as_of if known is not None else None
        else:
            if self._confirm and not self._client.confirmed:
                await self._client.confirm_index()
            exists, basis, as_of = await self._client.exists(norm), "index", None
        similar = known.similar(norm) if known is not None and lookalikes else None
        allowed = view.catalog.is_allowed(norm)
        verdict = Verdict(
            name=norm,
            internal=view.catalog.is_internal(norm),
            allowed=allowed,
            public_exists=exists,
            matches=matches,
            risk=assess_risk(matches, public_exists=exists, allowed=allowed),
            basis=basis,
            as_of=as_of,
            lookalikes=similar,
            acceptance=would_accept(
                norm, exists=exists, public_names=(m.public_name for m in similar or ())
            ),
            stored=self._details.project(norm) if self._details is not None else None,
            our_versions=_our_versions(view.catalog, norm),
        )
        if details and exists and verdict.stored is None:
            verdict = replace(verdict, stored=await self._asked(norm, view.catalog))
        if not exists or allowed or not matches:
            return verdict  # a free name (or ours): nothing public to weigh versions of
        # An existing public project: the one risk model, the alerts' own.
        releases = await self._releases(norm, matches, view.catalog)
        assessed = assess_matches(matches, view.catalog, releases)
        top = strongest(assessed)[1]
        return replace(verdict, risk=top.risk, assessment=top, assessed=assessed)

    async def _asked(self, norm: NormalizedName, catalog: Catalog) -> StoredProject | None:
        """An existing public project described from its JSON details (None on a 404)."""
        from watcher.store.known import StoredProject  # light: dataclasses only

        try:
            info = await self._client.project(norm)
        except ProjectNotFound:
            return None
        uploads = [r.upload_time for r in info.releases if r.upload_time is not None]
        return StoredProject(
            name=info.name,
            latest_version=info.latest_version,
            first_release=min(uploads) if uploads else None,
            owners=info.owners,
            ours=catalog.owned_by_us(set(info.owners), info.organization),
        )

    async def _releases(
        self, norm: NormalizedName, matches: list[Match], catalog: Catalog
    ) -> tuple[ReleaseInfo, ...] | None:
        """The public releases, asked only when they can change the verdict: an exact match
        whose versions the catalog knows. ``None`` (unknown: critical) on a JSON 404."""
        needed = any(
            m.kind == MatchKind.EXACT
            and (ours := catalog.package(m.internal_name)) is not None
            and ours.highest is not None
            for m in matches
        )
        if not needed:
            return None
        try:
            return (await self._client.project(norm)).releases
        except ProjectNotFound:
            return None


def _our_versions(catalog: Catalog, name: NormalizedName) -> tuple[str, ...]:
    package = catalog.package(name)
    return tuple(package.versions) if package is not None else ()


def reason_of(verdict: Verdict) -> str:
    """A verdict in one line: what the name is, publicly and to us."""
    if verdict.allowed:
        return "our own public project (allowlisted)"
    if verdict.assessment is not None:
        return verdict.assessment.reason
    if verdict.internal:
        if verdict.public_exists:
            return "an internal name that exists on the public index"
        return "internal, not on the public index (anyone could register it)"
    if verdict.matches:
        top = verdict.matches[0]
        state = "exists publicly" if verdict.public_exists else "is free publicly"
        return f"looks like internal {top.internal_name!r} ({top.kind}: {top.detail}); {state}"
    if verdict.public_exists:
        return "a public project unlike any of our names"
    return "free, and unlike any of our names"


def remediation_of(verdict: Verdict) -> str:
    """What to do about the name, in one line."""
    if verdict.allowed:
        return "Nothing: it is ours."
    if verdict.internal and verdict.public_exists:
        return (
            "Someone else holds our internal name publicly: install ours only through one"
            " index endpoint that serves ours first, with hashes pinned (never"
            " --extra-index-url), and report the public project to the index's security"
            " contact."
        )
    if verdict.internal:
        return (
            "Anyone could register it: install it only through one index endpoint that serves"
            " ours first, with hashes pinned, or reserve the name publicly with a placeholder"
            " project of ours."
        )
    if verdict.matches and verdict.public_exists:
        return (
            "A public project looks like one of ours: make sure nothing installs it by"
            " mistake (requirements, lock files) and report it if it is malicious."
        )
    if verdict.matches:
        return "Free, but it looks like one of our names: pick another name for a new project."
    if verdict.acceptance is not None and not verdict.acceptance.accepted:
        return f"The index would not accept it as a new project: {verdict.acceptance.reason}."
    return "Nothing of ours at stake."
