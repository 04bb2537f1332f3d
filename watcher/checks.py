"""On-demand verdicts: "is this name safe?" (shared by the HTTP API and the CLI)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from packaging.utils import NormalizedName

from watcher.acceptance import Acceptance, would_accept
from watcher.catalog.model import Catalog
from watcher.errors import ProjectNotFound
from watcher.matching import Match, MatchKind, Risk, assess_risk
from watcher.matching.live import LiveCatalog
from watcher.matching.public_names import PublicNames
from watcher.matching.risk import Assessment, assess_matches, strongest
from watcher.names import canonical
from watcher.pypi import ProjectInfo
from watcher.pypi.models import ReleaseInfo

LOOKALIKES_SHOWN = 50  # public look-alikes listed in a verdict (the total is given too)


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
        extra: dict[str, Any] = {}
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
        known: PublicNames | None = None,
    ) -> None:
        self._catalog = catalog
        self._client = client
        self._confirm = confirm_index
        self._known = known

    @property
    def catalog(self) -> LiveCatalog:
        """The catalog names are checked against."""
        return self._catalog

    async def check(self, name: str, *, lookalikes: bool = True) -> Verdict:
        """The verdict for ``name`` (without ``lookalikes``: no public look-alikes and
        no ultra-normalized collision check, for the many names of a dependency file).

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
        )
        if not exists or allowed or not matches:
            return verdict  # a free name (or ours): nothing public to weigh versions of
        # An existing public project: the one risk model, the alerts' own.
        releases = await self._releases(norm, matches, view.catalog)
        assessed = assess_matches(matches, view.catalog, releases)
        top = strongest(assessed)[1]
        return replace(verdict, risk=top.risk, assessment=top, assessed=assessed)

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
