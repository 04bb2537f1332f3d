"""pip requirements files: lines, options, includes (disk and memory), problems, limits."""

from __future__ import annotations

import builtins
import os
from pathlib import Path
from typing import Any

import pytest

from watcher.depfiles import (
    MAX_DEPENDENCIES,
    MAX_FILE_BYTES,
    MAX_INCLUDE_DEPTH,
    MAX_INCLUDED_FILES,
    MAX_NAME_LENGTH,
    MAX_TOTAL_BYTES,
    DependencyFile,
    DiskIncludes,
    MemoryIncludes,
    UnusableInput,
    load,
    parse,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "depfiles" / "requirements"
ALLOWED = frozenset({"files.example", ".acme.example"})
SECRET = "s3cr3t-t0ken"


def _memory_files() -> dict[str, bytes]:
    return {
        p.relative_to(FIXTURES).as_posix(): p.read_bytes()
        for p in FIXTURES.rglob("*.txt")
        if p.is_file()
    }


def _codes(report: DependencyFile) -> list[str]:
    return [p.code for p in report.problems]


def _req(text: str, **files: str) -> DependencyFile:
    return parse(
        "requirements.txt",
        text,
        includes=MemoryIncludes(files),
        allowed_hosts=ALLOWED,
    )


def test_fixture_dependencies_with_includes_from_disk() -> None:
    report = parse(
        "requirements.txt",
        (FIXTURES / "requirements.txt").read_bytes(),
        includes=DiskIncludes(FIXTURES),
        allowed_hosts=ALLOWED,
    )
    assert report.kind == "requirements"
    assert report.files == ("requirements.txt", "ci/base.txt", "constraints/pins.txt")
    deps = {(d.canonical, d.constraint): d for d in report.dependencies}
    requests = deps[("requests", False)]
    assert requests.extras == ("security", "socks")
    assert requests.marker == 'python_version >= "3.8"'
    assert requests.pinned == "2.31.0"
    assert len(requests.hashes) == 2
    assert all(h.startswith("sha256:") for h in requests.hashes)
    assert str(requests.location) == "requirements.txt:7"
    # -r and -c are resolved relative to the including file; locations name the included file
    assert str(deps[("attrs", False)].location) == "ci/base.txt:2"
    assert deps[("click", False)].marker == 'sys_platform != "win32"'
    assert deps[("acme-billing", True)].pinned == "1.4.2"
    assert deps[("acme-billing", False)].pinned is None
    widget = deps[("widget-tools", False)]
    assert widget.url == "https://files.example/wheels/widget_tools-1.2.0-py3-none-any.whl"
    legacy = deps[("legacy-thing", False)]
    assert legacy.pinned == "0.9"  # from the sdist file name
    editable = next(d for d in report.dependencies if d.editable)
    assert editable.url == "./local/acme-dev-helpers"


def test_fixture_problems() -> None:
    report = load(FIXTURES / "requirements.txt", root=FIXTURES, allowed_hosts=ALLOWED)
    codes = _codes(report)
    assert "extra-index-url" in codes
    assert "index-credentials" in codes
    assert "editable" in codes
    assert "local-path" in codes
    unexpected = [p for p in report.problems if p.code == "unexpected-url-host"]
    assert [p.location.line for p in unexpected] == [14]
    assert "downloads.example" in unexpected[0].message
    # some requirements have hashes: pip's hash-checking mode refuses the others
    missing = {
        p.dependency.canonical for p in report.problems if p.code == "no-hashes" if p.dependency
    }
    assert {"click", "acme-billing", "acme-ledger"} <= missing
    assert "attrs" not in missing
    assert "requests" not in missing
    assert "urllib3" not in missing  # constraints install nothing
    assert report.has_errors


def test_credentials_never_appear_anywhere() -> None:
    report = load(FIXTURES / "requirements.txt", root=FIXTURES, allowed_hosts=ALLOWED)
    assert SECRET not in repr(report)
    assert "deploy-bot" not in repr(report)
    assert any(i.url == "https://***@pkgs.acme.example/simple" for i in report.indexes)
    with pytest.raises(UnusableInput) as info:
        _req(f"foo @@ https://user:{SECRET}@files.example/x.whl\n")
    assert SECRET not in str(info.value)


def test_memory_includes_match_disk() -> None:
    files = _memory_files()
    memory = parse(
        "requirements.txt",
        files["requirements.txt"],
        includes=MemoryIncludes(files),
        allowed_hosts=ALLOWED,
    )
    disk = load(FIXTURES / "requirements.txt", root=FIXTURES, allowed_hosts=ALLOWED)
    assert memory == disk


def test_memory_includes_never_touch_the_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    files = _memory_files()

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"disk access: {args!r}")

    monkeypatch.setattr(builtins, "open", refuse)
    monkeypatch.setattr(os, "open", refuse)
    monkeypatch.setattr(os, "stat", refuse)
    monkeypatch.setattr(Path, "open", refuse)
    monkeypatch.setattr(Path, "resolve", refuse)
    report = parse(
        "requirements.txt",
        files["requirements.txt"]
        + b"-r ../../outside/secret.txt\n-r /outside/secret.txt\n-r nothere.txt\n",
        includes=MemoryIncludes(files),
        allowed_hosts=ALLOWED,
    )
    codes = _codes(report)
    assert codes.count("include-outside-root") == 2
    assert "missing-include" in codes


@pytest.mark.parametrize(
    ("files", "chain"),
    [
        ({"requirements.txt": "-r requirements.txt\n"}, "requirements.txt -> requirements.txt"),
        (
            {"requirements.txt": "-r a/b.txt\n", "a/b.txt": "-c ../requirements.txt\n"},
            "requirements.txt -> a/b.txt -> requirements.txt",
        ),
        (
            {"requirements.txt": "-r a.txt\n", "a.txt": "-r ./b.txt\n", "b.txt": "-r a.txt"},
            "a.txt -> b.txt -> a.txt",
        ),
    ],
)
def test_include_cycles_are_refused(files: dict[str, str], chain: str) -> None:
    with pytest.raises(UnusableInput, match="include cycle") as info:
        parse("requirements.txt", files["requirements.txt"], includes=MemoryIncludes(files))
    assert chain in str(info.value)


def test_same_file_twice_is_no_cycle() -> None:
    report = _req("-r a.txt\n-c a.txt\n", **{"a.txt": "six==1.16.0\n"})
    assert [d.constraint for d in report.dependencies] == [False, True]


def test_include_depth_is_limited() -> None:
    files = {f"{i}.txt": f"-r {i + 1}.txt\n" for i in range(MAX_INCLUDE_DEPTH + 2)}
    with pytest.raises(UnusableInput, match="deeper"):
        parse("0.txt", files["0.txt"], includes=MemoryIncludes(files))


def test_disk_includes_refuse_to_leave_the_root(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "sub").mkdir(parents=True)
    (tmp_path / "outside.txt").write_text("leaked==1.0\n")
    (root / "sub" / "link.txt").symlink_to(tmp_path / "outside.txt")
    (root / "requirements.txt").write_text(
        "-r ../outside.txt\n-r sub/link.txt\n-r /outside/secret.txt\n-r missing.txt\n-r sub\n"
    )
    report = load(root / "requirements.txt", root=root)
    assert not any(d.name == "leaked" for d in report.dependencies)
    assert _codes(report) == [
        "include-outside-root",
        "include-outside-root",
        "include-outside-root",
        "missing-include",
        "missing-include",
    ]


def test_disk_includes_within_a_wider_root(tmp_path: Path) -> None:
    (tmp_path / "common.txt").write_text("six==1.16.0 --hash=sha256:ab\n")
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "requirements.txt").write_text("-r ../common.txt\n")
    report = load(tmp_path / "svc" / "requirements.txt", root=tmp_path)
    assert report.name == "svc/requirements.txt"
    assert [str(d.location) for d in report.dependencies] == ["common.txt:1"]
    assert _codes(report) == []


def test_no_resolver_and_remote_includes() -> None:
    report = parse("r.txt", "-r other.txt\n-c https://u:pw@files.example/c.txt\n", includes=None)
    assert _codes(report) == ["missing-include", "remote-include", "index-credentials"]
    assert "pw" not in repr(report)


def test_index_options() -> None:
    report = _req(
        "-i http://index.example/simple\n"
        "--find-links=https://files.example/links/\n"
        "--trusted-host index.example\n"
        "--pre --prefer-binary\n"
        "--frobnicate\n"
        "six==1.16.0\n"
    )
    codes = _codes(report)
    assert codes == [
        "insecure-index",
        "trusted-host",
        "unknown-option",
        "find-links",
        "no-hashes",
    ]
    find_links = next(p for p in report.problems if p.code == "find-links")
    assert find_links.severity == "error"
    assert [i.role for i in report.indexes] == ["primary", "find-links"]


def test_find_links_alone_is_a_warning() -> None:
    report = _req("--no-index\n-f ./wheels\nsix==1.16.0 --hash=sha256:ab\n")
    assert [(p.code, p.severity) for p in report.problems] == [("find-links", "warning")]


def test_no_hashes_anywhere_is_one_warning() -> None:
    report = _req("six==1.16.0\nattrs==23.2.0\n")
    assert [(p.code, p.severity, p.location.line) for p in report.problems] == [
        ("no-hashes", "warning", None)
    ]


def test_require_hashes_makes_missing_hashes_errors() -> None:
    report = _req("--require-hashes\nsix==1.16.0\n")
    assert [(p.code, p.severity) for p in report.problems] == [("no-hashes", "error")]


def test_clean_hash_pinned_single_index_file() -> None:
    report = _req(
        "--index-url https://artifacts.acme.example/simple\n"
        "six==1.16.0 \\\n    --hash=sha256:aa \\\n    --hash sha256:bb\n"
        "attrs==23.2.0 --hash=sha256:cc  # trailing comment\n"
    )
    assert report.problems == ()
    assert [d.hashes for d in report.dependencies] == [("sha256:aa", "sha256:bb"), ("sha256:cc",)]
    assert [d.location.line for d in report.dependencies] == [2, 5]


@pytest.mark.parametrize(
    ("line", "name", "pinned"),
    [
        ("foo==1.0", "foo", "1.0"),
        ("foo == 1.0", "foo", "1.0"),
        ("foo===weird-1", "foo", "weird-1"),
        ("foo==1.*", "foo", None),
        ("foo>=1", "foo", None),
        ("foo==1.0,<2", "foo", None),
        ("Foo_Bar.baz", "Foo_Bar.baz", None),
        ("foo[a,b]~=1.0; os_name == 'nt'", "foo", None),
        ("foo-1.0-py3-none-any.whl", "foo", "1.0"),
        ("./dist/foo-2.0.tar.gz", "foo", "2.0"),
        ("git+https://git.acme.example/foo.git@v1#egg=foo", "foo", None),
        ("https://files.example/foo.zip#egg=foo[x]", "foo", None),
    ],
)
def test_requirement_forms(line: str, name: str, pinned: str | None) -> None:
    (dep,) = _req(line + "\n").dependencies
    assert dep.name == name
    assert dep.pinned == pinned


def test_bare_url_without_a_name() -> None:
    report = _req("https://files.example/download?id=3 ; python_version < '4'\n")
    (dep,) = report.dependencies
    assert dep.name == ""
    assert dep.canonical == ""
    assert dep.marker == 'python_version < "4"'
    assert "unnamed-requirement" in _codes(report)


def test_comment_and_fragment() -> None:
    report = _req(
        "# comment \\\nfoo==1 # note\n  # indented comment\nhttps://files.example/b.whl#egg=bar\n"
    )
    assert [d.name for d in report.dependencies] == ["foo", "bar"]
    assert report.dependencies[1].url == "https://files.example/b.whl#egg=bar"


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("six==1.0\nfoo>>>1\n", "requirements.txt:2", "invalid requirement"),
        ("--hash=sha256:aa\n", "requirements.txt:1", "--hash without"),
        ("-i\n", "requirements.txt:1", "needs a value"),
        ("-r 'unbalanced\n", "requirements.txt:1", "cannot split"),
        ("foo; os_name ===\n", "requirements.txt:1", "invalid requirement"),
        ("./x.whl ; bad marker\n", "requirements.txt:1", "invalid environment marker"),
    ],
)
def test_malformed_lines_name_file_and_line(text: str, where: str, message: str) -> None:
    with pytest.raises(UnusableInput, match=message) as info:
        _req(text)
    assert str(info.value).startswith(where + ": ")
    assert "\n" not in str(info.value)


def test_limits() -> None:
    with pytest.raises(UnusableInput) as info:
        _req("x" * (MAX_FILE_BYTES + 1))
    assert info.value.too_large
    with pytest.raises(UnusableInput, match="more than") as info:
        _req("six\n" * (MAX_DEPENDENCIES + 1))
    assert info.value.too_large
    with pytest.raises(UnusableInput, match="longer than"):
        _req("a" * (MAX_NAME_LENGTH + 1) + "\n")
    _req("a" * MAX_NAME_LENGTH + "\n")


def test_binary_and_encoding() -> None:
    with pytest.raises(UnusableInput, match="binary"):
        _req(b"\x89PNG\r\n\x1a\n\x00\x00")  # type: ignore[arg-type]
    with pytest.raises(UnusableInput, match="UTF-8") as info:
        parse("requirements.txt", b"six\nfo\xffo\n")
    assert info.value.line == 2
    assert parse("requirements.txt", b"\xef\xbb\xbfsix==1\n").dependencies[0].name == "six"


def test_load_reports_unreadable_input(tmp_path: Path) -> None:
    with pytest.raises(UnusableInput, match="cannot be read"):
        load(tmp_path / "absent.txt", root=tmp_path)
    with pytest.raises(UnusableInput, match="outside the include root"):
        load(tmp_path / "x.txt", root=tmp_path / "sub")


def test_includes_together_are_limited() -> None:
    big = "# " + "x" * (MAX_FILE_BYTES - 10) + "\n"
    count = MAX_TOTAL_BYTES // MAX_FILE_BYTES + 1
    files = {f"{i}.txt": big for i in range(count)}
    top = "".join(f"-r {i}.txt\n" for i in range(count))
    with pytest.raises(UnusableInput, match="together") as info:
        _req(top, **files)
    assert info.value.too_large


def test_number_of_included_files_is_limited() -> None:
    top = "".join(f"-r {i}.txt\n" for i in range(MAX_INCLUDED_FILES + 1))
    files = {f"{i}.txt": "six==1.0\n" for i in range(MAX_INCLUDED_FILES + 1)}
    with pytest.raises(UnusableInput, match="included files"):
        _req(top, **files)
    _req("".join(f"-r {i}.txt\n" for i in range(MAX_INCLUDED_FILES - 1)), **files)


def test_environment_references_are_not_credentials() -> None:
    report = _req(
        "--index-url https://${PIP_USER}:${PIP_TOKEN}@artifacts.acme.example/simple\n"
        "six==1.0 --hash=sha256:aa\n"
    )
    assert report.problems == ()
    assert report.indexes[0].url == "https://***@artifacts.acme.example/simple"
