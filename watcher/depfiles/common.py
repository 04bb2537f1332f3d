"""Helpers shared by the parsers: decoding with limits, URLs (credentials masked), names."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from watcher.depfiles.model import (
    MAX_FILE_BYTES,
    MAX_NAME_LENGTH,
    Dependency,
    Location,
    Problem,
    UnusableInput,
    problem,
)

# Bytes that never occur in a text dependency file; their presence means a binary upload.
_BINARY = re.compile(rb"[\x00-\x08\x0e-\x1a\x1c-\x1f]")
_VALID_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE | re.ASCII)
MASK = "***"


def decode(file: str, data: str | bytes) -> str:
    """Return the text of ``data``; raise :class:`UnusableInput` for binary or oversized input.

    Only UTF-8 (with or without a byte-order mark) is accepted: every format here is UTF-8
    by specification (TOML, JSON) or in practice (requirements files).
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if len(raw) > MAX_FILE_BYTES:
        raise UnusableInput(
            file, f"larger than {MAX_FILE_BYTES} bytes ({len(raw)} bytes)", too_large=True
        )
    if _BINARY.search(raw):
        raise UnusableInput(file, "binary content, not a text dependency file")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise UnusableInput(file, "not valid UTF-8 text", line=line) from None


def check_name(file: str, name: str, line: int | None) -> str:
    """Return ``name`` if it is a plausible project name, else raise :class:`UnusableInput`."""
    if len(name) > MAX_NAME_LENGTH:
        raise UnusableInput(file, f"a project name longer than {MAX_NAME_LENGTH}", line=line)
    if not _VALID_NAME.fullmatch(name):
        raise UnusableInput(file, f"invalid project name {mask_text(name)[:80]!r}", line=line)
    return name


def canonical(name: str) -> str:
    """PEP 503 canonical form of ``name`` ("" stays "")."""
    return str(canonicalize_name(name)) if name else ""


# user-info made only of environment references (pip expands ``${VAR}``): the recommended
# way to give credentials, not a secret written into the file.
_ENV_ONLY = re.compile(r"(\$\{\w+\})?(:(\$\{\w+\})?)?")


def has_credentials(url: str) -> bool:
    """True when ``url`` carries a literal user name or password before its host."""
    try:
        parts = urlsplit(_strip_vcs(url))
    except ValueError:
        return False
    if "@" not in parts.netloc:
        return False
    return not _ENV_ONLY.fullmatch(parts.netloc.rsplit("@", 1)[0])


def mask_url(url: str) -> str:
    """``url`` with any ``user:password@`` replaced by ``***@`` (nothing else changed)."""
    prefix, rest = _split_vcs(url)
    try:
        parts = urlsplit(rest)
    except ValueError:
        return mask_text(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return prefix + urlunsplit(parts._replace(netloc=f"{MASK}@{host}"))


# user:secret@ or token@ right after a scheme, wherever it appears in free text.
_USERINFO = re.compile(r"(?i)([a-z][a-z0-9+.-]*://)[^/\s@]+@")


def mask_text(text: str) -> str:
    """Mask every URL user-info in free text (an echoed line may contain a URL)."""
    return _USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", text)


def host_of(url: str) -> str | None:
    """Lower-case host name of ``url`` (``git+https://h/x`` -> ``h``), None if it has none."""
    try:
        host = urlsplit(_strip_vcs(url)).hostname
    except ValueError:
        return None
    return host.lower() if host else None


def scheme_of(url: str) -> str:
    """Lower-case scheme without a VCS prefix (``git+https`` -> ``https``); "" when the
    URL cannot be parsed (``https://[`` is not one)."""
    try:
        return urlsplit(_strip_vcs(url)).scheme.lower()
    except ValueError:
        return ""


def host_allowed(host: str | None, allowed: frozenset[str]) -> bool:
    """True when ``host`` is in ``allowed``; an entry ``.acme.example`` (or ``*.acme.example``)
    also allows every subdomain."""
    if host is None:
        return False
    for entry in allowed:
        entry = entry.lower()
        if entry.startswith("*."):
            entry = entry[1:]
        if entry.startswith("."):
            if host.endswith(entry) or host == entry[1:]:
                return True
        elif host == entry:
            return True
    return False


def _split_vcs(url: str) -> tuple[str, str]:
    scheme, sep, _ = url.partition("://")
    if sep and "+" in scheme:
        vcs, _, _ = scheme.partition("+")
        return vcs + "+", url[len(vcs) + 1 :]
    return "", url


def _strip_vcs(url: str) -> str:
    return _split_vcs(url)[1]


def is_url(text: str) -> bool:
    """True for ``scheme://...`` and ``file:`` references (a VCS prefix allowed)."""
    return bool(re.match(r"(?i)^[a-z][a-z0-9+.-]*://", text)) or text.lower().startswith("file:")


def exact_version(specifier: str) -> str | None:
    """The single version a PEP 440 specifier allows (``==1.2`` / ``===x``), else None."""
    spec = specifier.strip()
    if "," in spec:
        return None
    for op in ("===", "=="):
        if spec.startswith(op):
            version = spec[len(op) :].strip()
            if not version or version.endswith(".*") or "*" in version:
                return None
            return version
    return None


def is_version(text: str) -> bool:
    """True when ``text`` is a valid PEP 440 version."""
    try:
        Version(text)
    except InvalidVersion:
        return False
    return True


def url_problems(
    dep: Dependency, url: str, allowed_hosts: frozenset[str], *, raw_url: str | None = None
) -> list[Problem]:
    """Problems of one direct reference: local path, credentials, host not allowed."""
    found: list[Problem] = []
    shown = mask_url(url)
    label = dep.name or shown
    if has_credentials(raw_url or url):
        found.append(
            problem("index-credentials", f"{label}: credentials in URL {shown}", dep.location, dep)
        )
    if url.lower().startswith("file:") or not is_url(url):
        found.append(
            problem("local-path", f"{label}: installed from local {shown}", dep.location, dep)
        )
        return found
    host = host_of(url)
    if not host_allowed(host, allowed_hosts):
        found.append(
            problem(
                "unexpected-url-host",
                f"{label}: direct URL to {host or 'no host'}, not an allowed host ({shown})",
                dep.location,
                dep,
            )
        )
    return found


def index_problems(url: str, location: Location, what: str) -> list[Problem]:
    """Problems of an index or link URL itself: embedded credentials, plain http."""
    found: list[Problem] = []
    shown = mask_url(url)
    if has_credentials(url):
        found.append(
            problem("index-credentials", f"{what} {shown} has credentials written in it", location)
        )
    if (
        is_url(url)
        and scheme_of(url) == "http"
        and host_of(url) not in {"localhost", "127.0.0.1", "::1"}
    ):
        found.append(problem("insecure-index", f"{what} {shown} is plain http", location))
    return found


class LineFinder:
    """Finds the line that states something in a TOML or JSON text (their parsers give no
    line numbers). Built once per file: whole-line matches come from a map, anything else
    from one C-speed search, so thousands of look-ups stay linear."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._lines: dict[str, int] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            self._lines.setdefault(line.strip(), number)

    def find(self, *needles: str) -> int | None:
        """1-based line of the first needle (tried in order, most specific first) that is a
        whole line (a trailing comma allowed), else of the first one occurring at all."""
        for needle in needles:
            for candidate in (needle, needle + ","):
                if candidate in self._lines:
                    return self._lines[candidate]
        for needle in needles:
            at = self.text.find(needle)
            if at >= 0:
                return self.text.count("\n", 0, at) + 1
        return None


def line_of(text: str, *needles: str) -> int | None:
    """One-off :meth:`LineFinder.find` (for a few look-ups in a text)."""
    return LineFinder(text).find(*needles)
