"""The catalog as the daemon sees it (watcher.catalog.model)."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.utils import NormalizedName, canonicalize_name

from watcher.catalog import Catalog, load_catalog_file


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    path = tmp_path / "catalog.toml"
    path.write_text(
        'names = ["Payments_Core"]\nprefixes = ["Acme"]\n'
        'allow = ["acme-public-sdk"]\nowners = ["Acme-Corp"]\n'
    )
    return load_catalog_file(path)


def n(name: str) -> NormalizedName:
    return canonicalize_name(name)


def test_is_internal(catalog: Catalog) -> None:
    assert catalog.is_internal(n("payments-core"))
    assert not catalog.is_internal(n("acme"))  # a prefix, not a name
    assert not catalog.is_internal(n("payments-core-x"))


def test_is_allowed(catalog: Catalog) -> None:
    assert catalog.is_allowed(n("acme-public-sdk"))
    assert not catalog.is_allowed(n("acme-public-sdk2"))


@pytest.mark.parametrize(
    ("users", "organization", "ours"),
    [
        ({"acme-corp"}, None, True),
        ({"ACME-Corp"}, None, True),
        ({"mallory", "acme-corp"}, None, True),
        (set(), "acme-corp", True),
        (set(), "Acme-Corp", True),
        ({"mallory"}, "acme-corp", True),
        ({"mallory"}, None, False),
        ({"mallory"}, "mallory-org", False),
        (set(), None, False),
        ({"acme-corp-evil"}, "acme", False),
    ],
)
def test_owned_by_us(
    catalog: Catalog, users: set[str], organization: str | None, ours: bool
) -> None:
    assert catalog.owned_by_us(users, organization) is ours


def test_display_uses_the_catalog_spelling(catalog: Catalog) -> None:
    assert catalog.display(n("payments-core")) == "Payments_Core"
    assert catalog.display(n("acme")) == "Acme"
    assert catalog.display(n("unknown-thing")) == "unknown-thing"


def test_empty_catalog_has_no_owners() -> None:
    empty = Catalog()

    assert not empty.owned_by_us({"anyone"}, "any-org")
    assert not empty.is_internal(n("x"))
    assert not empty.is_allowed(n("x"))
