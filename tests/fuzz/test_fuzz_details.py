"""Fuzzing the JSON API answer parser: every odd field becomes None, never a crash."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from packaging.utils import NormalizedName
from packaging.version import InvalidVersion, Version

from tests.fuzz.fuzz_support import FUZZ, index_states, mutated
from watcher.pypi.details import project_info
from watcher.pypi.models import ProjectInfo
from watcher.simulator.documents import project_document
from watcher.simulator.model import IndexState

pytestmark = pytest.mark.fuzz

NORM = NormalizedName("acme-billing")
BASE = "http://index.invalid"

# Keys the parser looks up, so random objects hit its branches, not only unknown keys.
_KEYS = st.sampled_from(
    (
        "info",
        "releases",
        "ownership",
        "roles",
        "user",
        "organization",
        "last_serial",
        "filename",
        "upload_time",
        "upload_time_iso_8601",
        "yanked",
        "name",
        "version",
        "summary",
        "author",
        "author_email",
    )
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=30),
    st.sampled_from(
        ("9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "2024-03-05T14:07:09Z", "1")
    ),
    st.from_regex(r"\A[0-9]{1,5000}(\.[0-9]{1,5})?\Z").filter(lambda s: len(s) < 6000),
)
json_values = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.one_of(_KEYS, st.text(max_size=10)), inner, max_size=5)
    ),
    max_leaves=25,
)


def check(data: dict[str, Any]) -> ProjectInfo:
    """The parser's contract on any document with an ``info`` object (what the client
    checks before calling it): typed fields, releases in version order."""
    info = project_info(NORM, data)
    assert info.canonical == NORM
    assert isinstance(info.name, str)
    for text in (info.latest_version, info.summary, info.author, info.author_email):
        assert text is None or (isinstance(text, str) and text)
    assert all(isinstance(owner, str) and owner for owner in info.owners)
    assert info.last_serial is None or isinstance(info.last_serial, int)
    valid = [r.version for r in info.releases if _parses(r.version)]
    assert [r.version for r in info.releases[: len(valid)]] == valid  # valid ones first
    assert [Version(v) for v in valid] == sorted(Version(v) for v in valid)
    for release in info.releases:
        assert release.upload_time is None or release.upload_time.utcoffset() is not None
        assert list(release.files) == sorted(release.files)
    return info


def _parses(version: str) -> bool:
    try:
        Version(version)
    except (InvalidVersion, ValueError):  # ValueError: digits beyond int()'s limit
        return False
    return True


HUGE_VERSIONS: dict[str, Any] = {"info": {}, "releases": {"1" * 5000: [], "2": []}}


@FUZZ
@given(json_values, json_values)
@example({}, {})
@example(HUGE_VERSIONS["info"], HUGE_VERSIONS["releases"])
def test_any_values_under_the_known_keys(info: Any, rest: Any) -> None:
    data = rest if isinstance(rest, dict) else {"releases": rest, "ownership": rest}
    data = {**data, "info": info if isinstance(info, dict) else {"name": info}}
    check(data)


def test_versions_beyond_the_int_limit_sort_last() -> None:
    # Found by this fuzzer (fixed in details.py meanwhile): a release segment of more than
    # 4300 digits made Version() raise ValueError, not InvalidVersion.
    info = check(HUGE_VERSIONS)
    assert [r.version for r in info.releases] == ["2", "1" * 5000]


@FUZZ
@given(index_states(max_projects=1), st.data())
def test_mutated_simulator_documents(state: IndexState, data: st.DataObject) -> None:
    (project,) = state.projects()
    document = project_document(project, BASE)
    assert document is not None
    body = data.draw(mutated(st.just(document)))
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return  # not JSON: the client refuses it before this parser (see test_fuzz_client)
    if isinstance(parsed, dict) and isinstance(parsed.get("info"), dict):
        check(parsed)


@FUZZ
@given(index_states(max_projects=1))
def test_simulator_documents_parse_to_their_project(state: IndexState) -> None:
    (project,) = state.projects()
    document = project_document(project, BASE)
    assert document is not None
    info = check(json.loads(document))
    assert info.name == project.name
    assert sorted(r.version for r in info.releases) == sorted(r.version for r in project.releases)
    assert info.owners == tuple(o for o in project.owners if o)  # an empty user is no owner
    assert info.last_serial == project.last_serial
