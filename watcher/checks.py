"""On-demand verdicts: "is this name safe?" (shared by the HTTP API and the CLI)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from packaging.utils import NormalizedName

from watcher.catalog import Catalog
from watcher.matching import Match, Matcher, Risk, assess_risk
from watcher.names import canonical
from watcher.pypi import IndexClient


@dataclass(frozen=True)
class Verdict:
    """Everything we can say about one name right now."""

    name: NormalizedName
    internal: bool
    allowed: bool
    public_exists: bool
    matches: list[Match]
    risk: Risk

    def to_json(self) -> dict[str, Any]:
        """The HTTP API's (and ``watcher check --json``'s) representation."""
        return {
            "name": self.name,
            "internal": self.internal,
            "allowlisted": self.allowed,
            "public_exists": self.public_exists,
            "risk": str(self.risk),
            "matches": [
                {
                    "kind": str(m.kind),
                    "internal_name": m.internal_name,
                    "public_name": m.public_name,
                    "detail": m.detail,
                    "severity": str(m.severity),
                }
                for m in self.matches
            ],
        }


class NameChecker:
    """Validates a name, matches it against the catalog and asks the index if it exists."""

    def __init__(self, catalog: Catalog, matcher: Matcher, client: IndexClient) -> None:
        self._catalog = catalog
        self._matcher = matcher
        self._client = client

    async def check(self, name: str) -> Verdict:
        """The verdict for ``name``.

        Raises :class:`~watcher.errors.InvalidName` before any request is made, and
        :class:`~watcher.errors.IndexClientError` when the index cannot be asked.
        """
        norm = canonical(name)
        matches = self._matcher.match(norm)
        exists = await self._client.exists(norm)
        allowed = self._catalog.is_allowed(norm)
        return Verdict(
            name=norm,
            internal=self._catalog.is_internal(norm),
            allowed=allowed,
            public_exists=exists,
            matches=matches,
            risk=assess_risk(matches, public_exists=exists, allowed=allowed),
        )
