"""Reading the catalog TOML file, with problems reported by file and line."""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from packaging.utils import NormalizedName, canonicalize_name

from watcher.catalog.model import Catalog, IndexSpec
from watcher.errors import CatalogError, InvalidName
from watcher.names import validate

_NAME_KEYS = ("names", "prefixes", "allow")
_KNOWN_KEYS = (*_NAME_KEYS, "owners", "indexes", "aliases")
_INDEX_KEYS = ("url", "username_env", "password_env", "token_env")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def load_catalog_file(path: Path) -> Catalog:
    """Load and validate a catalog file; raise :class:`CatalogError` listing every problem.

    The file's keys: ``names`` (internal package names), ``prefixes`` (namespace roots),
    ``allow`` (public projects that are ours), ``owners`` (our PyPI users/organizations)
    ``[[indexes]]`` (private indexes whose projects are internal names: ``url``, and
    ``username_env``/``password_env`` or ``token_env`` naming environment variables) and
    ``[aliases]`` (for an internal name, the other names people type for it:
    ``torch = ["pytorch"]``; matched like the name itself).
    """
    return read_catalog_file(path)[0]


def read_catalog_file(path: Path) -> tuple[Catalog, str]:
    """Like :func:`load_catalog_file`, also returning the SHA-256 of the file's bytes (a
    reload compares it to tell whether the file changed)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CatalogError(str(path), [exc.strerror or str(exc)]) from None
    return parse_catalog(raw, str(path)), hashlib.sha256(raw).hexdigest()


def parse_catalog(raw: bytes, path: str) -> Catalog:
    """Validate a catalog file's bytes (``path`` names it in errors); see
    :func:`load_catalog_file`."""
    try:
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except UnicodeDecodeError:
        raise CatalogError(path, ["not UTF-8 text"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(path, [f"not valid TOML: {exc}"]) from None
    except ValueError as exc:
        # tomllib lets int() refuse an integer of more than 4300 digits with a plain
        # ValueError; the file is still just a bad catalog, not a crash.
        raise CatalogError(path, [f"not valid TOML: {exc}"]) from None
    except RecursionError:
        # tomllib parses nested arrays and inline tables recursively: a few hundred levels
        # exhaust the stack. No catalog nests at all.
        raise CatalogError(path, ["not valid TOML: nested too deeply"]) from None

    problems: list[str] = []
    lines = text.splitlines()
    for key in data:
        if key not in _KNOWN_KEYS:
            problems.append(
                f"line {_line_of_key(lines, key)}: unknown key {key!r} "
                f"(expected one of {', '.join(_KNOWN_KEYS)})"
            )

    parsed: dict[str, dict[NormalizedName, str]] = {}
    for key in _NAME_KEYS:
        parsed[key] = {}
        for value in _string_list(data, key, lines, problems):
            try:
                validate(value)
            except InvalidName as exc:
                line = _line_of_value(lines, value, start=_line_of_key(lines, key))
                problems.append(f"line {line}: {key}: {exc}")
                continue
            parsed[key].setdefault(canonicalize_name(value), value)
    owners = frozenset(o.lower() for o in _string_list(data, "owners", lines, problems) if o)
    # An allowlisted name is never alerted, an internal one is watched: both at once would
    # leave the name unwatched while the file says it is. The name under a prefix is fine
    # (that is what the allowlist is for: our own public projects in our namespace).
    for name, spelling in parsed["allow"].items():
        if name in parsed["names"]:
            internal = parsed["names"][name]
            line = _line_of_value(lines, spelling, start=_line_of_key(lines, "allow"))
            also = f" (as {internal!r})" if internal != spelling else ""
            problems.append(
                f"line {line}: {spelling!r} is both an internal name{also} and allowlisted;"
                " remove it from names or from allow"
            )

    indexes = _indexes(data, lines, problems)
    aliases = _aliases(data, lines, parsed["names"], problems)
    if not parsed["names"] and not parsed["prefixes"] and not indexes and not problems:
        problems.append("no names, no prefixes and no indexes: nothing to protect")
    if problems:
        raise CatalogError(path, problems)
    return Catalog(
        names=parsed["names"],
        prefixes=parsed["prefixes"],
        allow=frozenset(parsed["allow"]),
        owners=owners,
        indexes=indexes,
        aliases=aliases,
    )


def _aliases(
    data: dict[str, Any],
    lines: list[str],
    names: dict[NormalizedName, str],
    problems: list[str],
) -> dict[NormalizedName, tuple[NormalizedName, ...]]:
    """The ``[aliases]`` table: internal name -> list of other names typed for it."""
    value = data.get("aliases", {})
    line = _line_of_key(lines, "aliases")
    if not isinstance(value, dict):
        problems.append(f"line {line}: aliases must be a table of name = [aliases]")
        return {}
    out: dict[NormalizedName, tuple[NormalizedName, ...]] = {}
    for key, listed in value.items():
        name = canonicalize_name(key)
        if name not in names:
            problems.append(f"line {line}: aliases: {key!r} is not one of the internal names")
            continue
        if not isinstance(listed, list) or not all(isinstance(a, str) for a in listed):
            problems.append(f"line {line}: aliases: {key!r} must be a list of strings")
            continue
        found: list[NormalizedName] = []
        for alias in listed:
            try:
                validate(alias)
            except InvalidName as exc:
                problems.append(f"line {line}: aliases: {key!r}: {exc}")
                continue
            canonical = canonicalize_name(alias)
            if canonical != name and canonical not in found:
                found.append(canonical)
        out[name] = tuple(found)
    return out


def _indexes(data: dict[str, Any], lines: list[str], problems: list[str]) -> tuple[IndexSpec, ...]:
    """The ``[[indexes]]`` tables: private indexes whose projects are internal names."""
    value = data.get("indexes", [])
    line = _line_of_key(lines, "indexes")
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        problems.append(f"line {line}: indexes must be [[indexes]] tables")
        return ()
    specs: list[IndexSpec] = []
    for number, table in enumerate(value, start=1):
        where = f"line {line}: indexes #{number}"
        for key in table:
            if key not in _INDEX_KEYS:
                problems.append(
                    f"{where}: unknown key {key!r} (expected one of {', '.join(_INDEX_KEYS)})"
                )
        fields = {k: table.get(k) for k in _INDEX_KEYS}
        bad = [k for k, v in fields.items() if v is not None and not isinstance(v, str)]
        if bad:
            problems.append(f"{where}: {', '.join(bad)} must be strings")
            continue
        url = fields["url"]
        problem = _index_url_problem(url)
        if problem:
            problems.append(f"{where}: {problem}")
            continue
        assert isinstance(url, str)
        for key in _INDEX_KEYS[1:]:
            env = fields[key]
            if env is not None and not _ENV_NAME.fullmatch(env):
                problems.append(f"{where}: {key} must name an environment variable")
        if fields["token_env"] and (fields["username_env"] or fields["password_env"]):
            problems.append(f"{where}: give token_env or username_env/password_env, not both")
        if fields["password_env"] and not fields["username_env"]:
            problems.append(f"{where}: password_env needs username_env")
        specs.append(
            IndexSpec(
                url=url if url.endswith("/") else url + "/",
                username_env=fields["username_env"],
                password_env=fields["password_env"],
                token_env=fields["token_env"],
            )
        )
    urls = [s.url for s in specs]
    for url in sorted({u for u in urls if urls.count(u) > 1}):
        problems.append(f"line {line}: index {url} is listed twice")
    return tuple(specs)


def _index_url_problem(url: object) -> str | None:
    """Why ``url`` cannot be a private index's simple API root, or None."""
    if not isinstance(url, str) or not url:
        return "url is required"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "url must be an http:// or https:// URL"
    if parts.username is not None or parts.password is not None:
        # The file is shared and committed; the environment holds secrets.
        return "url must not hold credentials; name them with username_env/password_env"
    if parts.query or parts.fragment:
        return "url must not have a query or fragment"
    return None


def _string_list(
    data: dict[str, Any], key: str, lines: list[str], problems: list[str]
) -> list[str]:
    value = data.get(key, [])
    if not isinstance(value, list):
        problems.append(f"line {_line_of_key(lines, key)}: {key} must be a list of strings")
        return []
    good: list[str] = []
    for item in value:
        if isinstance(item, str):
            good.append(item)
        else:
            problems.append(
                f"line {_line_of_key(lines, key)}: {key} must hold strings, found {item!r}"
            )
    return good


def _line_of_key(lines: list[str], key: str) -> int:
    for number, line in enumerate(lines, start=1):
        stripped = line.lstrip()
        if stripped.startswith(key) and stripped[len(key) :].lstrip().startswith("="):
            return number
        # A key can also be defined by a table header: [key], [key.sub] or [[key]].
        header = stripped.lstrip("[").lstrip()
        if (
            stripped.startswith("[")
            and header.startswith(key)
            and header[len(key) :].lstrip().startswith(("]", "."))
        ):
            return number
    return 1


def _line_of_value(lines: list[str], value: str, *, start: int = 1) -> int:
    # tomllib keeps no positions: find the quoted literal in the text instead, from the line
    # of its key on (the same bad value under two keys is reported at each). Basic and
    # literal strings cover every spelling a name list uses in practice.
    for quoted in (f'"{value}"', f"'{value}'"):
        for number, line in enumerate(lines[start - 1 :], start=start):
            code = line.split("#", 1)[0] if "#" not in quoted else line
            if quoted in code:
                return number
    return 1
