"""Arbitrary text never makes the requirements parser raise anything but UnusableInput."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from watcher.depfiles import DependencyFile, MemoryIncludes, UnusableInput, parse

# Fragments that steer generated text into the parser's branches, mixed with free text.
FRAGMENTS = st.sampled_from(
    [
        "-r ",
        "-c ",
        "-e ",
        "-i ",
        "--hash=",
        "--extra-index-url ",
        "-f ",
        "--no-index",
        "inc.txt",
        "../",
        "/",
        "\\\n",
        "\n",
        " ; ",
        "; ",
        "@",
        " @ ",
        "#",
        "#egg=",
        "[",
        "]",
        "==",
        "===",
        ">=",
        ",",
        "*",
        "'",
        '"',
        "https://",
        "file:",
        "git+",
        "user:pw@",
        ".whl",
        ".tar.gz",
        "python_version",
        "foo",
        "Foo_bar",
        "1.0",
        " ",
        "\t",
        "\x00",
    ]
)
# a password still attached to a URL's host part (what masking must always remove)
LEAKED = re.compile(r"://[^/\s@]*pw@")
TEXT = st.lists(st.one_of(FRAGMENTS, st.text(max_size=8)), max_size=40).map("".join)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXT, included=TEXT)
def test_requirements_parser_raises_only_unusable_input(text: str, included: str) -> None:
    files = {"inc.txt": included, "requirements.txt": text}
    try:
        report = parse("requirements.txt", text, includes=MemoryIncludes(files))
    except UnusableInput as exc:
        message = str(exc)
    else:
        message = ""
        _check_report(report)
    assert "\n" not in message
    assert not LEAKED.search(message)


def _check_report(report: DependencyFile) -> None:
    assert isinstance(report, DependencyFile)
    for dep in report.dependencies:
        assert not LEAKED.search(dep.url or "")
    for problem in report.problems:
        assert "\n" not in problem.message
        assert not LEAKED.search(problem.message)
