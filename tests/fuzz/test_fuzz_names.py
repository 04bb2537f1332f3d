"""Fuzzing the name rules: only InvalidName escapes, and valid names fold as PEP 503 says."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st
from packaging.utils import canonicalize_name

from tests.fuzz.fuzz_support import FUZZ, any_names, near_names, valid_names
from watcher.errors import InvalidName
from watcher.names import (
    MAX_NAME_LENGTH,
    canonical,
    canonicalize_many,
    fold_separators,
    is_valid,
    validate,
)

pytestmark = pytest.mark.fuzz

_CANONICAL = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


@FUZZ
@given(any_names)
@example("acme\n")
@example("x" * (MAX_NAME_LENGTH + 1))
@example("\u212a")  # the Kelvin sign: lower-cases to an ASCII "k"
def test_validate_accepts_unchanged_or_raises_invalid_name(name: str) -> None:
    try:
        result = validate(name)
    except InvalidName as exc:
        refused: InvalidName | None = exc
    else:
        refused = None
    if refused is not None:
        assert not is_valid(name)
        assert refused.name == name
        # The message quotes at most 60 characters of the name, whatever its size.
        assert len(str(refused)) < 300
        return
    assert result is name
    assert is_valid(name)
    assert name.isascii()
    assert 0 < len(name) <= MAX_NAME_LENGTH


@FUZZ
@given(any_names)
def test_canonical_is_pep503_idempotent_and_valid(name: str) -> None:
    try:
        norm = canonical(name)
    except InvalidName:
        assert not is_valid(name)
        return
    assert norm == canonicalize_name(name)
    assert _CANONICAL.fullmatch(norm)
    assert canonical(norm) == norm  # idempotent, and itself a valid name
    assert norm == re.sub(r"[-_.]+", "-", name).lower()  # PEP 503's own definition


@FUZZ
@given(valid_names, st.data())
def test_spellings_that_differ_in_case_and_separators_share_a_canonical_form(
    name: str, data: st.DataObject
) -> None:
    runs = re.split(r"([-_.]+)", name)
    respelled = "".join(
        data.draw(st.from_regex(r"\A[-_.]{1,3}\Z")) if part and part[0] in "-_." else part
        for part in runs
    )
    respelled = "".join(c.upper() if data.draw(st.booleans()) else c for c in respelled)
    assume(len(respelled) <= MAX_NAME_LENGTH)
    assert canonical(respelled) == canonical(name)


@FUZZ
@given(st.lists(valid_names, max_size=20))
def test_bulk_canonical_forms_match_one_by_one(names: list[str]) -> None:
    assert canonicalize_many([n.encode() for n in names]) == [canonical(n) for n in names]


@FUZZ
@given(st.binary(max_size=200))
def test_fold_separators_leaves_no_run_of_separators(text: bytes) -> None:
    folded = fold_separators(text)
    assert b"--" not in folded
    assert b"_" not in folded
    assert b"." not in folded
    assert folded == re.sub(rb"[-_.]+", b"-", text)


@FUZZ
@given(near_names())
def test_a_name_with_an_edit_outside_the_rules_is_refused(name: str) -> None:
    outside = set(name) - set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
    assume(outside)
    with pytest.raises(InvalidName):
        validate(name)
