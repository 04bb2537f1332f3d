"""Whole-index scans: read a dump of public names, canonicalize in bulk, match in parallel.

Reading and canonicalizing a million names one by one costs as much as matching them, so a
scan canonicalizes the whole file as one bytes object (PEP 503 lower-case, runs of ``-_.``
to ``-``), finds invalid lines with one regular-expression pass, and splits the work over
worker processes (forked: they inherit the indexed catalog instead of receiving it).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from watcher.matching.engine import CatalogMatcher
from watcher.matching.model import Match
from watcher.names import MAX_NAME_LENGTH, fold_separators

_VALID = re.compile(rb"[a-z0-9](?:[a-z0-9._-]{0,%d}[a-z0-9])?" % (MAX_NAME_LENGTH - 2))
_NAME_BYTES = b"abcdefghijklmnopqrstuvwxyz0123456789-_.\n"
# Below this much text, forking costs more than it saves (about 50,000 names).
_PARALLEL_BYTES = 1 << 20


@dataclass
class NameDump:
    """Canonical names read from a file, and the lines that were not valid names.

    ``text`` holds the names one per line (no blank lines): scans work on it directly.
    """

    text: bytes
    invalid: list[tuple[int, str]] = field(default_factory=list)

    @cached_property
    def names(self) -> list[bytes]:
        """The names as a list (in file order, duplicates kept)."""
        return self.text.split(b"\n") if self.text else []


_SEPARATOR_BYTE = np.zeros(256, dtype=bool)
_SEPARATOR_BYTE[list(b"-_.")] = True


def _all_valid(text: bytes) -> bool:
    """C-speed checks over the whole text; per-line validation only runs when one fails."""
    if not text:
        return True
    if text.translate(None, _NAME_BYTES):
        return False  # a character no project name has
    data = np.frombuffer(text, dtype=np.uint8)
    newlines = np.flatnonzero(data == ord("\n"))
    firsts = np.concatenate(([0], newlines + 1))
    lasts = np.concatenate((newlines - 1, [len(data) - 1]))
    nonblank = lasts >= firsts
    firsts, lasts = firsts[nonblank], lasts[nonblank]
    if _SEPARATOR_BYTE[data[firsts]].any() or _SEPARATOR_BYTE[data[lasts]].any():
        return False  # a name starting or ending with a separator
    return int((lasts - firsts).max(initial=0)) + 1 <= MAX_NAME_LENGTH


def canonicalize_dump(data: bytes) -> NameDump:
    """Canonicalize a newline-separated dump of names (any spelling) in bulk.

    Blank lines are skipped; lines that are not valid project names are reported with their
    line numbers and left out. The result keeps the file's order (and any duplicates).
    """
    text = data
    if b"\r" in text:
        # CRLF, and a lone CR (old Mac line ends), are line breaks like LF.
        text = text.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if b" " in text or b"\t" in text:
        text = b"\n".join(line.strip() for line in text.split(b"\n"))
    text = text.lower()
    invalid: list[tuple[int, str]] = []
    if not _all_valid(text):
        lines = text.split(b"\n")
        original = data.splitlines()
        kept = []
        for number, line in enumerate(lines, start=1):
            if not line:
                continue
            if line.isascii() and _VALID.fullmatch(line):
                kept.append(line)
            else:
                shown = original[number - 1] if number <= len(original) else line
                invalid.append((number, shown.decode("utf-8", "replace").strip()[:200]))
        text = b"\n".join(kept)
    text = fold_separators(text)
    while b"\n\n" in text:
        text = text.replace(b"\n\n", b"\n")
    return NameDump(text=text.strip(b"\n"), invalid=invalid)


# A line whose first non-blank character is '#'; its line break stays, so line numbers hold.
_COMMENT_LINE = re.compile(rb"(?:^|(?<=\r))[ \t]*#[^\r\n]*", re.MULTILINE)


def read_dump(path: Path) -> NameDump:
    """Read and canonicalize a names file (one name per line; ``-`` reads standard input).

    Blank lines and comment lines (``#`` first) are skipped; invalid lines are reported
    with their line number in the file.
    """
    data = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    if b"#" in data:
        data = _COMMENT_LINE.sub(b"", data)
    return canonicalize_dump(data)


_WORKER_MATCHER: CatalogMatcher | None = None
_WORKER_TEXT = b""


def _scan_slice(bounds: tuple[int, int]) -> list[Match]:
    assert _WORKER_MATCHER is not None
    start, end = bounds
    return _WORKER_MATCHER.match_buffer(_WORKER_TEXT[start:end])


def _unique(matches: list[Match]) -> list[Match]:
    # A dump may list one project twice (two spellings): report its matches once.
    return list(dict.fromkeys(matches))


def scan(
    matcher: CatalogMatcher, names: Sequence[bytes] | bytes, workers: int | None = None
) -> list[Match]:
    """Every match of ``names`` against the catalog: canonical ASCII names, as a list or as
    one newline-separated buffer (``NameDump.text``).

    ``workers`` processes share the work (default: one per CPU); 1 runs in this process.
    Forked workers see the matcher and the names without copying or pickling them.
    """
    text = names if isinstance(names, bytes) else b"\n".join(names)
    count = workers or os.cpu_count() or 1
    matcher.bulk_filter()  # built once here, inherited by every worker
    # The indexes are hundreds of thousands of objects: frozen, the collector neither walks
    # them nor writes to them (which would copy the pages forked workers share).
    gc.freeze()
    try:
        if (
            count <= 1
            or len(text) < _PARALLEL_BYTES
            or "fork" not in multiprocessing.get_all_start_methods()
        ):
            return _unique(matcher.match_buffer(text))
        return _unique(_in_parallel(matcher, text, count))
    finally:
        gc.unfreeze()


def _in_parallel(matcher: CatalogMatcher, text: bytes, count: int) -> list[Match]:
    """The matches of ``count`` slices of ``text``, in order: this process takes the first
    slice itself (one fork fewer, and no CPU idle), forked workers the others."""
    bounds = []
    start = 0
    for part in range(1, count + 1):
        end = len(text) if part == count else text.find(b"\n", len(text) * part // count)
        end = len(text) if end == -1 else end
        if end > start:
            bounds.append((start, end))
        start = end + 1
    if len(bounds) == 1:  # one huge line: nothing to share
        return matcher.match_buffer(text)
    global _WORKER_MATCHER, _WORKER_TEXT
    _WORKER_MATCHER, _WORKER_TEXT = matcher, text
    try:
        with multiprocessing.get_context("fork").Pool(len(bounds) - 1) as pool:
            others = pool.map_async(_scan_slice, bounds[1:])
            parts = [_scan_slice(bounds[0]), *others.get()]
    finally:
        _WORKER_MATCHER, _WORKER_TEXT = None, b""
    return [match for part in parts for match in part]
