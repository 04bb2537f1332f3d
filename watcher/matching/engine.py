"""Matchers. ``build_matcher`` is the seam: richer rules (look-alikes, typos) plug in there."""

from __future__ import annotations

from typing import Protocol

from packaging.utils import NormalizedName

from watcher.catalog import Catalog
from watcher.matching.model import Match, MatchKind


class Matcher(Protocol):
    """Matches one canonical public name against the whole catalog."""

    def match(self, public_name: NormalizedName) -> list[Match]:
        """Every match of ``public_name``, strongest first; empty for allowlisted names."""
        ...


class NamespaceMatcher:
    """Exact (after PEP 503 normalization) and prefix (``acme`` and ``acme-*``) matching."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._prefixes = sorted(catalog.prefixes)

    def match(self, public_name: NormalizedName) -> list[Match]:
        """See :class:`Matcher`."""
        catalog = self._catalog
        if catalog.is_allowed(public_name):
            return []
        found: list[Match] = []
        if public_name in catalog.names:
            found.append(
                Match(
                    public_name,
                    public_name,
                    MatchKind.EXACT,
                    f"same name as internal {catalog.names[public_name]!r} after normalization",
                )
            )
        for prefix in self._prefixes:
            if public_name == prefix:
                detail = f"is the namespace root {catalog.prefixes[prefix]!r}"
            elif public_name.startswith(prefix + "-"):
                detail = f"under the internal namespace {catalog.prefixes[prefix]!r}-*"
            else:
                continue
            found.append(Match(public_name, prefix, MatchKind.PREFIX, detail))
        found.sort(key=lambda m: (-m.severity, m.internal_name))
        return found


def build_matcher(catalog: Catalog) -> Matcher:
    """The matcher the daemon and the API use for ``catalog``."""
    return NamespaceMatcher(catalog)
