"""The C inner loops of the bulk filter (``watcher/matching/_probe.c``) against plain Python:
a range's hash depends on its bytes and tag alone (wherever it lies in a buffer, its end
included), the bitmap probe admits exactly the ranges whose hash's top bits are set, line
ends and dash positions are those Python finds, and bad arguments are refused."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watcher.matching import _probe
from watcher.matching.bulk_hash import Hasher, KeySet, hash_strings
from watcher.matching.bulk_keys import Words

NAMES = st.lists(st.text(alphabet="ab-c1", max_size=40).map(str.encode), max_size=12)


def _ranges(lines: list[bytes]) -> tuple[bytes, list[tuple[int, int]]]:
    """Lines joined by newlines, and every (start, end) substring range of every line."""
    text = b"\n".join(lines)
    ranges, at = [], 0
    for line in lines:
        ranges += [(at + i, at + j) for i in range(len(line) + 1) for j in range(i, len(line) + 1)]
        at += len(line) + 1
    return text, ranges


@settings(max_examples=150, deadline=None)
@given(NAMES, st.integers(0, 20))
def test_a_hash_depends_on_the_bytes_and_tag_only(lines: list[bytes], tag: int) -> None:
    text, ranges = _ranges(lines)
    if not ranges:
        return
    starts = np.array([s for s, _ in ranges], dtype=np.int64)
    ends = np.array([e for _, e in ranges], dtype=np.int64)
    out = np.empty(len(ranges), dtype=np.uint64)
    _probe.hash_ranges(text, starts, ends, tag, out)
    # The same bytes alone in a buffer of their own (no bytes to spare after them).
    alone = hash_strings([text[s:e] for s, e in ranges], [tag] * len(ranges))
    for (s, e), value in zip(ranges, out.tolist(), strict=True):
        single = np.empty(1, dtype=np.uint64)
        piece = text[s:e]
        _probe.hash_ranges(piece, np.array([0]), np.array([len(piece)]), tag, single)
        assert value == int(single[0]), piece
    assert out.tolist() == alone.tolist()
    by_bytes: dict[bytes, int] = {}
    for (s, e), value in zip(ranges, out.tolist(), strict=True):
        assert by_bytes.setdefault(text[s:e], value) == value


def test_different_strings_and_tags_hash_apart() -> None:
    texts = [b"", b"a", b"a" * 7, b"a" * 8, b"a" * 9, b"ab", b"ba", b"requests", b"requests1"]
    values = hash_strings(texts).tolist()
    assert len(set(values)) == len(texts)
    assert hash_strings([b"abc"], [1]).tolist() != hash_strings([b"abc"], [2]).tolist()


@settings(max_examples=100, deadline=None)
@given(NAMES, st.lists(st.text(alphabet="ab-c1", max_size=10).map(str.encode), max_size=8))
def test_the_probe_admits_what_the_bitmap_admits(lines: list[bytes], keys: list[bytes]) -> None:
    text, ranges = _ranges(lines)
    table = KeySet(hash_strings(keys, [5] * len(keys)))
    lines_hasher = Hasher(text)
    starts = np.array([s for s, _ in ranges], dtype=np.int64)
    ends = np.array([e for _, e in ranges], dtype=np.int64)
    index, values = table.maybe_ranges(lines_hasher, starts, ends, 5)
    expected: list[int] = table.maybe(lines_hasher.hash(starts, ends, 5)).tolist() if keys else []
    assert index.tolist() == expected
    assert values.tolist() == lines_hasher.hash(starts[index], ends[index], 5).tolist()
    found = table.contains_ranges(lines_hasher, starts, ends, 5)
    wanted = set(keys)
    assert [text[s:e] in wanted for s, e in ranges] == found.tolist()


@given(st.text(alphabet="ab-\n", max_size=60).map(str.encode))
def test_line_ends_and_dashes_are_those_python_finds(text: bytes) -> None:
    lines = Hasher(text)
    assert lines.ends.tolist() == [i for i, c in enumerate(text) if c == 10] + [len(text)]
    assert [text[s:e] for s, e in zip(lines.starts, lines.ends, strict=True)] == text.split(b"\n")
    words = Words(lines)
    for row, line in enumerate(text.split(b"\n")):
        at = [int(lines.starts[row]) + i for i, c in enumerate(line) if c == ord("-")]
        padded = [*at, -1, -1]
        assert words.first[row] == padded[0]
        assert words.second[row] == padded[1]
        assert words.last[row] == (at[-1] if at else -1)
        assert words.penultimate[row] == (at[-2] if len(at) > 1 else -1)


def test_bad_arguments_are_refused_not_read_past() -> None:
    out = np.empty(1, dtype=np.uint64)
    with pytest.raises(IndexError):
        _probe.hash_ranges(b"abc", np.array([0]), np.array([4]), 0, out)
    with pytest.raises(IndexError):
        _probe.hash_ranges(b"abc", np.array([2]), np.array([1]), 0, out)
    with pytest.raises(ValueError, match="one length"):
        _probe.hash_ranges(b"abc", np.array([0, 1]), np.array([1]), 0, out)
    with pytest.raises(ValueError, match="too small"):
        _probe.hash_ranges(b"abc", np.array([0, 1]), np.array([1, 2]), 0, out)
    with pytest.raises(ValueError, match="room"):
        _probe.line_ends(b"a\nb\nc", np.empty(2, dtype=np.int64))
    with pytest.raises(ValueError, match="bitmap"):
        _probe.probe(b"ab", np.array([0]), np.array([1]), 0, np.zeros(1, np.uint8), 60, out)
