"""Two names compared character by character, for showing a squat beside our name: which
characters are the same, swapped, added or missing (:class:`difflib.SequenceMatcher`).

The segments carry text only; the template escapes it and wraps each kind in its element
(``<mark>`` replaced, ``<ins>`` added, ``<del>`` missing).
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Literal

Part = Literal["same", "replaced", "added", "missing"]


@dataclass(frozen=True)
class Segment:
    """A run of characters of one side and how it compares with the other side."""

    part: Part
    text: str


@dataclass(frozen=True)
class NameDiff:
    """Both sides: ``ours`` (the internal name) and ``theirs`` (the public name)."""

    ours: list[Segment]
    theirs: list[Segment]

    @property
    def identical(self) -> bool:
        return all(s.part == "same" for s in self.ours + self.theirs)


def name_diff(ours: str, theirs: str) -> NameDiff:
    """Where ``theirs`` differs from ``ours``: on our side the characters replaced or
    missing from theirs, on theirs the characters replacing or added to ours."""
    left: list[Segment] = []
    right: list[Segment] = []
    matcher = SequenceMatcher(None, ours, theirs, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            left.append(Segment("same", ours[i1:i2]))
            right.append(Segment("same", theirs[j1:j2]))
        elif op == "replace":
            left.append(Segment("replaced", ours[i1:i2]))
            right.append(Segment("replaced", theirs[j1:j2]))
        elif op == "delete":
            left.append(Segment("missing", ours[i1:i2]))
        else:  # insert
            right.append(Segment("added", theirs[j1:j2]))
    return NameDiff(left, right)
