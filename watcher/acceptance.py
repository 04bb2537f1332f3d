"""Would the index accept a name as a new project? What we can tell from outside it.

The index refuses a new project whose name is taken (after its "ultra" normalization: ``-``,
``_`` and ``.`` dropped, ``l``/``I`` read as ``1``, ``O`` as ``0``), the name of a standard
library module of any Python version (dotted submodules included, e.g. ``os.path``), and
names its administrators prohibited. The module list comes from ``stdlib-list``, the list
the index's own software uses for that check; the administrators' list is not public, so a
name that passes the rest is "accepted unless prohibited".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from packaging.utils import canonicalize_name

from watcher.matching import rules


@cache
def _stdlib() -> dict[str, str]:
    """Canonical form -> a module name of the standard library, over every Python version."""
    from stdlib_list import short_versions, stdlib_list

    found: dict[str, str] = {}
    for version in short_versions:
        for module in stdlib_list(version):
            found.setdefault(canonicalize_name(module.strip("-_.")), module)
    return found


def stdlib_module(name: str) -> str | None:
    """The standard-library module canonical ``name`` would shadow, if any."""
    return _stdlib().get(name)


@dataclass(frozen=True)
class Acceptance:
    """Whether the index would take ``name`` as a new project, and why (not)."""

    accepted: bool
    reason: str

    def to_json(self) -> dict[str, object]:
        """The verdict's ``index_would_accept``."""
        return {"accepted": self.accepted, "reason": self.reason}


def would_accept(name: str, *, exists: bool, public_names: Iterable[str]) -> Acceptance:
    """The index's rules applied to canonical ``name``; ``public_names`` are known public
    names resembling it (any whose ultra form is the same blocks it)."""
    if exists:
        return Acceptance(False, "the name is taken: the project exists")
    module = stdlib_module(name)
    if module is not None:
        return Acceptance(False, f"the name of the standard library module {module!r}")
    ultra = rules.ultra_key(name)
    for other in sorted(public_names):
        if other != name and rules.ultra_key(other) == ultra:
            return Acceptance(False, f"too similar to the existing project {other!r}")
    return Acceptance(True, "free, unless the index's administrators prohibited it")
