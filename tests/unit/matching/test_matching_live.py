"""The live catalog: loading a view, telling what a reload changed, swapping atomically."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from packaging.utils import NormalizedName

from watcher.catalog import Catalog
from watcher.errors import CatalogError
from watcher.matching import MatchKind
from watcher.matching.live import LiveCatalog, diff, load_view

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _n(name: str) -> NormalizedName:
    return NormalizedName(name)


def test_load_view_indexes_the_file_and_fingerprints_its_bytes(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text('names = ["Acme_Billing"]\n')
    view = load_view(path, NOW)
    assert view.source == str(path)
    assert view.loaded_at == NOW
    assert [m.kind for m in view.matcher.match(_n("acme-billing"))] == [MatchKind.EXACT]
    path.write_text('names = ["Acme_Billing"]  # same names, other bytes\n')
    assert load_view(path, NOW).digest != view.digest
    path.write_text('names = ["Acme_Billing"]\n')
    assert load_view(path, NOW).digest == view.digest


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "No such file"),
        (b"names = [", "not valid TOML"),
        (b'names = ["no good!"]', "invalid project name"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_an_unusable_file_is_a_catalog_error_naming_it(
    tmp_path: Path, content: bytes | None, problem: str
) -> None:
    path = tmp_path / "catalog.toml"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CatalogError, match=problem) as caught:
        load_view(path, NOW)
    assert str(path) in str(caught.value)


def test_diff_names_what_was_added_and_removed() -> None:
    old = Catalog(names={_n("a-one"): "a-one", _n("b-two"): "b-two"}, prefixes={_n("acme"): "acme"})
    new = Catalog(
        names={_n("b-two"): "B_Two", _n("c-three"): "c-three"}, prefixes={_n("pins"): "pins"}
    )
    change = diff(old, new)
    assert change.added_names == {"c-three"}
    assert change.removed_names == {"a-one"}
    assert change.added_prefixes == {"pins"}
    assert change.removed_prefixes == {"acme"}
    assert not change.other
    assert not change.empty
    assert diff(old, old).empty
    assert diff(old, Catalog(names=old.names, prefixes=old.prefixes, owners=frozenset({"x"}))).other


def test_swap_puts_the_new_catalog_and_its_matcher_in_use_together(tmp_path: Path) -> None:
    live = LiveCatalog.of(Catalog(names={_n("acme-billing"): "acme-billing"}))
    before = live.current
    live.last_error = "catalog x: not valid TOML"
    path = tmp_path / "catalog.toml"
    path.write_text('names = ["payments-core"]\n')
    change = live.swap(load_view(path, NOW))
    assert change.added_names == {"payments-core"}
    assert change.removed_names == {"acme-billing"}
    assert live.last_error is None
    view = live.current
    assert view.matcher.match(_n("payments-core"))
    assert not view.matcher.match(_n("acme-billing"))
    # A snapshot taken before the swap stays whole: one unit of work, one catalog.
    assert before.matcher.match(_n("acme-billing"))
    assert not before.matcher.match(_n("payments-core"))
