"""Loading the catalog TOML file (watcher.catalog.files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from watcher.catalog import Catalog, load_catalog_file
from watcher.errors import CatalogError

LONG = "a" * 300


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _problems(path: Path) -> list[str]:
    with pytest.raises(CatalogError) as info:
        load_catalog_file(path)
    error = info.value
    assert error.path == str(path)
    assert str(error).startswith(f"catalog {path}: ")
    for problem in error.problems:
        assert problem in str(error)
    return error.problems


def test_valid_file_loads(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
# internal names, any spelling
names = ["acme-billing", "Payments_Core"]
prefixes = ["Acme"]
allow = ["Acme.Public_SDK"]
owners = ["Acme-Corp", "SecTeam"]
""",
    )

    catalog = load_catalog_file(path)

    assert isinstance(catalog, Catalog)
    assert dict(catalog.names) == {
        "acme-billing": "acme-billing",
        "payments-core": "Payments_Core",
    }
    assert dict(catalog.prefixes) == {"acme": "Acme"}
    assert catalog.allow == frozenset({"acme-public-sdk"})
    assert catalog.owners == frozenset({"acme-corp", "secteam"})


def test_only_prefixes_is_enough(tmp_path: Path) -> None:
    catalog = load_catalog_file(_write(tmp_path, 'prefixes = ["acme"]\n'))

    assert dict(catalog.prefixes) == {"acme": "acme"}
    assert dict(catalog.names) == {}
    assert catalog.allow == frozenset()
    assert catalog.owners == frozenset()


def test_multiline_lists_and_literal_strings(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
names = [
    'acme-billing',  # the billing service
    "internal.tool",
]
""",
    )

    assert dict(load_catalog_file(path).names) == {
        "acme-billing": "acme-billing",
        "internal-tool": "internal.tool",
    }


def test_other_spellings_of_one_name_collapse_to_the_first(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        'names = ["Payments_Core", "payments.core", "PAYMENTS-CORE"]\n'
        'prefixes = ["acme", "ACME"]\n'
        'allow = ["a.b", "A_B"]\n',
    )

    catalog = load_catalog_file(path)

    assert dict(catalog.names) == {"payments-core": "Payments_Core"}
    assert dict(catalog.prefixes) == {"acme": "acme"}
    assert catalog.allow == frozenset({"a-b"})


def test_owners_are_lower_cased_and_empty_ones_dropped(tmp_path: Path) -> None:
    path = _write(tmp_path, 'names = ["x"]\nowners = ["Acme-Corp", "ACME-CORP", ""]\n')

    assert load_catalog_file(path).owners == frozenset({"acme-corp"})


# -- invalid names ---------------------------------------------------------------


def test_invalid_names_are_reported_with_their_lines(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        f"""\
# the catalog
names = [
    "good-name",
    "bad name",
    "-x",
    "é",
    "",
    "{LONG}",
]
""",
    )

    problems = _problems(path)

    assert len(problems) == 5
    assert problems[0].startswith("line 4: names: invalid project name 'bad name'")
    assert problems[1].startswith("line 5: names: invalid project name '-x'")
    assert problems[2] == "line 6: names: invalid project name 'é': not ASCII"
    assert problems[3] == "line 7: names: invalid project name '': empty"
    assert problems[4].startswith("line 8: names: invalid project name 'aaa")
    assert problems[4].endswith("longer than 200 characters")


@pytest.mark.parametrize("key", ["names", "prefixes", "allow"])
def test_invalid_name_under_each_key(tmp_path: Path, key: str) -> None:
    path = _write(tmp_path, f'owners = ["us"]\n\n{key} = ["ok", "../x"]\n')

    problems = _problems(path)

    assert problems == [
        f"line 3: {key}: invalid project name '../x': must be letters, digits, '.', '_' or '-',"
        " starting and ending with a letter or digit"
    ]


def test_same_invalid_name_under_two_keys_is_reported_at_each_line(tmp_path: Path) -> None:
    path = _write(tmp_path, 'names = ["-x"]\nprefixes = ["ok"]\nallow = ["-x"]\n')

    problems = _problems(path)

    assert [p.split(":", 2)[:2] for p in problems] == [
        ["line 1", " names"],
        ["line 3", " allow"],
    ]


def test_invalid_name_in_a_comment_does_not_mislead_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, '# was "bad name" once\nnames = ["ok"]\nallow = ["bad name"]\n')

    assert _problems(path)[0].startswith("line 3: allow: ")


def test_one_bad_name_does_not_hide_the_others(tmp_path: Path) -> None:
    path = _write(tmp_path, 'names = ["-a", "ok"]\nprefixes = ["b-"]\nowners = [7]\n')

    problems = _problems(path)

    assert [p.split(":")[0] for p in problems] == ["line 1", "line 2", "line 3"]


# -- structure -------------------------------------------------------------------


KNOWN = "names, prefixes, allow, owners, indexes, aliases"


def test_unknown_key(tmp_path: Path) -> None:
    path = _write(tmp_path, 'names = ["ok"]\nprefix = ["acme"]\n')

    assert _problems(path) == [f"line 2: unknown key 'prefix' (expected one of {KNOWN})"]


def test_unknown_table(tmp_path: Path) -> None:
    path = _write(tmp_path, 'names = ["ok"]\n\n[settings]\nx = 1\n')

    assert _problems(path) == [f"line 3: unknown key 'settings' (expected one of {KNOWN})"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('names = "acme"\n', "line 1: names must be a list of strings"),
        ('names = ["ok"]\nprefixes = "acme"\n', "line 2: prefixes must be a list of strings"),
        ('names = ["ok"]\nallow = {x = 1}\n', "line 2: allow must be a list of strings"),
        ('names = ["ok"]\nowners = "me"\n', "line 2: owners must be a list of strings"),
        ('names = ["ok", 3]\n', "line 1: names must hold strings, found 3"),
        ('names = ["ok"]\nowners = [true]\n', "line 2: owners must hold strings, found True"),
        ('names = [["nested"]]\n', "line 1: names must hold strings, found ['nested']"),
    ],
)
def test_wrong_types(tmp_path: Path, text: str, problem: str) -> None:
    assert problem in _problems(_write(tmp_path, text))


def test_not_toml(tmp_path: Path) -> None:
    path = _write(tmp_path, 'names = ["ok"]\nthis is not toml\n')

    (problem,) = _problems(path)

    assert problem.startswith("not valid TOML: ")
    assert "line 2" in problem


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    path.write_bytes(b'names = ["caf\xe9"]\n')

    assert _problems(path) == ["not UTF-8 text"]


def test_missing_file(tmp_path: Path) -> None:
    assert _problems(tmp_path / "nope.toml") == ["No such file or directory"]


@pytest.mark.parametrize(
    "text",
    ["", "# nothing yet\n", "names = []\nprefixes = []\n", 'allow = ["x"]\nowners = ["us"]\n'],
)
def test_empty_catalog_is_refused(tmp_path: Path, text: str) -> None:
    assert _problems(_write(tmp_path, text)) == [
        "no names, no prefixes and no indexes: nothing to protect"
    ]


# -- contradictions ----------------------------------------------------------------


def test_name_both_internal_and_allowlisted_is_refused(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        'names = ["acme-billing", "internal-tool"]\n'
        'prefixes = ["acme"]\n'
        "allow = [\n"
        '    "acme-public-sdk",\n'
        '    "internal-tool",\n'
        "]\n",
    )

    assert _problems(path) == [
        "line 5: 'internal-tool' is both an internal name and allowlisted;"
        " remove it from names or from allow"
    ]


def test_name_both_internal_and_allowlisted_in_another_spelling(tmp_path: Path) -> None:
    path = _write(tmp_path, 'names = ["Payments_Core"]\nallow = ["payments.core"]\n')

    assert _problems(path) == [
        "line 2: 'payments.core' is both an internal name (as 'Payments_Core') and"
        " allowlisted; remove it from names or from allow"
    ]


def test_every_contradiction_is_reported_with_the_other_problems(tmp_path: Path) -> None:
    path = _write(
        tmp_path, 'names = ["a", "b", "-bad"]\nallow = ["a", "B"]\nowners = ["us"]\nallow2 = 1\n'
    )

    problems = _problems(path)

    assert [p.split(":")[0] for p in problems] == ["line 4", "line 1", "line 2", "line 2"]
    assert "'a' is both an internal name and allowlisted" in problems[2]
    assert "'B' is both an internal name (as 'b') and allowlisted" in problems[3]


def test_allowlisted_name_under_a_prefix_is_fine(tmp_path: Path) -> None:
    catalog = load_catalog_file(
        _write(tmp_path, 'prefixes = ["acme"]\nnames = ["acme-billing"]\nallow = ["acme-sdk"]\n')
    )

    assert catalog.allow == frozenset({"acme-sdk"})


def test_indexes_are_read_with_credentials_named_not_given(tmp_path: Path) -> None:
    catalog = load_catalog_file(
        _write(
            tmp_path,
            """\
prefixes = ["acme"]

[[indexes]]
url = "https://artifacts.example.internal/api/pypi/local/simple"
username_env = "ACME_INDEX_USER"
password_env = "ACME_INDEX_PASSWORD"

[[indexes]]
url = "http://127.0.0.1:8081/simple/"
token_env = "ACME_TOKEN"
""",
        )
    )
    first, second = catalog.indexes
    assert first.url == "https://artifacts.example.internal/api/pypi/local/simple/"
    assert (first.username_env, first.password_env, first.token_env) == (
        "ACME_INDEX_USER",
        "ACME_INDEX_PASSWORD",
        None,
    )
    assert second.token_env == "ACME_TOKEN"
    assert second.username_env is None


def test_an_index_alone_is_enough_to_protect(tmp_path: Path) -> None:
    catalog = load_catalog_file(
        _write(tmp_path, '[[indexes]]\nurl = "http://127.0.0.1:1/simple/"\n')
    )
    assert not catalog.names
    assert len(catalog.indexes) == 1


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ('url = "ftp://host/simple/"', "url must be an http:// or https:// URL"),
        ("", "url is required"),
        ('url = "https://bob:hunter2@host/simple/"', "url must not hold credentials"),
        ('url = "https://host/simple/?x=1"', "url must not have a query or fragment"),
        ('url = "https://host/"\nusername_env = "A B"', "username_env must name an environment"),
        ('url = "https://host/"\npassword_env = "P"', "password_env needs username_env"),
        ('url = "https://host/"\ntoken_env = "T"\nusername_env = "U"', "not both"),
        ('url = "https://host/"\npassword = "hunter2"', "unknown key 'password'"),
        ("url = 3", "url must be strings"),
    ],
)
def test_bad_index_tables_are_refused(tmp_path: Path, table: str, problem: str) -> None:
    problems = _problems(_write(tmp_path, f'names = ["acme-x"]\n\n[[indexes]]\n{table}\n'))
    assert len(problems) == 1, problems
    assert problem in problems[0]
    assert problems[0].startswith("line 3: indexes #1")
    assert "hunter2" not in problems[0]


def test_indexes_must_be_tables_and_listed_once(tmp_path: Path) -> None:
    assert _problems(_write(tmp_path, 'names = ["a-b"]\nindexes = ["https://h/simple/"]\n')) == [
        "line 2: indexes must be [[indexes]] tables"
    ]
    twice = '[[indexes]]\nurl = "https://h/simple"\n[[indexes]]\nurl = "https://h/simple/"\n'
    assert _problems(_write(tmp_path, twice)) == ["line 1: index https://h/simple/ is listed twice"]
