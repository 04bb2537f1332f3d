"""``watcher check NAME`` in-process against the fake index (watcher.cli, watcher.checks)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.pypi import FakeIndex
from watcher import __version__
from watcher.cli import main


@pytest.fixture
def cli_env(
    clean_env: None,
    monkeypatch: pytest.MonkeyPatch,
    fake_index: FakeIndex,
    catalog_file: Path,
    tmp_path: Path,
) -> None:
    """Settings for ``watcher check`` pointing at the fake index and the standard catalog."""
    monkeypatch.setenv("WATCHER_PYPI_URL", fake_index.base_url)
    monkeypatch.setenv("WATCHER_CATALOG", str(catalog_file))
    monkeypatch.setenv("WATCHER_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}")
    monkeypatch.setenv("WATCHER_HTTP_RETRIES", "1")
    monkeypatch.setenv("WATCHER_HTTP_TIMEOUT", "5")


async def run_cli(*argv: str) -> int:
    # main() runs its own event loop (asyncio.run); the fake index is served by this test's
    # loop, so the CLI runs in a worker thread while this loop keeps answering.
    return await asyncio.to_thread(main, list(argv))


def json_out(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    captured = capsys.readouterr()
    assert captured.err == ""
    document = json.loads(captured.out)
    assert isinstance(document, dict)
    return document


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("watcher: ")
    return lines[0]


# -- verdicts -------------------------------------------------------------------


async def test_squatted_internal_name_is_critical(
    cli_env: None, fake_index: FakeIndex, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_index.add_release("Payments.Core", "99.0")

    assert await run_cli("check", "payments_core") == 0

    captured = capsys.readouterr()
    assert captured.err == ""
    lines = captured.out.splitlines()
    assert lines[0] == "payments-core: risk CRITICAL"
    assert lines[1].split() == ["internal", "name:", "yes"]
    assert lines[2].split() == ["allowlisted:", "no"]
    # No database here: asked the index, and the look-alikes are unknown, not "none".
    assert lines[3] == "  public project exists: yes (asked the index just now)"
    assert lines[4].strip() == "matches:"
    assert lines[5].split()[:2] == ["exact", "payments-core"]
    assert "'Payments_Core'" in lines[5]
    assert lines[6] == "  public look-alikes: unknown (no database here)"
    assert (
        lines[7]
        == "  verdict: our versions are unknown: no private index lists this name with a version"
    )
    assert lines[8].startswith("  what to do: Someone else holds our internal name publicly")
    assert len(lines) == 9


async def test_squatted_internal_name_as_json(
    cli_env: None, fake_index: FakeIndex, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_index.add_release("Payments.Core", "99.0")

    assert await run_cli("check", "Payments.Core", "--json") == 0

    verdict = json_out(capsys)
    assert verdict["name"] == "payments-core"
    assert verdict["internal"] is True
    assert verdict["allowlisted"] is False
    assert verdict["public_exists"] is True
    assert verdict["risk"] == "critical"
    assert len(verdict["matches"]) == 1
    match = verdict["matches"][0]
    assert match["kind"] == "exact"
    assert match["internal_name"] == "payments-core"
    assert match["public_name"] == "payments-core"
    assert match["severity"] == "critical"
    assert "Payments_Core" in match["detail"]
    # The base URL was confirmed to be an index first; then the question went to the
    # index's simple API, with our User-Agent.
    confirm_simple, confirm_feed, request = fake_index.requests
    assert (confirm_simple.path, confirm_feed.path) == ("/simple/", "/rss/updates.xml")
    assert request.path == "/simple/payments-core/"
    assert request.headers["User-Agent"] == f"watcher/{__version__}"


async def test_internal_name_under_a_prefix_lists_both_matches(
    cli_env: None, fake_index: FakeIndex, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_index.add_release("acme-billing", "1.0")

    assert await run_cli("check", "acme-billing", "--json") == 0

    verdict = json_out(capsys)
    assert verdict["risk"] == "critical"
    assert [(m["kind"], m["internal_name"], m["public_name"]) for m in verdict["matches"]] == [
        ("exact", "acme-billing", "acme-billing"),
        ("prefix", "acme", "acme-billing"),
    ]


async def test_existing_project_under_a_prefix_is_high(
    cli_env: None, fake_index: FakeIndex, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_index.add_project("acme-payments")

    assert await run_cli("check", "acme_payments", "--json") == 0

    verdict = json_out(capsys)
    assert verdict["internal"] is False
    assert verdict["public_exists"] is True
    assert verdict["risk"] == "high"
    assert [(m["kind"], m["internal_name"]) for m in verdict["matches"]] == [("prefix", "acme")]


async def test_free_internal_name_is_medium(
    cli_env: None, fake_index: FakeIndex, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_index.add_release("unrelated", "1.0")

    assert await run_cli("check", "internal-tool", "--json") == 0

    verdict = json_out(capsys)
    assert verdict["name"] == "internal-tool"
    assert verdict["internal"] is True
    assert verdict["public_exists"] is False
    assert verdict["risk"] == "medium"
    assert [m["kind"] for m in verdict["matches"]] == ["exact"]


async def test_free_unrelated_name(
    cli_env: None, fake_index: FakeIndex, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run_cli("check", "Some.Free_Name") == 0

    captured = capsys.readouterr()
    assert captured.err == ""
    lines = captured.out.splitlines()
    assert lines[0] == "some-free-name: risk NONE"
    assert lines[1].split() == ["internal", "name:", "no"]
    assert lines[3].split()[:4] == ["public", "project", "exists:", "no"]
    assert lines[4].strip() == "matches: none"
    assert lines[5] == "  public look-alikes: unknown (no database here)"
    assert [r.path for r in fake_index.requests] == [
        "/simple/",
        "/rss/updates.xml",
        "/simple/some-free-name/",
    ]


async def test_free_unrelated_name_as_json(
    cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run_cli("check", "some-free-name", "--json") == 0

    assert json_out(capsys) == {
        "name": "some-free-name",
        "internal": False,
        "allowlisted": False,
        "public_exists": False,
        "basis": {"source": "index", "as_of": None},
        "risk": "none",
        "matches": [],
        "index_would_accept": {
            "accepted": True,
            "reason": "free, unless the index's administrators prohibited it",
        },
        "reason": "free, and unlike any of our names",
        "remediation": "Nothing of ours at stake.",
    }


async def test_allowlisted_project_is_no_risk(
    cli_env: None, fake_index: FakeIndex, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_index.add_release("acme-public-sdk", "2.0")

    assert await run_cli("check", "acme-public-sdk", "--json") == 0

    verdict = json_out(capsys)
    assert verdict["allowlisted"] is True
    assert verdict["public_exists"] is True
    assert verdict["risk"] == "none"
    assert verdict["matches"] == []


# -- failures -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["bad name", "-x", "../x", "é", "x" * 201, "acme\n"])
async def test_invalid_name_exits_2_without_asking_the_index(
    cli_env: None, fake_index: FakeIndex, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    # "--" so that "-x" is read as the name, not an option.
    assert await run_cli("check", "--json", "--", name) == 2

    assert one_error_line(capsys).startswith("watcher: invalid project name ")
    assert fake_index.requests == []


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["-acme"], "-acme"),
        (["-acme", "--json"], "-acme"),
        (["--json", "-acme"], "-acme"),
        (["--config", "unread.toml", "-acme"], "-acme"),
        (["-acme", "--json", "--config", "unread.toml"], "-acme"),
        (["--config=unread.toml", "-acme", "--json"], "-acme"),
        (["--acme"], "--acme"),
        (["-"], "-"),
        (["-x-"], "-x-"),
    ],
)
async def test_a_name_starting_with_a_dash_needs_no_double_dash(
    cli_env: None,
    fake_index: FakeIndex,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    name: str,
) -> None:
    # Not an argparse usage error: the name reaches validation, before the settings are read
    # (the --config file, which does not exist, is never opened).
    assert await run_cli("check", *argv) == 2

    assert one_error_line(capsys) == (
        f"watcher: invalid project name {name!r}: must be letters, digits, '.', '_' or '-',"
        " starting and ending with a letter or digit"
    )
    assert fake_index.requests == []


async def test_an_unknown_option_next_to_a_name_is_a_usage_error(
    cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        await run_cli("check", "acme", "--jsn")

    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "usage: watcher" in err
    assert "unrecognized arguments: --jsn" in err


async def test_check_help_still_works(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        await run_cli("check", "-h")

    assert info.value.code == 0
    assert "usage: watcher check" in capsys.readouterr().out


async def test_index_failing_exits_1(
    cli_env: None, fake_index: FakeIndex, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_index.fail("/simple/", 500, times=None)

    assert await run_cli("check", "payments-core", "--json") == 1

    line = one_error_line(capsys)
    assert line.startswith("watcher: cannot ask the index: ")
    assert "HTTP 500" in line
    # WATCHER_HTTP_RETRIES=1: the first attempt and one retry, of the confirmation that
    # the base URL is an index; the name is never asked (and never called free).
    assert [r.path for r in fake_index.requests] == ["/simple/"] * 2


async def test_index_unreachable_exits_1(
    cli_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async with FakeIndex() as gone:
        url = gone.base_url
    monkeypatch.setenv("WATCHER_PYPI_URL", url)
    monkeypatch.setenv("WATCHER_HTTP_RETRIES", "0")

    assert await run_cli("check", "payments-core") == 1

    assert one_error_line(capsys).startswith("watcher: cannot ask the index: ")


async def test_missing_pypi_url_exits_2(
    cli_env: None,
    monkeypatch: pytest.MonkeyPatch,
    fake_index: FakeIndex,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("WATCHER_PYPI_URL")

    assert await run_cli("check", "payments-core") == 2

    assert one_error_line(capsys).startswith("watcher: WATCHER_PYPI_URL is not set")
    assert fake_index.requests == []


async def test_missing_catalog_exits_2(
    cli_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("WATCHER_CATALOG")

    assert await run_cli("check", "payments-core") == 2

    assert one_error_line(capsys).startswith("watcher: WATCHER_CATALOG is not set")


async def test_invalid_setting_exits_2(
    cli_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WATCHER_POLL_INTERVAL", "0")

    assert await run_cli("check", "payments-core") == 2

    assert one_error_line(capsys).startswith("watcher: WATCHER_POLL_INTERVAL: ")


@pytest.fixture
def bad_catalog(catalog_file: Path) -> Path:
    catalog_file.write_text('names = ["ok"]\nprefixes = ["bad prefix"]\n')
    return catalog_file


async def test_bad_catalog_exits_2(
    cli_env: None,
    bad_catalog: Path,
    fake_index: FakeIndex,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert await run_cli("check", "ok") == 2

    line = one_error_line(capsys)
    assert line.startswith(f"watcher: catalog {bad_catalog}: line 2: prefixes: ")
    assert fake_index.requests == []


@pytest.fixture
def config_file(fake_index: FakeIndex, catalog_file: Path, tmp_path: Path) -> Path:
    """A settings file naming the fake index and the catalog (no environment needed)."""
    config = tmp_path / "watcher.toml"
    config.write_text(
        f'pypi_url = "{fake_index.base_url}"\n'
        f'catalog = "{catalog_file.as_posix()}"\n'
        'user_agent = "watcher-test (security@example.com)"\n'
    )
    return config


@pytest.mark.parametrize(
    "order",
    [
        ["--config", "{config}", "acme", "--json"],
        ["acme", "--json", "--config", "{config}"],
        ["--json", "--config={config}", "acme"],
        ["acme", "--config", "{config}", "--json"],
    ],
)
async def test_config_file_supplies_the_settings(
    clean_env: None,
    fake_index: FakeIndex,
    config_file: Path,
    capsys: pytest.CaptureFixture[str],
    order: list[str],
) -> None:
    fake_index.add_project("acme")
    argv = [arg.format(config=config_file) for arg in order]

    assert await run_cli("check", *argv) == 0

    verdict = json_out(capsys)
    assert verdict["risk"] == "high"
    assert fake_index.requests[0].headers["User-Agent"] == "watcher-test (security@example.com)"


@pytest.fixture
def misspelled_config(config_file: Path) -> Path:
    with config_file.open("a") as fh:
        fh.write('slack_tokn = "x"\n')
    return config_file


async def test_unknown_key_in_config_file_exits_2(
    clean_env: None,
    misspelled_config: Path,
    fake_index: FakeIndex,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert await run_cli("check", "--config", str(misspelled_config), "acme") == 2

    line = one_error_line(capsys)
    assert "unknown setting 'slack_tokn'" in line
    assert str(misspelled_config) in line
    assert fake_index.requests == []
