"""Fuzzing the catalog file parser: a Catalog or a CatalogError, whatever the bytes."""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.fuzz.fuzz_support import FUZZ, any_names, mutated, nested, valid_names
from watcher.catalog.files import parse_catalog
from watcher.catalog.model import Catalog
from watcher.errors import CatalogError
from watcher.names import canonical, validate

pytestmark = pytest.mark.fuzz

PATH = "catalog.toml"
VALID = b"""\
# our names
names = ["acme-billing", "Payments_Core", 'internal.tool']
prefixes = ["acme"]
allow = ["acme-public-sdk"]
owners = ["acme-corp"]
"""


def parse_or_refuse(raw: bytes) -> Catalog | None:
    """The parser's contract: a sound catalog, or a CatalogError naming the file."""
    try:
        catalog = parse_catalog(raw, PATH)
    except CatalogError as exc:
        refused: CatalogError | None = exc
    else:
        refused = None
    if refused is not None:
        assert refused.path == PATH
        assert refused.problems
        return None
    assert catalog.names or catalog.prefixes
    for mapping in (catalog.names, catalog.prefixes):
        for norm, spelling in mapping.items():
            assert canonical(validate(spelling)) == norm
    assert not catalog.allow & set(catalog.names)
    assert all(owner == owner.lower() for owner in catalog.owners)
    return catalog


def toml_string(value: str) -> str:
    # A JSON string is a TOML basic string, except for escapes TOML refuses (then the
    # parser must say so, not crash).
    return json.dumps(value, ensure_ascii=False)


# Found by this fuzzer: tomllib raises ValueError (not TOMLDecodeError) for an integer of
# more than 4300 digits, and RecursionError for arrays or tables nested a few hundred deep.
HUGE_INTEGER = b"names = [" + b"1" * 5000 + b"]"
DEEP_ARRAYS = b"names = " + nested(b"[", b"]", 1000)
DEEP_TABLES = b'names = ["a"]\nx = ' + nested(b"{a=", b"}", 1000).replace(b"={a=}", b"={}")
DEEP_UNCLOSED = b"names = " + b"[" * 100_000


@pytest.mark.parametrize("raw", [HUGE_INTEGER, DEEP_ARRAYS, DEEP_TABLES, DEEP_UNCLOSED])
def test_hostile_toml_is_a_catalog_error(raw: bytes) -> None:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(raw, PATH)
    assert caught.value.problems[0].startswith("not valid TOML")
    assert len(str(caught.value)) < 500  # one readable line, not the document back


@FUZZ
@given(st.binary(max_size=2048))
@example(b"\xff")
@example(HUGE_INTEGER)
@example(DEEP_ARRAYS)
def test_arbitrary_bytes(raw: bytes) -> None:
    parse_or_refuse(raw)


@FUZZ
@given(mutated(st.just(VALID)))
def test_mutated_valid_catalog(raw: bytes) -> None:
    parse_or_refuse(raw)


_keys = st.sampled_from(("names", "prefixes", "allow", "owners", "name", "Names", "x"))
_values = st.one_of(
    st.lists(any_names, max_size=5).map(lambda ns: "[" + ", ".join(map(toml_string, ns)) + "]"),
    st.sampled_from(("1", "true", '"acme"', "[1, 2]", "[[]]", "{}", '{a = "b"}', "1979-05-27")),
)


@FUZZ
@given(st.lists(st.tuples(_keys, _values), max_size=6))
def test_structured_catalogs(entries: list[tuple[str, str]]) -> None:
    text = "\n".join(f"{key} = {value}" for key, value in entries)
    parse_or_refuse(text.encode())


@FUZZ
@given(st.lists(valid_names, min_size=1, max_size=8), st.lists(valid_names, max_size=4))
def test_valid_names_are_all_kept_by_canonical_form(names: list[str], allow: list[str]) -> None:
    allow = [a for a in allow if canonical(a) not in {canonical(n) for n in names}]
    raw = f"names = [{', '.join(map(toml_string, names))}]\n"
    raw += f"allow = [{', '.join(map(toml_string, allow))}]"
    catalog = parse_or_refuse(raw.encode())
    assert catalog is not None
    assert set(catalog.names) == {canonical(n) for n in names}
    assert catalog.allow == {canonical(a) for a in allow}
    # The first spelling of a name wins; alerts quote it.
    for name in names:
        assert catalog.display(canonical(name)) == next(
            n for n in names if canonical(n) == canonical(name)
        )
