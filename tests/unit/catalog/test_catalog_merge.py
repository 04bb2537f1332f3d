"""One catalog from the file and the private indexes (watcher.catalog.merge)."""

from __future__ import annotations

from packaging.utils import NormalizedName

from watcher.catalog.merge import IndexContent, digest, merge
from watcher.catalog.model import Catalog, IndexSpec, InternalPackage
from watcher.pypi.models import DistFile

A = IndexSpec(url="http://127.0.0.1:1/a/simple/")
B = IndexSpec(url="http://127.0.0.1:2/b/simple/")
N = NormalizedName


def _package(name: str, *versions: str, source: IndexSpec = A) -> InternalPackage:
    return InternalPackage(
        name=name,
        source=source.url,
        versions=versions,
        files=tuple(DistFile(f"{name}-{v}.tar.gz", f"{v:0>64}"[-64:]) for v in versions),
    )


FILE = Catalog(
    names={N("payments-core"): "Payments_Core"},
    prefixes={N("acme"): "acme"},
    allow=frozenset({N("acme-public-sdk")}),
    indexes=(A, B),
)


def test_index_projects_become_internal_names_with_their_versions() -> None:
    catalog = merge(
        FILE,
        [IndexContent(A, packages={N("acme-billing"): _package("Acme_Billing", "1.0", "4.2.0")})],
    )
    assert catalog.names == {N("payments-core"): "Payments_Core", N("acme-billing"): "Acme_Billing"}
    package = catalog.package(N("acme-billing"))
    assert package is not None
    assert str(package.highest) == "4.2.0"
    assert catalog.package(N("payments-core")) is None  # only in the file: versions unknown
    assert catalog.prefixes == FILE.prefixes
    assert catalog.indexes == (A, B)


def test_a_name_on_two_indexes_has_the_union_of_their_versions() -> None:
    catalog = merge(
        FILE,
        [
            IndexContent(A, packages={N("acme-x"): _package("acme-x", "1.0", "2.0")}),
            IndexContent(B, packages={N("acme-x"): _package("acme-x", "10.0", "2.0", source=B)}),
        ],
    )
    package = catalog.package(N("acme-x"))
    assert package is not None
    assert package.versions == ("1.0", "2.0", "10.0")
    assert len(package.files) == 3


def test_mirrors_are_not_internal_unless_named_elsewhere() -> None:
    catalog = merge(
        FILE,
        [
            IndexContent(
                A,
                mirrored={
                    N("requests"): "same files as the public project",
                    N("payments-core"): "same files as the public project",
                    N("acme-x"): "same files as the public project",
                },
            ),
            IndexContent(B, packages={N("acme-x"): _package("acme-x", "1.0", source=B)}),
        ],
    )
    assert N("requests") not in catalog.names
    assert catalog.mirrored == {N("requests"): f"same files as the public project (on {A.url})"}
    # The file's word and another index's own project win over a mirror.
    assert N("payments-core") in catalog.names
    assert N("acme-x") in catalog.names


def test_allowlisted_index_projects_stay_out_of_the_names() -> None:
    catalog = merge(
        FILE, [IndexContent(A, packages={N("acme-public-sdk"): _package("acme-public-sdk", "1.0")})]
    )
    assert N("acme-public-sdk") not in catalog.names


def test_digest_changes_with_versions_and_not_without() -> None:
    one = merge(FILE, [IndexContent(A, packages={N("acme-x"): _package("acme-x", "1.0")})])
    same = merge(FILE, [IndexContent(A, packages={N("acme-x"): _package("acme-x", "1.0")})])
    newer = merge(FILE, [IndexContent(A, packages={N("acme-x"): _package("acme-x", "1.0", "1.1")})])
    assert digest("f", one) == digest("f", same)
    assert digest("f", one) != digest("f", newer)
    assert digest("f", one) != digest("g", one)
    file_only = Catalog(names={N("a-b"): "a-b"})
    assert digest("f", file_only) == "f"
