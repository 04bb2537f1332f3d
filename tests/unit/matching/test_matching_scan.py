"""Whole-index scans (watcher.matching.scan): bulk canonicalization, reading, forked matching.

References: ``packaging.utils.canonicalize_name`` and ``watcher.names.is_valid`` line by line
for the dump, and ``CatalogMatcher.match`` name by name for the scan.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.utils import NormalizedName, canonicalize_name

from tests.benchmarks.corpus import Corpus, build
from watcher.catalog import Catalog
from watcher.matching import CatalogMatcher, Match, MatchKind
from watcher.matching import scan as scan_module
from watcher.matching.scan import canonicalize_dump, read_dump, scan
from watcher.names import MAX_NAME_LENGTH, is_valid

K = MatchKind
# scan() works in-process below about 50,000 names (1 MiB of names): the corpus is above.
FORK_NAMES, FORK_BYTES = 50_000, 1 << 20


def reference_dump(lines: list[str]) -> tuple[list[bytes], list[int]]:
    """Canonical names and the 1-based numbers of invalid lines, one line at a time."""
    kept: list[bytes] = []
    invalid: list[int] = []
    for number, line in enumerate(lines, start=1):
        name = line.strip(" \t")
        if not name:
            continue
        if is_valid(name):
            kept.append(canonicalize_name(name).encode())
        else:
            invalid.append(number)
    return kept, invalid


def matcher_of(names: list[str], prefixes: list[str] | tuple[str, ...] = ()) -> CatalogMatcher:
    return CatalogMatcher(
        Catalog(
            names={canonicalize_name(n): n for n in names},
            prefixes={canonicalize_name(p): p for p in prefixes},
        )
    )


def per_name(matcher: CatalogMatcher, names: list[bytes]) -> list[Match]:
    return [m for n in names for m in matcher.match(NormalizedName(n.decode()))]


# --- canonicalize_dump --------------------------------------------------------------------

# A valid name in any spelling: words of letters and digits in either case, joined by runs
# of separators.
words = st.text("abcxyzABCXYZ0189", min_size=1, max_size=5)
separators = st.text("-_.", min_size=1, max_size=3)
spellings = st.builds(
    lambda first, rest: first + "".join(sep + word for sep, word in rest),
    words,
    st.lists(st.tuples(separators, words), max_size=3),
)
padding = st.text(" \t", max_size=2)
padded = st.builds(lambda a, name, b: a + name + b, padding, spellings, padding)
INVALID_LINES = [
    "-acme",  # leading separator
    "acme_",  # trailing separator
    ".acme",
    "acme.",
    "../x",
    "acme billing",  # a space inside
    "acme\tbilling",
    "acmé",  # not ASCII
    "ünïcode",
    "a" * (MAX_NAME_LENGTH + 1),
    "acme/billing",
    "acme+billing",
    "-",
    "_",
]
# Arbitrary junk from a broad alphabet (no line breaks and no other whitespace than
# space and tab, which are stripped around names).
junk = st.text(st.sampled_from("aZ09-_. \t/+!é\u00e4\u4e2d\U0001f600"), min_size=1, max_size=8)
lines = st.lists(
    st.one_of(padded, st.sampled_from(INVALID_LINES), junk, st.sampled_from(["", " ", "\t"])),
    max_size=30,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=lines, newline=st.sampled_from(["\n", "\r\n"]), final=st.booleans())
def test_canonicalize_dump_equals_line_by_line(lines: list[str], newline: str, final: bool) -> None:
    data = (newline.join(lines) + (newline if final and lines else "")).encode()

    dump = canonicalize_dump(data)

    names, invalid = reference_dump(lines)
    assert dump.names == names
    assert [number for number, _ in dump.invalid] == invalid
    for number, shown in dump.invalid:
        assert shown == lines[number - 1].strip()[:200]


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(spellings, min_size=1, max_size=30), newline=st.sampled_from(["\n", "\r\n"]))
def test_a_file_of_valid_names_takes_the_fast_path(lines: list[str], newline: str) -> None:
    class NoPerLineCheck:
        def fullmatch(self, line: bytes) -> Any:
            raise AssertionError(f"per-line validation ran on {line!r}")

    data = newline.join(lines).encode() + b"\n"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(scan_module, "_VALID", NoPerLineCheck())
        dump = canonicalize_dump(data)

    assert dump.invalid == []
    assert dump.names == [canonicalize_name(line).encode() for line in lines]


def test_canonical_folding_examples() -> None:
    data = b"Acme_Billing\nacme..billing\nACME-_.-billing\nZope.Interface\nA\n9\n"

    dump = canonicalize_dump(data)

    assert dump.names == [
        b"acme-billing",
        b"acme-billing",
        b"acme-billing",
        b"zope-interface",
        b"a",
        b"9",
    ]
    assert dump.invalid == []


def test_crlf_blanks_and_padding() -> None:
    data = b"\r\n  Acme_Billing  \r\n\r\n\tdjango\t\r\n   \r\nflask\r\n"

    dump = canonicalize_dump(data)

    assert dump.names == [b"acme-billing", b"django", b"flask"]
    assert dump.invalid == []


def test_invalid_lines_are_reported_by_line_number_and_left_out() -> None:
    long_name = "x" * (MAX_NAME_LENGTH + 1)
    text = "\n".join(
        [
            "acme-billing",  # 1
            "-acme",  # 2
            "",  # 3
            "acme-",  # 4
            "Django",  # 5
            "acmé-billing",  # 6
            "acme billing",  # 7
            long_name,  # 8
            "../x",  # 9
            "x" * MAX_NAME_LENGTH,  # 10: the longest valid name
            "  flask  ",  # 11
        ]
    )

    dump = canonicalize_dump(text.encode())

    assert dump.names == [b"acme-billing", b"django", b"x" * MAX_NAME_LENGTH, b"flask"]
    assert dump.invalid == [
        (2, "-acme"),
        (4, "acme-"),
        (6, "acmé-billing"),
        (7, "acme billing"),
        (8, long_name[:200]),
        (9, "../x"),
    ]


def test_invalid_lines_keep_their_numbers_with_crlf() -> None:
    data = b"acme\r\n\r\n_bad\r\n  ../x  \r\nok\r\n"

    dump = canonicalize_dump(data)

    assert dump.names == [b"acme", b"ok"]
    assert dump.invalid == [(3, "_bad"), (4, "../x")]


def test_undecodable_bytes_are_an_invalid_line() -> None:
    dump = canonicalize_dump(b"acme\n\xff\xfebad\nok\n")

    assert dump.names == [b"acme", b"ok"]
    assert [number for number, _ in dump.invalid] == [2]
    assert dump.invalid[0][1].endswith("bad")


def test_duplicates_and_order_are_kept() -> None:
    dump = canonicalize_dump(b"b\na\nA\nb\n")

    assert dump.names == [b"b", b"a", b"a", b"b"]


def test_empty_input() -> None:
    for data in (b"", b"\n", b"\n\r\n \n\t\n"):
        dump = canonicalize_dump(data)
        assert dump.names == []
        assert dump.invalid == []


def test_a_lone_carriage_return_never_joins_two_names() -> None:
    dump = canonicalize_dump(b"acme\rdjango\n")

    assert b"acmedjango" not in dump.names


def test_invalid_line_is_quoted_correctly_after_a_stray_carriage_return() -> None:
    # A lone CR is a line break (old Mac line ends): "-bad" is line 3.
    dump = canonicalize_dump(b"abc\rdef\n-bad\n")

    assert dump.names == [b"abc", b"def"]
    assert dump.invalid == [(3, "-bad")]


def test_read_dump(tmp_path: Path) -> None:
    path = tmp_path / "names.txt"
    path.write_bytes(b"Acme_Billing\r\n-bad\r\n\r\nrequests\r\n")

    dump = read_dump(path)

    assert dump.names == [b"acme-billing", b"requests"]
    assert dump.invalid == [(2, "-bad")]


def test_read_dump_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_dump(tmp_path / "absent.txt")


# --- scan ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return build(public_count=60_000, internal_count=300, prefix_count=5)


@pytest.fixture(scope="module")
def corpus_matcher(corpus: Corpus) -> CatalogMatcher:
    return matcher_of(corpus.names, corpus.prefixes)


@pytest.fixture(scope="module")
def corpus_names(corpus: Corpus) -> list[bytes]:
    dump = canonicalize_dump("\n".join(corpus.public).encode())
    assert dump.invalid == []
    assert len(dump.names) >= FORK_NAMES
    assert len(b"\n".join(dump.names)) >= FORK_BYTES
    return dump.names


@pytest.fixture(scope="module")
def corpus_reference(corpus_matcher: CatalogMatcher, corpus_names: list[bytes]) -> set[Match]:
    reference = per_name(corpus_matcher, corpus_names)
    assert len(reference) == len(set(reference))
    return set(reference)


def test_corpus_reference_finds_the_planted_look_alikes(
    corpus: Corpus, corpus_reference: set[Match]
) -> None:
    found = {(m.public_name, m.internal_name, str(m.kind)) for m in corpus_reference}
    planted = {(canonicalize_name(p), t, kind) for p, t, kind in corpus.planted}
    # Every planted look-alike is found (a stronger kind may win for its target).
    targets = {(p, t) for p, t, _ in found}
    assert {(p, t) for p, t, _ in planted} <= targets
    assert len(planted & found) >= 0.9 * len(planted)


@pytest.mark.parametrize("workers", [1, 2])
def test_scan_equals_matching_name_by_name(
    workers: int,
    corpus_matcher: CatalogMatcher,
    corpus_names: list[bytes],
    corpus_reference: set[Match],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    contexts: list[str | None] = []
    real_get_context: Callable[..., Any] = multiprocessing.get_context

    def spy(method: str | None = None) -> Any:
        contexts.append(method)
        return real_get_context(method)

    monkeypatch.setattr(multiprocessing, "get_context", spy)

    result = scan(corpus_matcher, corpus_names, workers=workers)

    assert len(result) == len(set(result)), "a match reported twice"
    assert set(result) == corpus_reference
    # workers=2 really forks; workers=1 stays in this process.
    assert contexts == (["fork"] if workers > 1 else [])


def test_duplicates_are_reported_once_across_workers(
    corpus_matcher: CatalogMatcher, corpus_names: list[bytes], corpus_reference: set[Match]
) -> None:
    # The second half of the work repeats the first: each worker finds the same matches.
    doubled = corpus_names + corpus_names

    result = scan(corpus_matcher, doubled, workers=2)

    assert len(result) == len(set(result))
    assert set(result) == corpus_reference


def test_duplicates_are_reported_once_in_process() -> None:
    matcher = matcher_of(["acme-billing"], ["acme"])
    dump = canonicalize_dump(b"Acme_Billing\nacme.billing\nacme-bi11ing\nacme-bi11ing\n")

    result = scan(matcher, dump.names, workers=1)

    assert sorted((m.public_name, m.internal_name, m.kind) for m in result) == [
        ("acme-bi11ing", "acme", K.PREFIX),
        ("acme-bi11ing", "acme-billing", K.CONFUSABLE),
        ("acme-billing", "acme", K.PREFIX),
        ("acme-billing", "acme-billing", K.EXACT),
    ]


def test_scan_of_a_small_list_with_workers_stays_in_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_fork(method: str | None = None) -> Any:
        raise AssertionError("scan() forked for a small list")

    monkeypatch.setattr(multiprocessing, "get_context", no_fork)
    matcher = matcher_of(["acme-billing"])
    names = [b"acme-biling", b"django", b"acmebilling"]

    result = scan(matcher, names, workers=4)

    assert set(result) == set(per_name(matcher, names))
    assert {m.kind for m in result} == {K.TYPO, K.SEPARATOR}


def test_scan_of_nothing() -> None:
    assert scan(matcher_of(["acme-billing"]), [], workers=2) == []


def test_match_bytes_equals_match_many(
    corpus_matcher: CatalogMatcher, corpus_names: list[bytes], corpus_reference: set[Match]
) -> None:
    sample = corpus_names[:20_000]
    as_str = [n.decode() for n in sample]

    by_bytes = corpus_matcher.match_bytes(sample)
    by_str = corpus_matcher.match_many(as_str)

    assert by_bytes == by_str
    assert set(by_bytes) == set(per_name(corpus_matcher, sample))


# --- known gap of the bulk pre-filter -----------------------------------------------------

# match() compares the public name's first n words (n up to the longest root's word count)
# with each root once separators are dropped (ultra / skeleton keys), so a head split
# elsewhere than the root's ("g1o-bex" for "globex", "acmec0-rp" for "acme-corp") is
# reported. The bulk pre-filter (CatalogMatcher.survivors) only admits such a name when its
# FIRST WORD is a look-alike spelling of a root's first word (or when the separator-free
# name starts with a root: prefix_separator), so match_many / match_bytes / scan drop it.
PREFIX_GAP = [
    pytest.param(["acme-corp"], "acmec0-rp-x", K.PREFIX_CONFUSABLE, id="moved-separator-0"),
    pytest.param(["acme-corp"], "ac-mec0rp-x", K.PREFIX_CONFUSABLE, id="split-root-0"),
    pytest.param(["acme-corp"], "acrnec-orp-x", K.PREFIX_LOOKALIKE, id="moved-separator-rn"),
    pytest.param(["globex", "acme-corp"], "g1o-bex-x", K.PREFIX_CONFUSABLE, id="one-word-root"),
    pytest.param(["10", "0-0"], "1-0", K.PREFIX_CONFUSABLE, id="short-one-word-root"),
]
# The same kinds where the first word lines up with the root's: found by both paths.
PREFIX_FOUND = [
    pytest.param(["acme-corp"], "acme-c0rp-x", K.PREFIX_CONFUSABLE, id="second-word-0"),
    pytest.param(["acme-corp"], "acrne-corp-x", K.PREFIX_LOOKALIKE, id="first-word-rn"),
    pytest.param(["globex", "acme-corp"], "g1obex-x", K.PREFIX_CONFUSABLE, id="one-word-root"),
    pytest.param(["o-k"], "0-k-x", K.PREFIX_CONFUSABLE, id="short-multi-word-root"),
    pytest.param(["acme-corp"], "acmec-orp-x", K.PREFIX_SEPARATOR, id="glued"),
]


@pytest.mark.parametrize(("roots", "public", "kind"), PREFIX_FOUND + PREFIX_GAP)
def test_prefix_look_alikes_match_one_by_one(
    roots: list[str], public: str, kind: MatchKind
) -> None:
    matcher = matcher_of(["acme-billing"], roots)
    assert [m.kind for m in matcher.match(canonicalize_name(public))] == [kind]


@pytest.mark.parametrize(("roots", "public", "kind"), PREFIX_FOUND)
def test_scan_finds_prefix_look_alikes(roots: list[str], public: str, kind: MatchKind) -> None:
    matcher = matcher_of(["acme-billing"], roots)
    names = [public.encode()]

    assert scan(matcher, names, workers=1) == per_name(matcher, names)


@pytest.mark.parametrize(("roots", "public", "kind"), PREFIX_GAP)
def test_scan_finds_prefix_look_alikes_split_differently(
    roots: list[str], public: str, kind: MatchKind
) -> None:
    matcher = matcher_of(["acme-billing"], roots)
    names = [public.encode()]

    assert matcher.match_many([public]) == matcher.match(canonicalize_name(public))
    assert scan(matcher, names, workers=1) == per_name(matcher, names)
