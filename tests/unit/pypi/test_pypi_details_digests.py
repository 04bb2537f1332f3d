"""The public files' SHA-256 digests in the JSON API's details: kept when well-formed."""

from __future__ import annotations

from typing import Any

from packaging.utils import NormalizedName

from watcher.pypi.details import project_info

GOOD = "0123456789abcdef" * 4


def document(*files: Any) -> dict[str, Any]:
    return {"info": {"name": "acme-billing"}, "releases": {"1.0": list(files)}}


def test_each_files_sha256_is_kept_when_well_formed() -> None:
    other = "f" * 64
    info = project_info(
        NormalizedName("acme-billing"),
        document(
            {"filename": "a-1.0.tar.gz", "digests": {"sha256": GOOD, "md5": "x"}},
            {"filename": "a-1.0-py3-none-any.whl", "digests": {"sha256": other}},
        ),
    )
    assert info.releases[0].digests == (GOOD, other)


def test_malformed_digests_are_skipped() -> None:
    info = project_info(
        NormalizedName("acme-billing"),
        document(
            {"filename": "a.tar.gz", "digests": {"sha256": GOOD.upper()}},
            {"filename": "b.tar.gz", "digests": {"sha256": GOOD[:-1]}},
            {"filename": "c.tar.gz", "digests": {"sha256": GOOD + "\n"}},
            {"filename": "d.tar.gz", "digests": ["not", "a", "dict"]},
            {"filename": "e.tar.gz", "digests": {"sha256": 12}},
            {"filename": "f.tar.gz"},
        ),
    )
    release = info.releases[0]
    assert release.digests == ()
    assert len(release.files) == 6  # the files are still listed: their digests are unknown
