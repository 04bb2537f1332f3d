"""The fuzz tests' budget and their shared strategies: garbage, and valid documents mutated.

Budget: every fuzz test runs ``FUZZ_EXAMPLES`` examples (:data:`DEFAULT_EXAMPLES` unless the
environment variable ``WATCHER_TEST_FUZZ_EXAMPLES`` says otherwise), so the whole directory
stays well under a minute in CI. For a longer hunt on a workstation, e.g.::

    WATCHER_TEST_FUZZ_EXAMPLES=20000 python -m pytest tests/fuzz -p no:cacheprovider

The variable's name starts with ``WATCHER_TEST_`` because the settings loader refuses any
other unknown ``WATCHER_*`` variable. No deadline (a loaded CI machine must not turn a slow
example into a failure); not derandomized, so every run explores new inputs; a failure
prints its reproduction blob (``@reproduce_failure``), and a found crash is then pinned as
an explicit ``@example`` or a plain test.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from packaging.utils import canonicalize_name

from watcher.simulator.model import IndexState

EXAMPLES_ENV = "WATCHER_TEST_FUZZ_EXAMPLES"
DEFAULT_EXAMPLES = 40
PROFILE = "watcher-fuzz"


def _examples() -> int:
    raw = os.environ.get(EXAMPLES_ENV, "")
    return int(raw) if raw.strip().isdecimal() and int(raw) > 0 else DEFAULT_EXAMPLES


FUZZ_EXAMPLES = _examples()

settings.register_profile(
    PROFILE,
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=False,
    print_blob=True,
    # Whole documents are large examples by design; slow generation is not a bug here.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ = settings.get_profile(PROFILE)
"""Apply to every fuzz test (``@FUZZ``)."""


# -- names ---------------------------------------------------------------------------

valid_names = st.from_regex(r"\A[A-Za-z0-9]([A-Za-z0-9._-]{0,30}[A-Za-z0-9])?\Z")
"""Valid project names, with every separator spelling."""

# Characters near the edge of the name rules: separators, whitespace, look-alikes.
_EDGE_CHARS = "-_. \t\n\r\x00/\\@:+~'\"<>&é\u0131\u212a\uff21\u0660\u00b2"


@st.composite
def near_names(draw: st.DrawFn) -> str:
    """A valid name with a few edits from characters near the rules' edge."""
    name = list(draw(valid_names))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(name)))
        name.insert(at, draw(st.sampled_from(_EDGE_CHARS)))
    return "".join(name)


any_names = st.one_of(valid_names, near_names(), st.text(max_size=300))
"""Names of every kind: valid, nearly valid, arbitrary text."""

# -- mutation of valid documents ------------------------------------------------------

# Fragments that mean something to one of the formats (XML, JSON, TOML, HTML, numbers,
# encodings): spliced into valid documents they make the near-valid inputs garbage misses.
TOKENS: Sequence[bytes] = (
    b"<",
    b">",
    b"</",
    b"/>",
    b"&",
    b"&amp;",
    b"&#0;",
    b"&#x110000;",
    b"&lol;",
    b'<!DOCTYPE rss [<!ENTITY lol "lol">]>',
    b'<!DOCTYPE x SYSTEM "file:///etc/hostname">',
    b"<![CDATA[",
    b"]]>",
    b"<!--",
    b"-->",
    b"<?xml version='1.0' encoding='utf-16'?>",
    b"<?xml version='1.0' encoding='rot13'?>",
    b'"',
    b"'",
    b"'''",
    b'"""',
    b"{",
    b"}",
    b"[",
    b"]",
    b"[[",
    b",",
    b":",
    b"=",
    b"\\",
    b"\\u0000",
    b"\\ud800",
    b"null",
    b"true",
    b"-1",
    b"-0",
    b"1e999",
    b"NaN",
    b"inf",
    b"9" * 5000,
    b"0x" + b"f" * 40,
    b" ",
    b"\n",
    b"\r",
    b"\t",
    b"\x00",
    b"\xff\xfe",
    b"\xef\xbb\xbf",
    b"\xc3",
    "\u00e9\u212a\U0001f600".encode(),
    b"<a href='/x'>",
    b"</a>",
    b"</html>",
    b'"name":"',
    b'"_last-serial":',
    b"<value><int>",
    b"</int></value>",
    b"<array><data>",
    b"<struct><member>",
)


@st.composite
def mutated(draw: st.DrawFn, documents: st.SearchStrategy[bytes]) -> bytes:
    """A document from ``documents`` with one to five edits: bytes deleted, inserted,
    replaced or duplicated, format tokens spliced in, or the tail cut off."""
    doc = bytearray(draw(documents))
    for _ in range(draw(st.integers(1, 5))):
        start = draw(st.integers(0, len(doc)))
        end = draw(st.integers(start, min(len(doc), start + 64)))
        op = draw(st.sampled_from(("delete", "insert", "token", "replace", "repeat", "cut")))
        if op == "delete":
            del doc[start:end]
        elif op == "insert":
            doc[start:start] = draw(st.binary(min_size=1, max_size=16))
        elif op == "token":
            doc[start:start] = draw(st.sampled_from(TOKENS))
        elif op == "replace":
            doc[start:end] = draw(st.binary(max_size=8))
        elif op == "repeat":
            doc[start:start] = doc[start:end] * draw(st.integers(1, 50))
        else:
            del doc[start:]
    return bytes(doc)


def nested(opening: bytes, closing: bytes, depth: int) -> bytes:
    """``depth`` levels of one construct (``[``/``]``, ``<a>``/``</a>``): recursion bombs."""
    return opening * depth + closing * depth


# -- the simulated index: real-format documents ---------------------------------------

versions = st.builds(
    lambda release, suffix: ".".join(map(str, release)) + suffix,
    st.lists(st.integers(0, 2025), min_size=1, max_size=4),
    st.sampled_from(("", "a1", "b2", "rc1", ".post1", ".dev0", "+local.7")),
)
"""Version strings as the index shows them (no spaces)."""

# Summaries and e-mails are package-supplied text: anything at all.
_free_text = st.one_of(st.none(), st.text(max_size=40))
_WHEN = datetime(2024, 3, 5, 14, 7, 9, tzinfo=UTC)


@st.composite
def index_states(draw: st.DrawFn, max_projects: int = 4) -> IndexState:
    """A simulated index with a few projects and releases, drawn names and text."""
    state = IndexState()
    names = draw(st.lists(valid_names, min_size=1, max_size=max_projects, unique_by=_canonical_key))
    for number, name in enumerate(names):
        # One set of texts per project: drawing per release makes examples slow to build.
        text = draw(_free_text)
        owners = draw(st.lists(st.text(max_size=12), max_size=2))
        for version in draw(st.lists(versions, min_size=1, max_size=3, unique=True)):
            state.add_release(
                name,
                version,
                summary=text,
                author_email=text,
                author=text,
                owners=owners,
                organization=text,
                upload_time=_WHEN.replace(minute=number % 60),
            )
    return state


def _canonical_key(name: str) -> str:
    return canonicalize_name(name)
