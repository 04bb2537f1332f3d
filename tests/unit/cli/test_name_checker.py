"""``NameChecker`` and ``Verdict`` (watcher.checks) with the real index client and fake index."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.fakes.pypi import FakeIndex
from watcher.catalog import load_catalog_file
from watcher.checks import NameChecker
from watcher.errors import IndexUnavailable, InvalidName
from watcher.matching import MatchKind, Risk
from watcher.matching.live import LiveCatalog
from watcher.pypi import IndexClient


@pytest.fixture
async def checker(fake_index: FakeIndex, catalog_file: Path) -> AsyncIterator[NameChecker]:
    catalog = load_catalog_file(catalog_file)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        client = IndexClient(session, fake_index.base_url, retries=0)
        yield NameChecker(LiveCatalog.of(catalog), client)


async def test_squatted_name(checker: NameChecker, fake_index: FakeIndex) -> None:
    fake_index.add_release("payments-core", "1.0")

    verdict = await checker.check("PAYMENTS.core")

    assert verdict.name == "payments-core"
    assert verdict.internal
    assert not verdict.allowed
    assert verdict.public_exists
    assert verdict.risk is Risk.CRITICAL
    assert [(m.kind, m.internal_name) for m in verdict.matches] == [
        (MatchKind.EXACT, "payments-core")
    ]


async def test_registered_project_without_release_exists(
    checker: NameChecker, fake_index: FakeIndex
) -> None:
    # The JSON API answers 404 for it, the simple API 200: it is taken.
    fake_index.add_project("acme-tools")

    verdict = await checker.check("acme-tools")

    assert verdict.public_exists
    assert verdict.risk is Risk.HIGH


async def test_free_prefix_member_is_medium(checker: NameChecker) -> None:
    verdict = await checker.check("acme-new")

    assert not verdict.public_exists
    assert not verdict.internal
    assert verdict.risk is Risk.MEDIUM


async def test_allowlisted(checker: NameChecker, fake_index: FakeIndex) -> None:
    fake_index.add_release("acme-public-sdk", "1.0")

    verdict = await checker.check("acme_public_sdk")

    assert verdict.allowed
    assert verdict.matches == []
    assert verdict.risk is Risk.NONE


async def test_invalid_name_asks_nothing(checker: NameChecker, fake_index: FakeIndex) -> None:
    with pytest.raises(InvalidName):
        await checker.check("../acme")

    assert fake_index.requests == []


async def test_index_failure_is_raised(checker: NameChecker, fake_index: FakeIndex) -> None:
    fake_index.fail("/simple/", 503, times=None)

    with pytest.raises(IndexUnavailable):
        await checker.check("acme")


async def test_to_json(checker: NameChecker, fake_index: FakeIndex) -> None:
    fake_index.add_release("acme-billing", "1.0")

    document = (await checker.check("acme-billing")).to_json()

    assert document == {
        "name": "acme-billing",
        "internal": True,
        "allowlisted": False,
        "public_exists": True,
        "basis": {"source": "index", "as_of": None},
        "risk": "critical",
        # The risk model's reasons (no private index lists the name: versions unknown).
        "risk_reason": "our versions are unknown: no private index lists this name with a version",
        "our_highest": None,
        "public_highest": None,  # not asked: our versions decide it
        "predates": None,
        "matches": [
            {
                "kind": "exact",
                "internal_name": "acme-billing",
                "public_name": "acme-billing",
                "detail": "same name after PEP 503 normalization",
                "severity": "critical",
                "score": 1.0,
            },
            {
                "kind": "prefix",
                "internal_name": "acme",
                "public_name": "acme-billing",
                "detail": "under the internal namespace 'acme-*'",
                "severity": "high",
                "score": 0.9,
            },
        ],
        "index_would_accept": {
            "accepted": False,
            "reason": "the name is taken: the project exists",
        },
        "reason": "our versions are unknown: no private index lists this name with a version",
        "remediation": (
            "Someone else holds our internal name publicly: install ours only through one"
            " index endpoint that serves ours first, with hashes pinned (never"
            " --extra-index-url), and report the public project to the index's security"
            " contact."
        ),
        "our_versions": [],
    }
