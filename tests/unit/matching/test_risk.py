"""The one risk model (issue 11): every row of README's table, and the edge cases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from packaging.utils import NormalizedName

from watcher.catalog.model import Catalog, InternalPackage
from watcher.matching import Match, MatchKind, Risk
from watcher.matching.risk import assess, assess_matches, strongest
from watcher.pypi.models import DistFile, ReleaseInfo

T0 = datetime(2020, 1, 1, tzinfo=UTC)
T1 = datetime(2023, 1, 1, tzinfo=UTC)
T2 = datetime(2025, 1, 1, tzinfo=UTC)
OUR_DIGEST = "a" * 64
OTHER_DIGEST = "b" * 64


def ours(*versions: str, uploaded: datetime | None = T1) -> InternalPackage:
    return InternalPackage(
        name="acme-billing",
        source="http://127.0.0.1:9/simple/",
        versions=versions,
        files=tuple(
            DistFile(f"acme_billing-{v}.tar.gz", OUR_DIGEST if v == "4.2.0" else None, uploaded)
            for v in versions
        ),
    )


OURS = ours("1.0", "4.2.0")


def public(version: str, *digests: str, at: datetime | None = T2) -> ReleaseInfo:
    return ReleaseInfo(version, at, (f"acme_billing-{version}.tar.gz",), False, digests)


def exact(releases: list[ReleaseInfo] | None, package: InternalPackage | None = OURS) -> Risk:
    return assess(MatchKind.EXACT, package, releases).risk


# --- the table, row by row -------------------------------------------------------------


def test_acceptance_public_above_ours_is_critical_with_both_versions() -> None:
    result = assess(MatchKind.EXACT, OURS, [public("99.0")])
    assert result.risk is Risk.CRITICAL
    assert (result.public_highest, result.our_highest) == ("99.0", "4.2.0")
    assert "99.0" in result.reason
    assert "4.2.0" in result.reason


def test_acceptance_every_public_version_below_ours_is_high_not_critical() -> None:
    result = assess(MatchKind.EXACT, OURS, [public("0.0.1")])
    assert result.risk is Risk.HIGH
    assert "below ours" in result.reason


def test_our_versions_unknown_is_critical() -> None:
    assert exact([public("0.0.1")], package=None) is Risk.CRITICAL
    # A private index lists the name, but no file name gave a version.
    assert exact([public("0.0.1")], package=ours()) is Risk.CRITICAL
    result = assess(MatchKind.EXACT, None, [public("0.0.1")])
    assert "our versions are unknown" in result.reason


def test_equal_version_with_other_files_is_critical() -> None:
    result = assess(MatchKind.EXACT, OURS, [public("4.2.0", OTHER_DIGEST)])
    assert result.risk is Risk.CRITICAL
    assert "other files" in result.reason


def test_equal_version_with_our_files_is_high() -> None:
    # A mirror of our own release: pip gets the same bytes from either index.
    assert exact([public("0.1"), public("4.2.0", OUR_DIGEST)]) is Risk.HIGH


def test_equal_version_compares_as_pep_440_not_as_text() -> None:
    assert exact([public("4.2", OTHER_DIGEST)]) is Risk.CRITICAL
    assert exact([public("4.2", OUR_DIGEST)]) is Risk.HIGH


def test_equal_version_with_unknown_digests_is_critical() -> None:
    # Announced by a feed ahead of the details, or read back from the store.
    assert exact([public("4.2.0")]) is Risk.CRITICAL
    # One of two files without a digest.
    two_files = ReleaseInfo("4.2.0", T2, ("a.tar.gz", "a.whl"), False, (OUR_DIGEST,))
    assert exact([two_files]) is Risk.CRITICAL


def test_equal_version_when_our_digests_are_unknown_is_critical() -> None:
    # Our index gives no digest of any file: no public file can be told to be ours.
    no_digests = InternalPackage("acme-billing", "http://127.0.0.1:9/simple/", ("1.0",))
    assert exact([public("1.0", OTHER_DIGEST)], package=no_digests) is Risk.CRITICAL
    assert exact([public("0.1", OTHER_DIGEST)], package=no_digests) is Risk.HIGH


def test_prefix_is_high_whatever_the_versions() -> None:
    result = assess(MatchKind.PREFIX, None, [public("99.0")])
    assert result.risk is Risk.HIGH
    assert assess(MatchKind.PREFIX, None, None).risk is Risk.HIGH


@pytest.mark.parametrize(
    ("kind", "risk"),
    [
        (MatchKind.TYPO, Risk.MEDIUM),
        (MatchKind.SEPARATOR, Risk.MEDIUM),
        (MatchKind.CONFUSABLE, Risk.HIGH),
        (MatchKind.PREFIX_TYPO, Risk.LOW),
        (MatchKind.PREFIX_LOOKALIKE, Risk.MEDIUM),
    ],
)
def test_look_alikes_keep_their_kinds_severity(kind: MatchKind, risk: Risk) -> None:
    # Even above our versions: pip never takes a look-alike for ours.
    assert assess(kind, OURS, [public("99.0")]).risk is risk


def test_our_own_public_project_is_none() -> None:
    assert assess(MatchKind.EXACT, OURS, [public("99.0")], allowed=True).risk is Risk.NONE


# --- never "could not tell" into lower ----------------------------------------------------


def test_public_versions_unknown_is_critical() -> None:
    assert exact(None) is Risk.CRITICAL
    assert exact([]) is Risk.CRITICAL


def test_a_version_that_is_not_pep_440_is_critical_and_said() -> None:
    result = assess(MatchKind.EXACT, OURS, [public("0.0.1"), public("not a version\x1b[2J")])
    assert result.risk is Risk.CRITICAL
    assert "not PEP 440" in result.reason
    assert "\x1b" not in result.reason  # shown escaped
    # A version beyond int()'s digit limit is not comparable either (no crash).
    assert exact([public("1" * 5000)]) is Risk.CRITICAL


def test_hostile_versions_in_the_reason_are_bounded() -> None:
    long = "9" * 10 + "." + "1" * 500
    result = assess(MatchKind.EXACT, OURS, [public(long)])
    assert result.risk is Risk.CRITICAL
    assert len(result.reason) < 300


def test_pre_releases_count() -> None:
    result = assess(MatchKind.EXACT, OURS, [public("0.1"), public("99.0rc1")])
    assert result.risk is Risk.CRITICAL
    assert result.public_highest == "99.0rc1"
    assert "pre-release" in result.reason
    # A pre-release below ours is still below ours.
    assert exact([public("4.2.0rc1")]) is Risk.HIGH


def test_yanked_releases_count() -> None:
    yanked = ReleaseInfo("99.0", T2, ("x.tar.gz",), True, (OTHER_DIGEST,))
    assert exact([public("0.1"), yanked]) is Risk.CRITICAL


def test_highest_is_compared_by_pep_440_not_string_order() -> None:
    assert exact([public("10.0"), public("9.0")]) is Risk.CRITICAL
    assert exact([public("4.10"), public("4.9")]) is Risk.CRITICAL  # 4.10 > 4.2.0
    assert exact([public("4.1.99")]) is Risk.HIGH


# --- predates -----------------------------------------------------------------------------


def test_predates_our_first_upload() -> None:
    older = assess(MatchKind.EXACT, OURS, [public("0.1", at=T0)])
    assert older.predates is True
    newer = assess(MatchKind.EXACT, OURS, [public("0.1", at=T2)])
    assert newer.predates is False
    # Either time unknown: cannot say.
    assert assess(MatchKind.EXACT, OURS, [public("0.1", at=None)]).predates is None
    assert assess(MatchKind.EXACT, ours("1.0", uploaded=None), [public("0.1")]).predates is None
    assert assess(MatchKind.EXACT, None, [public("0.1")]).predates is None


def test_a_real_project_that_predates_us_is_still_critical_above_ours() -> None:
    # pip does not care who was first: the alert says so, the risk stays.
    result = assess(MatchKind.EXACT, OURS, [public("99.0", at=T0)])
    assert (result.risk, result.predates) == (Risk.CRITICAL, True)


# --- several matches ------------------------------------------------------------------------


def test_assess_matches_uses_each_internal_names_package_and_strongest_wins() -> None:
    name = NormalizedName("acme-billing")
    catalog = Catalog(
        names={name: "acme-billing"},
        prefixes={NormalizedName("acme"): "acme"},
        packages={name: OURS},
    )
    matches = [
        Match(name, name, MatchKind.EXACT, "same name"),
        Match(name, NormalizedName("acme"), MatchKind.PREFIX, "under acme-*"),
    ]
    below = assess_matches(matches, catalog, [public("0.0.1")])
    assert [a.risk for a in below.values()] == [Risk.HIGH, Risk.HIGH]
    assert strongest(below)[0].kind is MatchKind.EXACT  # a tie: the exact match, first
    above = assess_matches(matches, catalog, [public("99.0")])
    top_match, top = strongest(above)
    assert (top_match.kind, top.risk, top.our_highest) == (MatchKind.EXACT, Risk.CRITICAL, "4.2.0")
