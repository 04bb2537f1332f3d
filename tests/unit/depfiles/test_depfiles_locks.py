"""Lock files: poetry.lock, uv.lock, Pipfile.lock and pylock.toml (PEP 751)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from watcher.depfiles import DependencyFile, UnusableInput, parse, problems_for_internal

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "depfiles"
ALLOWED = frozenset({"files.example", ".acme.example"})
INTERNAL_HOSTS = {".acme.example"}


def _internal(name: str) -> bool:
    return name.startswith("acme-")


def _fixture(name: str) -> DependencyFile:
    return parse(name, (FIXTURES / name).read_bytes(), allowed_hosts=ALLOWED)


def _internal_codes(report: DependencyFile) -> list[tuple[str, str]]:
    return [
        (p.code, p.dependency.canonical if p.dependency else "")
        for p in problems_for_internal(report, _internal, internal_hosts=INTERNAL_HOSTS)
    ]


def test_poetry_lock() -> None:
    report = _fixture("poetry.lock")
    assert report.kind == "poetry.lock"
    by_name = {d.canonical: d for d in report.dependencies}
    assert all(d.pinned for d in report.dependencies)
    assert by_name["acme-billing"].index == "https://artifacts.acme.example/simple"
    assert by_name["acme-ledger"].index is None  # no [package.source]: the public index
    assert len(by_name["idna"].hashes) == 2
    assert by_name["acme-sdk"].url == "https://git.acme.example/platform/acme-sdk.git"
    assert by_name["idna"].location.line == 29
    assert report.problems == ()
    assert report.public_default is True
    assert _internal_codes(report) == [("internal-index", "acme-ledger")]


def test_uv_lock() -> None:
    report = _fixture("uv.lock")
    names = [d.canonical for d in report.dependencies]
    assert "acme-service" not in names  # the project itself
    by_name = {d.canonical: d for d in report.dependencies}
    assert len(by_name["acme-billing"].hashes) == 2
    assert by_name["anyio"].index == "https://index.example/simple"
    assert by_name["anyio"].location.line == 24
    assert by_name["acme-tools"].url is not None
    assert [(p.code, p.severity) for p in report.problems] == [("second-index", "warning")]
    assert [i.role for i in report.indexes] == ["locked", "locked"]
    assert _internal_codes(report) == [("internal-index", "acme-ledger")]


def test_uv_lock_local_and_unhashed_sources() -> None:
    text = (
        'version = 1\n[[package]]\nname = "loose"\nversion = "1.0"\n'
        'source = { registry = "https://index.example/simple" }\n'
        '[[package]]\nname = "vendored"\nversion = "0.1"\nsource = { path = "vendor/v.whl" }\n'
        '[[package]]\nname = "sibling"\nversion = "0.2"\nsource = { editable = "../sib" }\n'
    )
    report = parse("uv.lock", text, allowed_hosts=ALLOWED)
    assert [(p.code, p.dependency.name if p.dependency else "") for p in report.problems] == [
        ("no-hashes", "loose"),
        ("local-path", "vendored"),
        ("local-path", "sibling"),
        ("editable", "sibling"),
    ]


def test_pipfile_lock() -> None:
    report = _fixture("Pipfile.lock")
    by_name = {d.canonical: d for d in report.dependencies}
    assert by_name["acme-billing"].index == "https://artifacts.acme.example/simple"
    # no "index": pipenv uses the first source
    assert by_name["acme-ledger"].index == "https://index.example/simple"
    assert by_name["pytest"].group == "develop"
    assert by_name["certifi"].marker == "python_version >= '3.6'"
    assert [(p.code, p.severity) for p in report.problems] == [
        ("trusted-host", "warning"),
        ("second-index", "error"),
        ("no-hashes", "warning"),
    ]
    assert [(i.name, i.role) for i in report.indexes] == [("public", "primary"), ("acme", "extra")]
    assert _internal_codes(report) == [("internal-index", "acme-ledger")]


def test_pipfile_lock_single_source_is_clean() -> None:
    doc = json.loads((FIXTURES / "Pipfile.lock").read_text())
    doc["_meta"]["sources"] = doc["_meta"]["sources"][1:]
    doc["_meta"]["sources"][0]["verify_ssl"] = True
    doc["develop"] = {}
    report = parse("Pipfile.lock", json.dumps(doc), allowed_hosts=ALLOWED)
    assert report.problems == ()
    assert _internal_codes(report) == []


def test_pylock() -> None:
    report = _fixture("pylock.toml")
    assert report.kind == "pylock"
    by_name = {d.canonical: d for d in report.dependencies}
    assert by_name["attrs"].hashes == (
        "sha256:935dc3b529c262f6cf76e50877d35a4bd3c1de194fd41f47a2b7ae8f19971f30",
        "sha256:99b87a485a5820b23b879f04c2305b44b951b502fd64be915879d77a7e8fc6f1",
    )
    assert by_name["acme-ledger"].url == "https://downloads.example/acme_ledger-2.0.1.tar.gz"
    assert [(p.code, p.severity) for p in report.problems] == [
        ("unexpected-url-host", "error"),
        ("second-index", "warning"),
    ]
    assert _internal_codes(report) == [("internal-url-host", "acme-ledger")]


@pytest.mark.parametrize(
    ("name", "text", "message", "line"),
    [
        ("Pipfile.lock", '{"default": {', "malformed JSON", 1),
        ("Pipfile.lock", "[1, 2]", "not a JSON object", None),
        ("Pipfile.lock", '{"default": {"x": 3}}', "not an object", None),
        ("Pipfile.lock", '{"_meta": {"sources": 1}}', "sources", None),
        ("poetry.lock", "package = 1\n", "not an array of tables", None),
        ("poetry.lock", "[[package]]\nname = 3\n", "not a string", None),
        ("uv.lock", '[[package]]\nname = "bad name!"\n', "invalid project name", 2),
        ("pylock.toml", 'lock-version = "1.0"\n', "invalid pylock", None),
        (
            "pylock.toml",
            'lock-version = "2.0"\ncreated-by = "x"\npackages = []\n',
            "invalid pylock",
            None,
        ),
        ("uv.lock", "version = \n", "malformed TOML", 1),
    ],
)
def test_malformed_locks(name: str, text: str, message: str, line: int | None) -> None:
    with pytest.raises(UnusableInput, match=message) as info:
        parse(name, text)
    assert info.value.line == line
    assert str(info.value).startswith(name)
