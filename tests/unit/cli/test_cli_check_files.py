"""``watcher check -r FILE`` in-process against the fake index: dependency files as a CI gate
(watcher.cli_check, watcher.depcheck, watcher.depfiles)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.pypi import FakeIndex
from tests.unit.cli.test_cli_check import cli_env, run_cli

__all__ = ["cli_env"]

HASH = "--hash=sha256:" + "a" * 64


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def out_json(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    captured = capsys.readouterr()
    document: dict[str, Any] = json.loads(captured.out)
    return document


async def test_an_extra_index_and_a_squatted_internal_name_fail_with_both_named(
    cli_env: None,
    fake_index: FakeIndex,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake_index.add_release("payments-core", "99.0")  # our internal name, on the public index
    fake_index.add_release("requests", "2.32.0")
    path = write(
        tmp_path,
        "requirements.txt",
        "--extra-index-url https://pkgs.acme.example/simple\n"
        "payments-core==1.2.0\n"
        "requests==2.32.0\n",
    )

    assert await run_cli("check", "-r", str(path)) == 1

    text = capsys.readouterr().out
    assert "extra-index-url" in text
    assert "CRITICAL" in text
    assert "payments-core" in text
    assert text.rstrip().endswith("RISKY: do not install as it is")

    assert await run_cli("check", "--json", "-r", str(path)) == 1
    document = out_json(capsys)
    assert document["risky"] is True
    assert "extra-index-url" in [p["code"] for p in document["problems"]]
    verdicts = {d["canonical"]: d for d in document["dependencies"]}
    assert verdicts["payments-core"]["risk"] == "critical"
    assert verdicts["payments-core"]["internal"] is True
    assert verdicts["payments-core"]["public_exists"] is True
    assert verdicts["requests"]["risk"] == "none"


async def test_a_clean_hash_pinned_single_index_file_passes(
    cli_env: None,
    fake_index: FakeIndex,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake_index.add_release("requests", "2.32.0")
    path = write(
        tmp_path,
        "requirements.txt",
        f"acme-billing==3.1.0 {HASH}\nrequests==2.32.0 \\\n    {HASH}\n",
    )

    assert await run_cli("check", f"-r{path}") == 0

    text = capsys.readouterr().out
    assert text.rstrip().endswith("clean")
    assert await run_cli("check", "-r", str(path), "--json") == 0
    document = out_json(capsys)
    assert document["risky"] is False
    verdicts = {d["canonical"]: d for d in document["dependencies"]}
    # Internal and free: medium (anyone could register it), which the file's pins decide.
    assert verdicts["acme-billing"]["risk"] == "medium"
    assert verdicts["acme-billing"]["internal"] is True


async def test_a_look_alike_of_an_internal_name_that_exists_fails(
    cli_env: None, fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_index.add_release("acme-biling", "9.0")  # one letter short of ours
    path = write(tmp_path, "requirements.txt", f"acme-biling==9.0 {HASH}\n")

    assert await run_cli("check", "-r", str(path), "--json") == 1
    [dep] = out_json(capsys)["dependencies"]
    assert dep["risk"] in ("high", "critical")
    assert dep["matches"][0]["internal_name"] in ("acme-billing", "acme")


async def test_includes_are_followed_and_sarif_names_the_file_and_line(
    cli_env: None, fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_index.add_release("payments-core", "99.0")
    write(tmp_path, "ci/base.txt", "payments-core>=1\n")
    path = write(tmp_path, "requirements.txt", "-r ci/base.txt\n")

    assert await run_cli("check", "--sarif", "-r", str(path), "--root", str(tmp_path)) == 1

    log = out_json(capsys)
    assert log["version"] == "2.1.0"
    results = log["runs"][0]["results"]
    located = {
        (r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"])
        for r in results
    }
    assert ("unpinned-internal", "ci/base.txt") in located
    assert any(uri == "ci/base.txt" for rule, uri in located if rule != "unpinned-internal")


async def test_unusable_input_exits_2_with_one_line(
    cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "pyproject.toml", "[project\nname = 'x'\n")
    assert await run_cli("check", "-r", str(path)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.splitlines()) == 1
    assert captured.err.startswith("watcher: ")
    assert await run_cli("check", "-r", str(tmp_path / "missing.txt")) == 2


async def test_a_name_and_files_together_or_json_and_sarif_are_usage_errors(
    cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "requirements.txt", "requests\n")
    assert await run_cli("check", "acme-x", "-r", str(path)) == 2
    assert await run_cli("check", "-r", str(path), "--json", "--sarif") == 2
    assert await run_cli("check") == 2


async def test_an_index_that_cannot_be_asked_is_never_clean(
    cli_env: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("WATCHER_PYPI_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("WATCHER_HTTP_RETRIES", "0")
    path = write(tmp_path, "requirements.txt", f"requests==2.32.0 {HASH}\n")
    assert await run_cli("check", "-r", str(path)) == 1
    assert "cannot ask the index" in capsys.readouterr().err
