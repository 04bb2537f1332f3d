"""The live catalog: the catalog in use and its matcher, swapped atomically on reload.

It lives with matching (not in ``catalog/``) because it holds a matcher: the catalog
package knows nothing of matching, matching builds on the catalog.

Everything that matches (the pipeline, the sources, the name check) asks the holder for
the current :class:`CatalogView` once per unit of work and uses that snapshot throughout,
so a reload in the middle of a poll never mixes two catalogs in one decision.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from packaging.utils import NormalizedName

from watcher.catalog.files import read_catalog_file
from watcher.catalog.model import Catalog
from watcher.matching.engine import Matcher, build_matcher


@dataclass(frozen=True)
class CatalogView:
    """One loaded catalog with the matcher built for it."""

    catalog: Catalog
    matcher: Matcher
    source: str
    digest: str
    loaded_at: datetime


@dataclass(frozen=True)
class CatalogChange:
    """What a reload changed: entries added and removed (canonical names)."""

    added_names: frozenset[NormalizedName] = frozenset()
    removed_names: frozenset[NormalizedName] = frozenset()
    added_prefixes: frozenset[NormalizedName] = frozenset()
    removed_prefixes: frozenset[NormalizedName] = frozenset()
    other: bool = False  # allowlist or owners changed

    @property
    def empty(self) -> bool:
        """Nothing changed that matching could notice."""
        return not (
            self.added_names
            or self.removed_names
            or self.added_prefixes
            or self.removed_prefixes
            or self.other
        )


def diff(old: Catalog, new: Catalog) -> CatalogChange:
    """What changed from ``old`` to ``new``."""
    return CatalogChange(
        added_names=frozenset(new.names.keys() - old.names.keys()),
        removed_names=frozenset(old.names.keys() - new.names.keys()),
        added_prefixes=frozenset(new.prefixes.keys() - old.prefixes.keys()),
        removed_prefixes=frozenset(old.prefixes.keys() - new.prefixes.keys()),
        other=old.allow != new.allow or old.owners != new.owners,
    )


def load_view(path: Path, now: datetime) -> CatalogView:
    """Read, validate and index a catalog file; :class:`CatalogError` if it is unusable."""
    catalog, digest = read_catalog_file(path)
    return CatalogView(catalog, build_matcher(catalog), str(path), digest, now)


def view_of(catalog: Catalog, source: str, now: datetime) -> CatalogView:
    """A view of a catalog built in memory (tests, one-off commands)."""
    digest = hashlib.sha256(repr(catalog).encode()).hexdigest()
    return CatalogView(catalog, build_matcher(catalog), source, digest, now)


@dataclass
class LiveCatalog:
    """Holds the current :class:`CatalogView`; :meth:`swap` replaces it in one assignment."""

    _view: CatalogView
    last_error: str | None = field(default=None)

    @classmethod
    def of(cls, catalog: Catalog, source: str = "(in memory)") -> LiveCatalog:
        """A live catalog holding ``catalog`` (tests, one-off commands)."""
        return cls(view_of(catalog, source, datetime.now(UTC)))

    @property
    def current(self) -> CatalogView:
        """The catalog in use now."""
        return self._view

    def swap(self, view: CatalogView) -> CatalogChange:
        """Put ``view`` in use; return what changed."""
        change = diff(self._view.catalog, view.catalog)
        self._view = view
        self.last_error = None
        return change
