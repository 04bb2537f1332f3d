"""pyproject.toml: PEP 621, PEP 735 groups, build requirements, Poetry dependencies and sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from watcher.depfiles import (
    PUBLIC_INDEX,
    DependencyFile,
    UnusableInput,
    parse,
    problems_for_internal,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "depfiles"
ALLOWED = frozenset({"files.example", ".acme.example"})


def _internal(name: str) -> bool:
    return name.startswith("acme-")


def _pyproject(text: str) -> DependencyFile:
    return parse("pyproject.toml", text, allowed_hosts=ALLOWED)


def _codes(problems: object) -> list[tuple[str, str]]:
    return [(p.code, p.severity) for p in problems]  # type: ignore[attr-defined]


def test_pep621_fixture() -> None:
    report = parse(
        "pyproject.toml", (FIXTURES / "pyproject-pep621.toml").read_bytes(), allowed_hosts=ALLOWED
    )
    assert report.kind == "pyproject-pep621"
    assert report.public_default is None
    by_name = {d.canonical: d for d in report.dependencies}
    assert by_name["acme-billing"].pinned == "1.4.2"
    assert by_name["httpx"].extras == ("http2",)
    assert by_name["rich"].marker == 'python_version >= "3.11"'
    assert by_name["acme-reports"].url is not None
    assert by_name["acme-docs-theme"].group == "optional:docs"
    assert by_name["acme-testkit"].group == "group:test"
    assert by_name["ruff"].group == "group:dev"
    assert by_name["acme-build-hooks"].group == "build-system"
    # the included group's requirements are listed once, under the group stating them
    assert [d.canonical for d in report.dependencies].count("pytest") == 1
    assert by_name["httpx"].location.line == 11
    assert report.problems == ()
    internal = problems_for_internal(report, _internal)
    assert sorted(p.dependency.canonical for p in internal if p.dependency) == [
        "acme-build-hooks",
        "acme-docs-theme",
    ]


def test_poetry_fixture() -> None:
    report = parse(
        "pyproject.toml", (FIXTURES / "pyproject-poetry.toml").read_bytes(), allowed_hosts=ALLOWED
    )
    assert report.kind == "pyproject-poetry"
    by_name = {d.canonical: d for d in report.dependencies}
    assert "python" not in by_name
    assert by_name["acme-billing"].pinned == "1.4.2"  # a bare version is exact in Poetry
    assert by_name["acme-billing"].index == "https://artifacts.acme.example/simple/"
    assert by_name["acme-ledger"].specifier == "^2.0"
    assert by_name["pydantic"].extras == ("email",)
    assert by_name["acme-sdk"].url == "https://git.acme.example/platform/acme-sdk.git"
    assert by_name["acme-testkit"].editable
    assert by_name["pytest"].group == "group:dev"
    assert [(i.name, i.role) for i in report.indexes] == [
        ("acme", "explicit"),
        ("mirror", "supplemental"),
    ]
    # no primary source: the public index is searched, so the supplemental mirror loses
    assert report.public_default is True
    assert ("second-index", "error") in _codes(report.problems)
    internal = problems_for_internal(report, _internal, internal_hosts={".acme.example"})
    assert _codes(internal) == [("unpinned-internal", "error"), ("internal-unrouted", "error")]
    assert {p.dependency.canonical for p in internal if p.dependency} == {"acme-ledger"}


POETRY_HEAD = '[tool.poetry]\nname = "x"\n[tool.poetry.dependencies]\nacme-core = "1.0"\n'


@pytest.mark.parametrize(
    ("sources", "expected", "public"),
    [
        ("", [], True),
        (
            '[[tool.poetry.source]]\nname = "acme"\nurl = "https://artifacts.acme.example/simple"\n',
            [],
            False,
        ),
        (
            '[[tool.poetry.source]]\nname = "acme"\nurl = "https://artifacts.acme.example/simple"\n'
            '[[tool.poetry.source]]\nname = "PyPI"\npriority = "primary"\n',
            [("second-index", "error")],
            True,
        ),
        (
            '[[tool.poetry.source]]\nname = "acme"\nurl = "https://artifacts.acme.example/simple"\n'
            'priority = "primary"\n'
            '[[tool.poetry.source]]\nname = "mirror"\nurl = "https://mirror.acme.example/simple"\n'
            'priority = "supplemental"\n',
            [("second-index", "warning")],
            False,
        ),
        (
            '[[tool.poetry.source]]\nname = "acme"\nurl = "https://artifacts.acme.example/simple"\n'
            "secondary = true\n",
            [("second-index", "error")],
            True,
        ),
        (
            '[[tool.poetry.source]]\nname = "acme"\nurl = "http://pkgs.acme.example/simple"\n'
            'priority = "explicit"\n',
            [("insecure-index", "warning")],
            True,
        ),
    ],
)
def test_poetry_source_priorities(
    sources: str, expected: list[tuple[str, str]], public: bool
) -> None:
    report = _pyproject(POETRY_HEAD + sources)
    assert report.kind == "pyproject-poetry"
    assert _codes(report.problems) == expected
    assert report.public_default is public
    unrouted = [
        p for p in problems_for_internal(report, _internal) if p.code == "internal-unrouted"
    ]
    assert bool(unrouted) is public


def test_poetry_internal_on_the_public_source() -> None:
    report = _pyproject(
        POETRY_HEAD.replace('"1.0"', '{ version = "1.0", source = "pypi" }')
        + '[[tool.poetry.source]]\nname = "pypi"\npriority = "primary"\n'
    )
    assert report.dependencies[0].index == PUBLIC_INDEX
    assert _codes(problems_for_internal(report, _internal)) == [("internal-index", "error")]


def test_poetry_multiple_constraints_and_credentials() -> None:
    report = _pyproject(
        POETRY_HEAD
        + 'numpy = [{ version = "<2", python = "<3.9" }, { version = ">=2", python = ">=3.9" }]\n'
        + '[[tool.poetry.source]]\nname = "acme"\n'
        + 'url = "https://bot:hunter2@artifacts.acme.example/simple"\n'
    )
    assert [d.specifier for d in report.dependencies if d.name == "numpy"] == ["<2", ">=2"]
    assert ("index-credentials", "error") in _codes(report.problems)
    assert "hunter2" not in repr(report)


def test_kind_override_ignores_poetry_tables() -> None:
    report = parse("pyproject.toml", POETRY_HEAD, kind="pyproject-pep621")
    assert report.kind == "pyproject-pep621"
    assert report.dependencies == ()


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ('[project]\ndependencies = ["ok",\n  "bad>>1"]\n', "invalid requirement", 3),
        ("[project\n", "malformed TOML", 1),
        ('[project]\ndependencies = "x"\n', "not a list", None),
        ("project = 3\n", "not a table", None),
        (
            '[dependency-groups]\na = [{include-group = "b"}]\nb = [{include-group = "a"}]\n',
            "dependency-groups",
            None,
        ),
        ('[dependency-groups]\na = ["x"]\nA = ["y"]\n', "dependency-groups", None),
        ('[[tool.poetry.source]]\nname = "nourl"\n', "has no url", 2),
        ("[tool.poetry.dependencies]\nx = { version = 3 }\n", "not a string", 2),
    ],
)
def test_malformed_pyproject(text: str, message: str, line: int | None) -> None:
    with pytest.raises(UnusableInput, match=message) as info:
        _pyproject(text)
    assert info.value.line == line
    assert "\n" not in str(info.value)


UV_HEAD = '[project]\nname = "svc"\ndependencies = ["acme-core==1.0", "httpx"]\n'
UV_ACME = '[[tool.uv.index]]\nname = "acme"\nurl = "https://artifacts.acme.example/simple"\n'


@pytest.mark.parametrize(
    ("tool", "expected"),
    [
        (UV_ACME, []),
        (
            UV_ACME + '[tool.uv]\nindex-strategy = "unsafe-best-match"\n',
            [("second-index", "error")],
        ),
        (
            UV_ACME + 'default = true\n[tool.uv]\nindex-strategy = "unsafe-first-match"\n',
            [],
        ),
        (
            '[tool.uv]\nindex-strategy = "unsafe-best-match"\n'
            'extra-index-url = ["https://${USER}:${TOKEN}@pkgs.acme.example/simple"]\n',
            [("second-index", "error")],
        ),
        (
            '[tool.uv]\nindex-url = "http://bot:pw@pkgs.acme.example/simple"\n',
            [("index-credentials", "error"), ("insecure-index", "warning")],
        ),
    ],
)
def test_uv_index_settings(tool: str, expected: list[tuple[str, str]]) -> None:
    report = _pyproject(UV_HEAD + tool)
    assert report.kind == "pyproject-pep621"
    assert _codes(report.problems) == expected
    assert report.public_default is None
    assert "bot:pw" not in repr(report)


def test_uv_sources_tie_a_package_to_an_index() -> None:
    report = _pyproject(
        UV_HEAD
        + UV_ACME
        + 'explicit = true\n[[tool.uv.index]]\nname = "other"\nurl = "https://index.example/simple"\n'
        + '[tool.uv.sources]\nACME_core = { index = "acme" }\nhttpx = [{ index = "other" }]\n'
    )
    by_name = {d.canonical: d for d in report.dependencies}
    assert by_name["acme-core"].index == "https://artifacts.acme.example/simple"
    assert by_name["httpx"].index == "https://index.example/simple"
    assert [(i.name, i.role) for i in report.indexes] == [("acme", "explicit"), ("other", "extra")]
    internal = problems_for_internal(report, _internal, internal_hosts={".acme.example"})
    assert internal == []
    moved = _pyproject(
        UV_HEAD + UV_ACME + '[tool.uv.sources]\nacme-core = { index = "pub" }\n'
        '[[tool.uv.index]]\nname = "pub"\nurl = "https://index.example/simple"\n'
    )
    internal = problems_for_internal(moved, _internal, internal_hosts={".acme.example"})
    assert _codes(internal) == [("internal-index", "error")]
