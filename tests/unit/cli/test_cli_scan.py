"""``watcher scan --names FILE``: an offline scan of a names file against the catalog."""

from __future__ import annotations

import io
import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name

from tests.support import run_python
from watcher.catalog import load_catalog_file
from watcher.cli import main
from watcher.matching import CatalogMatcher, Match
from watcher.matching.scan import read_dump

# Line by line: what each one is (against the standard catalog of tests/conftest.py).
NAMES = [
    "Acme_Billing",  # 1 exact acme-billing, prefix acme
    "acme-bi11ing",  # 2 confusable acme-billing, prefix acme
    "acmebilling",  # 3 separator acme-billing, prefix_separator acme
    "",  # 4 blank
    "payments-core-py",  # 5 affix payments-core
    "internal-tol",  # 6 typo internal-tool
    "django",  # 7 nothing
    "acme-public-sdk",  # 8 allowlisted: nothing
    "-bad",  # 9 invalid
    "two words",  # 10 invalid
    "acme.billing",  # 11 Acme_Billing again: reported once
]
EXPECTED = {
    ("acme-billing", "acme-billing", "exact", "critical"),
    ("acme-billing", "acme", "prefix", "high"),
    ("acme-bi11ing", "acme-billing", "confusable", "high"),
    ("acme-bi11ing", "acme", "prefix", "high"),
    ("acmebilling", "acme-billing", "separator", "medium"),
    ("acmebilling", "acme", "prefix_separator", "low"),
    ("payments-core-py", "payments-core", "affix", "medium"),
    ("internal-tol", "internal-tool", "typo", "medium"),
}
SUMMARY = re.compile(r"watcher: (\d+) names, (\d+) invalid, (\d+) matches \((.*)\)")


@pytest.fixture
def names_file(tmp_path: Path) -> Path:
    path = tmp_path / "names.txt"
    path.write_bytes("\r\n".join(NAMES).encode() + b"\r\n")
    return path


def reference(catalog_file: Path) -> list[Match]:
    """Every match, name by name, of the valid lines (each project once)."""
    matcher = CatalogMatcher(load_catalog_file(catalog_file))
    canonical = {canonicalize_name(n) for n in NAMES if n and " " not in n and n[0] != "-"}
    return [m for name in sorted(canonical) for m in matcher.match(name)]


def records(out: str) -> list[dict[str, Any]]:
    lines = out.splitlines()
    parsed = [json.loads(line) for line in lines]
    assert all(isinstance(r, dict) for r in parsed)
    return parsed


def as_tuples(parsed: list[dict[str, Any]]) -> set[tuple[str, str, str, str]]:
    return {(r["public"], r["internal"], r["kind"], r["severity"]) for r in parsed}


def check_stderr(err: str, names_file: Path) -> None:
    """The invalid lines with file:line, then one summary line with per-kind counts."""
    lines = err.splitlines()
    assert lines[:2] == [
        f"watcher: {names_file}:9: not a valid project name: '-bad'",
        f"watcher: {names_file}:10: not a valid project name: 'two words'",
    ]
    assert len(lines) == 3
    summary = SUMMARY.fullmatch(lines[2])
    assert summary is not None, lines[2]
    kinds = Counter(kind for _, _, kind, _ in EXPECTED)
    assert summary.group(2) == "2"
    assert summary.group(3) == str(len(EXPECTED))
    assert summary.group(4) == ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
    # Eight valid lines (the duplicate spelling included); blank lines are not counted.
    assert summary.group(1) == "8"


def test_json_lines(
    clean_env: None,
    catalog_file: Path,
    names_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["scan", "--names", str(names_file), "--catalog", str(catalog_file), "--json"])

    captured = capsys.readouterr()
    assert code == 0
    parsed = records(captured.out)
    assert all(set(r) == {"public", "internal", "kind", "detail", "severity"} for r in parsed)
    assert all(isinstance(r["detail"], str) and r["detail"] for r in parsed)
    assert len(parsed) == len(as_tuples(parsed)), "a match reported twice"
    assert as_tuples(parsed) == EXPECTED
    assert {(r["public"], r["internal"], r["kind"], r["detail"]) for r in parsed} == {
        (m.public_name, m.internal_name, str(m.kind), m.detail) for m in reference(catalog_file)
    }
    check_stderr(captured.err, names_file)


def test_catalog_from_the_environment(
    clean_env: None,
    monkeypatch: pytest.MonkeyPatch,
    catalog_file: Path,
    names_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("WATCHER_CATALOG", str(catalog_file))

    code = main(["scan", "--names", str(names_file), "--json"])

    captured = capsys.readouterr()
    assert code == 0
    assert as_tuples(records(captured.out)) == EXPECTED
    check_stderr(captured.err, names_file)


def test_catalog_from_a_config_file(
    clean_env: None,
    tmp_path: Path,
    catalog_file: Path,
    names_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "conf" / "watcher.toml"
    config.parent.mkdir()
    # Relative to the config file's directory.
    config.write_text(f'catalog = "../{catalog_file.name}"\n')

    code = main(["scan", "--names", str(names_file), "--config", str(config), "--json"])

    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert as_tuples(records(captured.out)) == EXPECTED


def test_catalog_option_wins_over_the_environment(
    clean_env: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    catalog_file: Path,
    names_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("WATCHER_CATALOG", str(tmp_path / "absent.toml"))

    code = main(["scan", "--names", str(names_file), "--catalog", str(catalog_file), "--json"])

    assert code == 0
    assert as_tuples(records(capsys.readouterr().out)) == EXPECTED


def test_table_output(
    clean_env: None,
    catalog_file: Path,
    names_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["scan", "--names", str(names_file), "--catalog", str(catalog_file)])

    captured = capsys.readouterr()
    assert code == 0
    rows = [line.split("\t") for line in captured.out.splitlines()]
    assert all(len(row) == 4 for row in rows), rows
    assert {(public, internal, kind) for public, internal, kind, _ in rows} == {
        (p, i, k) for p, i, k, _ in EXPECTED
    }
    assert len(rows) == len(EXPECTED)
    assert {
        (m.public_name, m.internal_name, str(m.kind), m.detail) for m in reference(catalog_file)
    } == {(row[0], row[1], row[2], row[3]) for row in rows}
    check_stderr(captured.err, names_file)


def test_with_workers(
    clean_env: None,
    catalog_file: Path,
    names_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for workers in ("1", "2"):
        argv = ["scan", "--names", str(names_file), "--catalog", str(catalog_file), "--json"]
        code = main([*argv, "--workers", workers])

        assert code == 0
        assert as_tuples(records(capsys.readouterr().out)) == EXPECTED


def test_no_match(
    clean_env: None, catalog_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = tmp_path / "names.txt"
    names.write_text("django\nrequests\n")

    code = main(["scan", "--names", str(names), "--catalog", str(catalog_file)])

    captured = capsys.readouterr()
    assert code == 0
    assert captured.out == ""
    assert captured.err == "watcher: 2 names, 0 invalid, 0 matches (none)\n"


def test_many_invalid_lines_are_capped(
    clean_env: None, catalog_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = tmp_path / "names.txt"
    names.write_text("".join(f"-bad{i}\n" for i in range(25)) + "acme-billing\n")

    code = main(["scan", "--names", str(names), "--catalog", str(catalog_file)])

    captured = capsys.readouterr()
    assert code == 0
    err = captured.err.splitlines()
    assert err[:20] == [
        f"watcher: {names}:{i + 1}: not a valid project name: '-bad{i}'" for i in range(20)
    ]
    assert err[20] == "watcher: ... and 5 more invalid lines"
    assert err[21].startswith("watcher: 1 names, 25 invalid, 2 matches (")
    assert len(err) == 22


# --- errors: exit 2 with one line on stderr -----------------------------------------------


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("watcher: ")
    return lines[0]


def test_missing_names_file(
    clean_env: None, catalog_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    absent = tmp_path / "absent.txt"

    code = main(["scan", "--names", str(absent), "--catalog", str(catalog_file)])

    assert code == 2
    line = one_error_line(capsys)
    assert str(absent) in line
    assert "No such file" in line


def test_missing_catalog_setting(
    clean_env: None, names_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["scan", "--names", str(names_file)])

    assert code == 2
    assert "WATCHER_CATALOG" in one_error_line(capsys)


def test_missing_catalog_file(
    clean_env: None, names_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    absent = tmp_path / "absent.toml"

    code = main(["scan", "--names", str(names_file), "--catalog", str(absent)])

    assert code == 2
    assert str(absent) in one_error_line(capsys)


@pytest.mark.parametrize("workers", ["0", "-1"])
def test_workers_must_be_positive(
    clean_env: None,
    catalog_file: Path,
    names_file: Path,
    workers: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["scan", "--names", str(names_file), "--catalog", str(catalog_file)]

    code = main([*argv, "--workers", workers])

    assert code == 2
    assert "--workers" in one_error_line(capsys)


def test_names_option_is_required(clean_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["scan"])

    assert info.value.code == 2
    assert "--names" in capsys.readouterr().err


# --- the real console entry point ---------------------------------------------------------


def test_scan_in_a_subprocess(tmp_path: Path, catalog_file: Path, names_file: Path) -> None:
    done = run_python(
        "-m",
        "watcher",
        "scan",
        "--names",
        names_file.name,
        "--json",
        cwd=tmp_path,
        env={"WATCHER_CATALOG": str(catalog_file)},
    )

    assert done.returncode == 0, done.stderr
    assert as_tuples(records(done.stdout)) == EXPECTED
    err = done.stderr.splitlines()
    assert err[0] == f"watcher: {names_file.name}:9: not a valid project name: '-bad'"
    assert SUMMARY.fullmatch(err[-1]) is not None


# --- standard input, comments ------------------------------------------------------------


def test_names_from_standard_input(
    clean_env: None,
    monkeypatch: pytest.MonkeyPatch,
    catalog_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = "\r\n".join(NAMES).encode() + b"\r\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))

    code = main(["scan", "--names", "-", "--catalog", str(catalog_file), "--json"])

    captured = capsys.readouterr()
    assert code == 0
    assert as_tuples(records(captured.out)) == EXPECTED
    lines = captured.err.splitlines()
    assert lines[:2] == [
        "watcher: <stdin>:9: not a valid project name: '-bad'",
        "watcher: <stdin>:10: not a valid project name: 'two words'",
    ]
    summary = SUMMARY.fullmatch(lines[2])
    assert summary is not None
    assert summary.group(1, 2) == ("8", "2")


def test_comment_and_blank_lines_are_skipped(
    clean_env: None, catalog_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = tmp_path / "names.txt"
    names.write_text(
        "# a dump of the index, 2024-05-01\n"
        "acme-billing\n"
        "\n"
        "   # indented comment\n"
        "\t\n"
        "#acme-tools (commented out)\r\n"
        "django # not a comment: a bad line\n"
        "-bad\n"
        "requests\n"
        "#\n"
    )

    code = main(["scan", "--names", str(names), "--catalog", str(catalog_file)])

    captured = capsys.readouterr()
    assert code == 0
    assert {tuple(line.split("\t")[:3]) for line in captured.out.splitlines()} == {
        ("acme-billing", "acme-billing", "exact"),
        ("acme-billing", "acme", "prefix"),
    }
    # Line numbers still count the skipped lines.
    assert captured.err.splitlines() == [
        f"watcher: {names}:7: not a valid project name: 'django # not a comment: a bad line'",
        f"watcher: {names}:8: not a valid project name: '-bad'",
        "watcher: 2 names, 2 invalid, 2 matches (exact 1, prefix 1)",
    ]


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_read_dump_skips_comments_whatever_the_line_ends(tmp_path: Path, newline: bytes) -> None:
    path = tmp_path / "names.txt"
    path.write_bytes(newline.join([b"#one", b"Acme_X", b"  #two", b"", b"#", b"-bad", b"b"]))

    dump = read_dump(path)

    assert dump.names == [b"acme-x", b"b"]
    assert dump.invalid == [(6, "-bad")]


def test_a_dump_of_only_comments_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "names.txt"
    path.write_bytes(b"# nothing yet\n#\n")

    dump = read_dump(path)

    assert dump.names == []
    assert dump.invalid == []


def test_standard_input_in_a_subprocess(tmp_path: Path, catalog_file: Path) -> None:
    done = run_python(
        "-m",
        "watcher",
        "scan",
        "--names",
        "-",
        "--catalog",
        str(catalog_file),
        cwd=tmp_path,
        stdin="# ours\nAcme_Billing\n\ndjango\n",
    )

    assert done.returncode == 0, done.stderr
    assert [line.split("\t")[:3] for line in done.stdout.splitlines()] == [
        ["acme-billing", "acme-billing", "exact"],
        ["acme-billing", "acme", "prefix"],
    ]
    assert done.stderr == "watcher: 2 names, 0 invalid, 2 matches (exact 1, prefix 1)\n"
