"""The catalog as the rest of the daemon sees it: canonical names, prefixes, allowlist, owners."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from packaging.utils import NormalizedName


@dataclass(frozen=True)
class Catalog:
    """Internal names and namespaces, all keyed by their PEP 503 canonical form.

    ``names`` and ``prefixes`` map the canonical form to the spelling the catalog used, so
    alerts quote the name as the company writes it.
    """

    names: Mapping[NormalizedName, str] = field(default_factory=dict)
    prefixes: Mapping[NormalizedName, str] = field(default_factory=dict)
    allow: frozenset[NormalizedName] = frozenset()
    # PyPI user names or organization slugs (lower case) that are us: a public project they
    # own is one of ours, not a squat.
    owners: frozenset[str] = frozenset()

    def is_internal(self, name: NormalizedName) -> bool:
        """True if ``name`` (canonical) is one of our internal package names."""
        return name in self.names

    def is_allowed(self, name: NormalizedName) -> bool:
        """True if the public project ``name`` (canonical) is ours and never alerted."""
        return name in self.allow

    def owned_by_us(self, users: set[str], organization: str | None) -> bool:
        """True if a public project's owners or organization include one of ours."""
        if organization is not None and organization.lower() in self.owners:
            return True
        return any(user.lower() in self.owners for user in users)

    def display(self, name: NormalizedName) -> str:
        """The catalog's own spelling of an internal name or prefix."""
        return self.names.get(name) or self.prefixes.get(name) or name
