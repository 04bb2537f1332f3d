"""The line format of pip requirements files: logical lines and option tokens."""

from __future__ import annotations

import re
import shlex

from watcher.depfiles import common
from watcher.depfiles.model import Location, UnusableInput

# pip options that take a value, by every spelling; the value is their canonical name.
_VALUED = {
    "-r": "requirement",
    "--requirement": "requirement",
    "-c": "constraint",
    "--constraint": "constraint",
    "-i": "index-url",
    "--index-url": "index-url",
    "--extra-index-url": "extra-index-url",
    "-f": "find-links",
    "--find-links": "find-links",
    "--trusted-host": "trusted-host",
    "-e": "editable",
    "--editable": "editable",
    "--no-binary": "ignored",
    "--only-binary": "ignored",
    "--use-feature": "ignored",
    "--hash": "hash",
    "--config-settings": "ignored",
    "-C": "ignored",
    "--global-option": "ignored",
}
_FLAGS = {
    "--no-index": "no-index",
    "--require-hashes": "require-hashes",
    "--pre": "ignored",
    "--prefer-binary": "ignored",
    "-Z": "ignored",
    "--always-unzip": "ignored",
}
# A comment starts at a '#' at the line's start or after whitespace (a URL '#egg=' does not).
_COMMENT = re.compile(r"(^|\s+)#.*$")


def logical_lines(text: str) -> list[tuple[int, str]]:
    """Join ``\\`` continuations and drop comments; each line keeps its first line number."""
    lines: list[tuple[int, str]] = []
    parts: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not parts:
            start = number
            if raw.lstrip().startswith("#"):
                continue
        if raw.endswith("\\"):
            parts.append(raw[:-1])
            continue
        parts.append(raw)
        line = _COMMENT.sub("", "".join(parts)).strip()
        parts = []
        if line:
            lines.append((start, line))
    if parts:
        line = _COMMENT.sub("", "".join(parts)).strip()
        if line:
            lines.append((start, line))
    return lines


def split_options(line: str, loc: Location) -> list[tuple[str, str | None]]:
    """``[(canonical option, value)]`` of an options string; unknown ones as ``(?-x, None)``."""
    try:
        tokens = shlex.split(line, comments=False, posix=True)
    except ValueError as exc:
        raise UnusableInput(loc.file, f"cannot split options: {exc}", line=loc.line) from None
    found: list[tuple[str, str | None]] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token.startswith("--"):
            key, eq, value = token.partition("=")
            inline: str | None = value if eq else None
        elif token.startswith("-") and len(token) > 1:
            key, inline = token[:2], (token[2:] or None)
        else:
            raise UnusableInput(
                loc.file, f"unexpected {common.mask_text(token)[:80]!r}", line=loc.line
            )
        if key in _FLAGS:
            found.append((_FLAGS[key], None))
        elif key in _VALUED:
            if inline is None:
                if i >= len(tokens):
                    raise UnusableInput(loc.file, f"{key} needs a value", line=loc.line)
                inline = tokens[i]
                i += 1
            found.append((_VALUED[key], inline))
        else:
            found.append(("?" + key, None))
    return found
