"""Parsing one simple-API project page (PEP 691 JSON, PEP 503 HTML, PEP 700 fields).

A project page lists a project's distribution files; a private index's pages say which
versions of our packages exist, and comparing a private page's SHA-256 digests with the
public index's tells a mirrored public project from our own.

The page is the index's text, so hostile: a document cut short or malformed is refused
(:class:`AnswerRefused`: an HTML page must end with its closing ``</body></html>``, as the
root listing must); one absurd entry (a file name that no file has, a version of hundreds of
characters, a digest that is not 64 hex digits) is dropped or blanked, never trusted, and no
input makes the parser raise anything else.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

from watcher.errors import AnswerRefused
from watcher.pypi.models import DistFile

__all__ = ["MAX_FILENAME", "MAX_VERSION", "ProjectPage", "parse_project_page"]

# File systems cap a file name at 255 bytes; nothing longer is a file anyone uploaded.
MAX_FILENAME = 255
# Real versions are short; a cap keeps a hostile "version" of thousands of digits away from
# int() (which refuses more than 4,300) and out of logs and the database.
MAX_VERSION = 100
_SHA256 = re.compile(r"[0-9a-f]{64}")
# "2024-03-05T14:07:09.123456Z" is 27 characters; anything much longer is not a time.
_MAX_TIME = 40
# An HTML page ends with </body></html>, then perhaps whitespace and comments (the
# index's "<!--SERIAL n-->"): anything else after it, or no end at all, is a cut page.
_HTML_END = re.compile(r"</body\s*>\s*</html\s*>\s*(?:<!--.{0,200}?-->\s*)*\Z", re.I | re.S)


@dataclass(frozen=True)
class ProjectPage:
    """The files of one project page, its versions (ascending PEP 440 order, from file names
    and the PEP 700 ``versions`` list) and the ETag to send next time.

    ``skipped`` counts file entries dropped as unreadable (no usable file name): a page with
    skipped entries cannot prove that its files are all known elsewhere.
    """

    name: NormalizedName
    files: tuple[DistFile, ...]
    versions: tuple[str, ...]
    etag: str | None = None
    skipped: int = 0


def parse_project_page(
    body: bytes, *, url: str, name: str, content_type: str, etag: str | None = None
) -> ProjectPage:
    """Parse the project page at ``url`` (PEP 691 JSON when ``content_type`` says JSON,
    else PEP 503 HTML); relative links resolve against ``url``.

    Raises :class:`AnswerRefused` for a malformed or incomplete document.
    """
    norm = canonicalize_name(name)
    if "json" in content_type.lower():
        files, listed, skipped = _json_files(body, url)
    else:
        files, skipped = _html_files(body, url)
        listed = []
    return ProjectPage(
        name=norm,
        files=tuple(files),
        versions=_versions(norm, files, listed),
        etag=etag,
        skipped=skipped,
    )


# -- PEP 691 JSON ---------------------------------------------------------------------


def _json_files(body: bytes, url: str) -> tuple[list[DistFile], list[str], int]:
    try:
        document = json.loads(body, object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, ValueError, RecursionError):
        # RecursionError: deeply nested arrays ("[[[["); ValueError (JSONDecodeError is
        # one) also: a number beyond int()'s digit limit, or a key given twice.
        raise AnswerRefused(url, "malformed JSON project page") from None
    if not isinstance(document, dict) or not isinstance(document.get("files"), list):
        raise AnswerRefused(url, "JSON project page has no 'files' list")
    if not isinstance(document.get("meta", {}), dict):
        raise AnswerRefused(url, "JSON project page has a 'meta' that is not an object")
    files: list[DistFile] = []
    skipped = 0
    for entry in document["files"]:
        found = _json_file(entry) if isinstance(entry, dict) else None
        if found is None:
            skipped += 1
        else:
            files.append(found)
    versions = document.get("versions")
    listed = [v for v in versions if isinstance(v, str)] if isinstance(versions, list) else []
    return files, listed, skipped


def _json_file(entry: dict[str, Any]) -> DistFile | None:
    filename = _filename(entry.get("filename"))
    if filename is None:
        return None
    hashes = entry.get("hashes")
    sha256 = _sha256(hashes.get("sha256")) if isinstance(hashes, dict) else None
    yanked = entry.get("yanked", False)
    return DistFile(
        filename=filename,
        sha256=sha256,
        upload_time=_upload_time(entry.get("upload-time")),
        # PEP 691: false, true, or the reason as a string (yanked, whatever it says).
        yanked=yanked is True or (isinstance(yanked, str) and yanked != ""),
    )


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # A key given twice: parsers disagree on which one counts (pip may read the other
    # "files" list than the one we checked).
    if len({key for key, _ in pairs}) != len(pairs):
        raise ValueError("duplicate key")
    return dict(pairs)


# -- PEP 503 HTML ---------------------------------------------------------------------


class _Anchors(HTMLParser):
    """Collects each anchor's attributes and text (entities already decoded)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[tuple[dict[str, str | None], str]] = []
        self._open: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._close()
            self._open = dict(attrs)  # a repeated attribute: the last wins, as in browsers
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._close()

    def handle_data(self, data: str) -> None:
        if self._open is not None and sum(map(len, self._text)) <= MAX_FILENAME:
            self._text.append(data)

    def _close(self) -> None:
        if self._open is not None:
            self.anchors.append((self._open, "".join(self._text)))
        self._open = None

    def finish(self) -> None:
        self.close()
        self._close()


def _html_files(body: bytes, url: str) -> tuple[list[DistFile], int]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise AnswerRefused(url, "HTML project page is not UTF-8") from None
    if not _HTML_END.search(text[-1024:]):
        raise AnswerRefused(url, "truncated project page: no closing </body></html>")
    parser = _Anchors()
    try:
        parser.feed(text)
        parser.finish()
    except (AssertionError, ValueError):
        # html.parser is lenient, but some releases still assert on odd markup.
        raise AnswerRefused(url, "malformed HTML project page") from None
    files: list[DistFile] = []
    skipped = 0
    for attrs, label in parser.anchors:
        found = _html_file(attrs, label, url)
        if found is None:
            skipped += 1
        else:
            files.append(found)
    return files, skipped


def _html_file(attrs: dict[str, str | None], label: str, url: str) -> DistFile | None:
    href = attrs.get("href")
    if not href or len(href) > 8 * 1024:
        return None
    try:
        target = urlsplit(urljoin(url, href))
    except ValueError:  # a malformed IPv6 host ("http://[x/"), say
        return None
    # The file name is the link's last path segment (pip reads it there); the anchor text
    # stands in only when the link ends in a slash.
    last = unquote(target.path.rsplit("/", 1)[-1])
    filename = _filename(last or label.strip())
    if filename is None:
        return None
    algorithm, _, digest = target.fragment.partition("=")
    return DistFile(
        filename=filename,
        sha256=_sha256(digest) if algorithm.lower() == "sha256" else None,
        upload_time=None,  # PEP 700's upload time exists only in the JSON form
        # PEP 592: the attribute's presence marks a yanked file, whatever its value.
        yanked="data-yanked" in attrs,
    )


# -- shared -----------------------------------------------------------------------------


def _filename(value: object) -> str | None:
    """A plausible file name, or ``None``: bounded, one path segment, printable."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_FILENAME:
        return None
    if "/" in value or "\\" in value or value in {".", ".."} or not value.isprintable():
        return None
    return value


def _sha256(value: object) -> str | None:
    """Lower-case hex SHA-256, or ``None`` when ``value`` is not 64 hex digits."""
    if not isinstance(value, str) or len(value) != 64:
        return None
    value = value.lower()
    return value if _SHA256.fullmatch(value) else None


def _upload_time(value: object) -> datetime | None:
    """PEP 700's ``upload-time`` (ISO 8601, UTC) as an aware datetime, else ``None``."""
    if not isinstance(value, str) or len(value) > _MAX_TIME:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    # PEP 700 says UTC with a "Z"; a time without a zone is read as UTC rather than local.
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _versions(name: NormalizedName, files: list[DistFile], listed: list[str]) -> tuple[str, ...]:
    """Versions from the file names of ``name`` (other projects' files count for nothing)
    and the PEP 700 list, deduplicated by PEP 440 equality, ascending."""
    found: set[Version] = set()
    for file in files:
        parsed = _file_version(file.filename)
        if parsed is not None and parsed[0] == name:
            found.add(parsed[1])
    for text in listed:
        version = _version(text)
        if version is not None:
            found.add(version)
    return tuple(str(v) for v in sorted(found))


def _file_version(filename: str) -> tuple[NormalizedName, Version] | None:
    """A wheel's or sdist's project and version, or ``None`` when the name does not parse."""
    try:
        if filename.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(filename)
        else:
            name, version = parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename, ValueError):
        # ValueError: InvalidVersion, or a version of more digits than int() takes.
        return None
    if len(str(version)) > MAX_VERSION:
        return None
    return name, version


def _version(text: str) -> Version | None:
    if len(text) > MAX_VERSION:
        return None
    try:
        return Version(text)
    except ValueError:  # InvalidVersion is one
        return None
