"""parse(): the format chosen from the file name, or forced by kind."""

from __future__ import annotations

import pytest

from watcher.depfiles import KINDS, UnusableInput, kind_of, parse


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("requirements.txt", "requirements"),
        ("ci/requirements-dev.txt", "requirements"),
        ("requirements.in", "requirements"),
        ("deps.lst", "requirements"),
        ("pyproject.toml", "pyproject-pep621"),
        ("sub\\PyProject.toml", "pyproject-pep621"),
        ("poetry.lock", "poetry.lock"),
        ("uv.lock", "uv.lock"),
        ("Pipfile.lock", "Pipfile.lock"),
        ("pylock.toml", "pylock"),
        ("pylock.dev.toml", "pylock"),
        ("pylock.a.b.toml", "requirements"),
    ],
)
def test_kind_of(name: str, kind: str) -> None:
    assert kind_of(name) == kind


def test_kind_override() -> None:
    text = (
        '[[package]]\nname = "six"\nversion = "1.16.0"\n'
        'source = { registry = "https://index.example/simple" }\n'
    )
    report = parse("anything.txt", text, kind="uv.lock")
    assert report.kind == "uv.lock"
    assert report.dependencies[0].pinned == "1.16.0"
    with pytest.raises(UnusableInput, match="unknown kind"):
        parse("x", "", kind="setup.py")  # type: ignore[arg-type]


def test_every_kind_parses_empty_input() -> None:
    for kind in KINDS:
        text = "{}" if kind == "Pipfile.lock" else ""
        if kind == "pylock":
            text = 'lock-version = "1.0"\ncreated-by = "t"\npackages = []\n'
        assert parse("f", text, kind=kind).dependencies == ()


@pytest.mark.parametrize(
    ("name", "text"),
    [("pyproject.toml", "x = " + "[" * 100_000), ("Pipfile.lock", "[" * 100_000)],
)
def test_deep_nesting_is_unusable_input_not_a_crash(name: str, text: str) -> None:
    with pytest.raises(UnusableInput, match="nested too deeply"):
        parse(name, text)


@pytest.mark.parametrize("line", ["-r https://[", "-c http://]x/", "pkg @ https://[::1"])
def test_unparsable_urls_are_problems_or_unusable_input_never_a_crash(line: str) -> None:
    try:
        report = parse("requirements.txt", line + "\n")
    except UnusableInput:
        return
    assert report.problems or report.dependencies
