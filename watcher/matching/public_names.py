"""The public names the store knows, in memory: "does it exist?" and "what looks like it?"
answered without asking the index.

A :class:`~watcher.matching.public_index.PublicIndex` of every known name (built once, in a
worker thread: a million names take seconds) plus what changed since: names added since the
build in a second, small index (rebuilt at each change, cheap while it is small), names
removed since in a set. When the additions grow past :data:`REBUILD_AFTER` the owner builds
a new base. Readers see one consistent state: each change replaces the state object whole.

A one-shot command (``watcher check NAME``) asks one name once: :class:`ListedNames` answers
it from the names as one buffer, without building an index.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from packaging.utils import NormalizedName

from watcher.matching.model import Match
from watcher.matching.public_index import PublicIndex, similar_in

REBUILD_AFTER = 50_000  # additions kept beside the base before a new base is built
CACHED = 4096  # look-alike answers kept until the view changes (CI asks the same names)


@dataclass(frozen=True)
class _State:
    base: PublicIndex
    added: frozenset[str] = frozenset()
    added_index: PublicIndex | None = None
    removed: frozenset[str] = frozenset()
    as_of: datetime | None = None
    size: int = 0


@dataclass
class PublicNames:
    """Every public name the store knows; ``None`` answers until the first build."""

    _state: _State | None = field(default=None, repr=False)
    # Answers of :meth:`similar` for the current state, least recently used first.
    _cache: OrderedDict[str, list[Match]] = field(default_factory=OrderedDict, repr=False)

    @property
    def loaded(self) -> bool:
        """True once a base was built."""
        return self._state is not None

    @property
    def as_of(self) -> datetime | None:
        """When the store was last read for this view (what its answers are based on)."""
        return self._state.as_of if self._state is not None else None

    @property
    def size(self) -> int:
        """How many names are known (approximately: additions may repeat the base's)."""
        return self._state.size if self._state is not None else 0

    @property
    def pending(self) -> int:
        """Additions kept beside the base (a new base is due past :data:`REBUILD_AFTER`)."""
        return len(self._state.added) if self._state is not None else 0

    @property
    def removed(self) -> frozenset[str]:
        """Names removed since the base was built (they may come back)."""
        return self._state.removed if self._state is not None else frozenset()

    def replace(self, base: PublicIndex, as_of: datetime) -> None:
        """Start again from ``base`` (every known name, read at ``as_of``)."""
        self._state = _State(base=base, as_of=as_of, size=len(base))
        self._cache.clear()

    def apply(self, added: Iterable[str], removed: Iterable[str], as_of: datetime) -> None:
        """Names that appeared and disappeared since the last look (read at ``as_of``)."""
        state = self._state
        if state is None:
            raise RuntimeError("no base yet: replace() first")
        gone = frozenset(removed)
        new = frozenset(added) - gone
        # Names the base holds are not added again (a look overlaps the previous one); one
        # that was removed and is back only leaves the removed set.
        fresh = frozenset(n for n in new if not state.base.contains(n))
        added_now = (state.added | fresh) - gone
        removed_now = (state.removed | gone) - new
        index = state.added_index
        if added_now != state.added:
            index = PublicIndex(sorted(added_now)) if added_now else None
        self._state = _State(
            base=state.base,
            added=added_now,
            added_index=index,
            removed=removed_now,
            as_of=as_of,
            size=len(state.base) + len(added_now) - len(removed_now),
        )
        if added_now != state.added or removed_now != state.removed:
            self._cache.clear()

    def contains(self, name: str) -> bool | None:
        """Whether canonical ``name`` is known to be on the index (None: not built yet)."""
        state = self._state
        if state is None:
            return None
        if name in state.removed:
            return False
        return name in state.added or state.base.contains(name)

    def similar(self, name: NormalizedName) -> list[Match] | None:
        """Known public names that look like ``name`` (see :meth:`PublicIndex.similar`),
        without ``name`` itself; None before the first build."""
        state = self._state
        if state is None:
            return None
        cached = self._cache.get(name)
        if cached is not None:
            self._cache.move_to_end(name)
            return list(cached)
        found = state.base.similar(name, itself=False)
        if state.added_index is not None:
            seen = {m.public_name for m in found}
            found += [
                m
                for m in state.added_index.similar(name, itself=False)
                if m.public_name not in seen
            ]
        found = [m for m in found if m.public_name not in state.removed and m.public_name != name]
        self._cache[name] = found
        if len(self._cache) > CACHED:
            self._cache.popitem(last=False)
        return list(found)


@dataclass(frozen=True)
class ListedNames:
    """Every public name the store knows, read once at ``as_of``: ``text`` holds them
    canonical, one per line (duplicates allowed). Answers as :class:`PublicNames` does, for
    one or a few names (each look-alike query scans the whole buffer)."""

    text: bytes
    as_of: datetime

    def contains(self, name: str) -> bool:
        """Whether canonical ``name`` is one of the names."""
        line = name.encode()
        text = self.text
        return (
            text == line
            or text.startswith(line + b"\n")
            or text.endswith(b"\n" + line)
            or b"\n" + line + b"\n" in text
        )

    def similar(self, name: NormalizedName) -> list[Match]:
        """Names that look like ``name``, without ``name`` itself: the answer
        :meth:`PublicNames.similar` gives from an index of the same names."""
        return similar_in(name, self.text)
