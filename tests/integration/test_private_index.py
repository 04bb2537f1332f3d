"""Reading private indexes for real: pypiserver (PEP 503 HTML, basic auth) and the shipped
simulator (PEP 691 JSON with ETags), then telling our projects from mirrored public ones."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from packaging.utils import NormalizedName

from tests.fakes.pypi import FakeIndex
from tests.support import build_sdist, build_wheel, closed_port, pypiserver, write_htpasswd
from watcher.catalog.mirrors import DIFFERENT, NOT_PUBLIC, classify
from watcher.catalog.model import IndexSpec, InternalPackage
from watcher.catalog.private import PrivateLoad, open_private_index
from watcher.errors import PrivateIndexError
from watcher.pypi import IndexClient
from watcher.pypi.models import DistFile

USER, PASSWORD, TOKEN = "ci-reader", "Pa55-w0rd-for-tests", "tok-3f9a7c1e5b"
AUTH_ENV = {"ACME_INDEX_USER": USER, "ACME_INDEX_PASSWORD": PASSWORD}
BASIC = IndexSpec("", username_env="ACME_INDEX_USER", password_env="ACME_INDEX_PASSWORD")


def digests(folder: Path, pattern: str) -> dict[str, str]:
    """File name to SHA-256 of the files in ``folder`` matching ``pattern``."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.glob(pattern)}


@pytest.fixture
def packages(tmp_path: Path) -> Path:
    """Two internal projects as wheels and sdists the test built itself."""
    folder = tmp_path / "packages"
    folder.mkdir()
    build_wheel(folder, "acme-billing", "4.2.0")
    build_sdist(folder, "acme-billing", "4.2.0")
    build_sdist(folder, "acme-billing", "4.10.0")
    build_wheel(folder, "payments-core", "1.0")
    return folder


@pytest.fixture
async def open_index(packages: Path) -> AsyncIterator[str]:
    """pypiserver without authentication."""
    async with pypiserver(packages) as root:
        yield root


@pytest.fixture
async def locked_index(packages: Path, tmp_path: Path) -> AsyncIterator[str]:
    """pypiserver that wants basic auth for every request."""
    htpasswd = tmp_path / "htpasswd"
    write_htpasswd(htpasswd, {USER: PASSWORD})
    async with pypiserver(packages, htpasswd=htpasswd) as root:
        yield root


async def load(spec: IndexSpec, **options: object) -> PrivateLoad:
    options = {"retries": 0, "timeout": 10.0, **options}
    async with open_private_index(spec, **options) as reader:  # type: ignore[arg-type]
        return await reader.load()


def with_url(spec: IndexSpec, url: str) -> IndexSpec:
    return IndexSpec(url, spec.username_env, spec.password_env, spec.token_env)


async def test_a_pypiserver_index_gives_every_project_with_versions_and_hashes(
    open_index: str, packages: Path
) -> None:
    loaded = await load(IndexSpec(open_index), concurrency=2)

    assert sorted(loaded.packages) == ["acme-billing", "payments-core"]
    billing = loaded.packages[NormalizedName("acme-billing")]
    assert billing.name == "acme-billing"
    assert billing.source == open_index
    assert billing.versions == ("4.2.0", "4.10.0")
    # pypiserver links "/packages/<file>#sha256=...": resolved against the page URL.
    assert {f.filename: f.sha256 for f in billing.files} == digests(packages, "acme_billing-*")
    assert str(billing.highest) == "4.10.0"
    assert loaded.fetched == 2
    assert loaded.unchanged == loaded.missing == 0
    assert loaded.etags == {}  # pypiserver sends no ETag: every reload reads in full
    assert loaded.seconds > 0


async def test_basic_auth_comes_from_the_environment(locked_index: str) -> None:
    loaded = await load(with_url(BASIC, locked_index), environ=AUTH_ENV)

    assert sorted(loaded.packages) == ["acme-billing", "payments-core"]


async def test_an_unset_credential_variable_is_named_and_nothing_is_asked(
    locked_index: str,
) -> None:
    with pytest.raises(PrivateIndexError, match="ACME_INDEX_PASSWORD is not set") as raised:
        await load(with_url(BASIC, locked_index), environ={"ACME_INDEX_USER": USER})

    assert raised.value.url == locked_index


async def test_refused_credentials_fail_clearly_without_showing_them(
    locked_index: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = {"ACME_INDEX_USER": USER, "ACME_INDEX_PASSWORD": PASSWORD + "-old"}

    with pytest.raises(PrivateIndexError, match=r"HTTP 40[13]: our credentials") as raised:
        await load(with_url(BASIC, locked_index), environ=wrong)

    assert locked_index in str(raised.value)
    for secret in (PASSWORD, USER):
        assert secret not in str(raised.value)
        assert secret not in caplog.text


async def test_no_credentials_against_a_locked_index_is_a_clear_error(locked_index: str) -> None:
    with pytest.raises(PrivateIndexError, match="its project list answered HTTP 401"):
        await load(IndexSpec(locked_index))


async def test_an_index_that_is_down_is_a_clear_error_without_credentials(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"http://127.0.0.1:{closed_port()}/simple/"
    spec = IndexSpec(url, token_env="ACME_TOKEN")

    with pytest.raises(PrivateIndexError, match=r"after 2 attempts") as raised:
        await load(spec, environ={"ACME_TOKEN": TOKEN}, retries=1, backoff=0.01)

    assert str(raised.value).startswith(f"private index {url}: ")
    assert TOKEN not in str(raised.value)
    assert TOKEN not in caplog.text


async def test_credentials_in_the_url_are_refused_and_not_repeated(open_index: str) -> None:
    url = open_index.replace("http://", f"http://{USER}:{PASSWORD}@")

    with pytest.raises(PrivateIndexError, match="name environment variables") as raised:
        await load(IndexSpec(url))

    assert PASSWORD not in str(raised.value)


@pytest.mark.parametrize(
    ("spec", "environ", "problem"),
    [
        (IndexSpec("", token_env="T"), {"T": "abc\r\nX-Evil: 1"}, "T holds control characters"),
        (IndexSpec("", token_env="T", password_env="P"), {"T": "t", "P": "p"}, "not both"),
        (IndexSpec("", username_env="U"), {"U": "u"}, "needs both username_env and password_env"),
        (IndexSpec("", token_env="T"), {"T": ""}, "T is not set"),
    ],
)
async def test_unusable_credential_settings_are_named_before_any_request(
    fake_index: FakeIndex, spec: IndexSpec, environ: dict[str, str], problem: str
) -> None:
    with pytest.raises(PrivateIndexError, match=problem) as raised:
        await load(with_url(spec, f"{fake_index.base_url}/simple/"), environ=environ)

    assert "abc" not in str(raised.value)
    assert fake_index.requests == []


async def test_a_bearer_token_is_sent_from_its_variable(fake_index: FakeIndex) -> None:
    fake_index.add_release("acme-billing", "1.0")
    spec = IndexSpec(f"{fake_index.base_url}/simple/", token_env="ACME_TOKEN")

    await load(spec, environ={"ACME_TOKEN": TOKEN})

    assert {r.headers.get("Authorization") for r in fake_index.requests} == {f"Bearer {TOKEN}"}


# -- a JSON index: the simulator ----------------------------------------------------------


def simple_root(index: FakeIndex) -> IndexSpec:
    return IndexSpec(f"{index.base_url}/simple/")


async def test_a_json_index_gives_upload_times_and_reloads_with_etags(
    fake_index: FakeIndex,
) -> None:
    for name in ("acme-billing", "Payments_Core", "internal-tool"):
        fake_index.add_release(name, "1.0")
    spec = simple_root(fake_index)

    first = await load(spec)

    assert sorted(first.packages) == ["acme-billing", "internal-tool", "payments-core"]
    assert first.packages[NormalizedName("payments-core")].name == "Payments_Core"
    assert all(p.first_upload is not None for p in first.packages.values())
    assert set(first.etags) == set(first.packages)

    fake_index.add_release("acme-billing", "1.1")
    fake_index.requests.clear()
    async with open_private_index(spec, retries=0) as reader:
        second = await reader.load(first.packages, first.etags)

    assert (second.fetched, second.unchanged) == (1, 2)
    assert second.packages[NormalizedName("acme-billing")].versions == ("1.0", "1.1")
    assert (
        second.packages[NormalizedName("internal-tool")]
        == first.packages[NormalizedName("internal-tool")]
    )
    asked = [r for r in fake_index.requests if r.path != "/simple/"]
    assert all("If-None-Match" in r.headers for r in asked)


async def test_a_listed_project_whose_page_is_gone_is_skipped_with_a_log_line(
    fake_index: FakeIndex, caplog: pytest.LogCaptureFixture
) -> None:
    fake_index.add_release("acme-billing", "1.0")
    fake_index.add_release("acme-gone", "1.0")
    fake_index.freeze_listing()  # the root still lists it ...
    fake_index.remove_project("acme-gone")  # ... but its page answers 404

    loaded = await load(simple_root(fake_index))

    assert sorted(loaded.packages) == ["acme-billing"]
    assert loaded.missing == 1
    assert "lists acme-gone, but its page answers 404" in caplog.text


async def test_a_page_that_keeps_failing_fails_the_whole_load(fake_index: FakeIndex) -> None:
    fake_index.add_release("acme-billing", "1.0")
    fake_index.add_release("payments-core", "1.0")
    fake_index.fail("/simple/payments-core/", 503, times=None)

    with pytest.raises(PrivateIndexError, match=r"payments-core/.*HTTP 503 \(after 2 attempts\)"):
        await load(simple_root(fake_index), retries=1, backoff=0.01)


async def test_a_truncated_or_oversized_page_fails_the_load(fake_index: FakeIndex) -> None:
    fake_index.add_release("acme-billing", "1.0")
    page = "/simple/acme-billing/"
    fake_index.set_body(page, b'{"meta": {}, "files": [', "application/vnd.pypi.simple.v1+json")
    with pytest.raises(PrivateIndexError, match="malformed JSON project page"):
        await load(simple_root(fake_index))

    fake_index.set_huge_body(page, 2 * 1024 * 1024, content_type="text/html")
    with pytest.raises(PrivateIndexError, match="exceeds 1048576 bytes"):
        await load(simple_root(fake_index), max_page_bytes=1024 * 1024)


# -- mirrors -------------------------------------------------------------------------------


@pytest.fixture
async def public() -> AsyncIterator[FakeIndex]:
    """A second simulator in the role of the public index."""
    async with FakeIndex() as index:
        yield index


@pytest.fixture
async def public_client(public: FakeIndex) -> AsyncIterator[IndexClient]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield IndexClient(session, public.base_url, retries=0)


async def test_same_files_are_a_mirror_different_files_and_private_only_are_ours(
    fake_index: FakeIndex, public: FakeIndex, public_client: IndexClient
) -> None:
    for index in (fake_index, public):  # the same release on both: the same file
        index.add_release("requests", "2.31.0")
        index.add_release("requests", "2.32.0")
    public.add_release("acme-utils", "1.0")
    fake_index.add_release("acme-utils", "1.0", variant="our own build")
    fake_index.add_release("acme-billing", "4.2.0")
    loaded = await load(simple_root(fake_index))

    result = await classify(loaded.packages, public_client)

    assert result.mirrored == {"requests": "same files as the public project (2 of 2 by sha256)"}
    assert sorted(result.ours) == ["acme-billing", "acme-utils"]
    assert result.reasons[NormalizedName("acme-billing")] == NOT_PUBLIC
    assert result.reasons[NormalizedName("acme-utils")].startswith(DIFFERENT)
    assert result.asked == 3
    assert result.failed == {}


async def test_one_extra_private_file_makes_a_mirror_ours(
    fake_index: FakeIndex, public: FakeIndex, public_client: IndexClient
) -> None:
    for index in (fake_index, public):
        index.add_release("requests", "2.31.0")
    fake_index.add_release("requests", "2.31.0.post1+internal")  # patched in house
    loaded = await load(simple_root(fake_index))

    result = await classify(loaded.packages, public_client)

    assert list(result.ours) == ["requests"]
    assert (
        result.reasons[NormalizedName("requests")]
        == f"{DIFFERENT} (1 of 2 private files are not on it)"
    )


async def test_the_listing_hint_spares_every_request_for_names_not_public(
    public: FakeIndex, public_client: IndexClient
) -> None:
    files = (DistFile("x-1.0.tar.gz", "a" * 64),)
    packages = {
        NormalizedName(f"acme-internal-{i}"): InternalPackage(f"acme-internal-{i}", "s", (), files)
        for i in range(2_000)
    }

    result = await classify(packages, public_client, known_public=lambda name: False)

    assert len(result.ours) == 2_000
    assert (result.asked, result.skipped) == (0, 2_000)
    assert public.requests == []
    assert result.reasons[NormalizedName("acme-internal-7")] == f"{NOT_PUBLIC} (stored listing)"


async def test_files_without_hashes_cannot_prove_a_mirror(
    public: FakeIndex, public_client: IndexClient
) -> None:
    public.add_release("requests", "2.31.0")
    files = (DistFile("requests-2.31.0.tar.gz", None),)
    packages = {NormalizedName("requests"): InternalPackage("requests", "s", ("2.31.0",), files)}

    result = await classify(packages, public_client, incomplete=())

    assert list(result.ours) == ["requests"]
    assert "no SHA-256: cannot prove a mirror" in result.reasons[NormalizedName("requests")]
    assert public.requests == []


async def test_a_failed_public_lookup_keeps_the_last_verdict_else_protects(
    fake_index: FakeIndex, public: FakeIndex, public_client: IndexClient
) -> None:
    for index in (fake_index, public):
        index.add_release("requests", "2.31.0")
        index.add_release("six", "1.16.0")
    loaded = await load(simple_root(fake_index))
    public.fail("/simple/", 503, times=None)

    result = await classify(
        loaded.packages, public_client, previous={NormalizedName("six"): "same files (1 of 1)"}
    )

    assert result.mirrored == {"six": "same files (1 of 1)"}  # kept from the last check
    assert list(result.ours) == ["requests"]  # no earlier verdict: protected
    assert sorted(result.failed) == ["requests", "six"]
    assert "HTTP 503" in result.failed[NormalizedName("requests")]
