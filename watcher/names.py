"""Project-name rules shared by every module: validation and PEP 503 canonical form."""

from __future__ import annotations

import re
from collections.abc import Sequence

from packaging.utils import NormalizedName, canonicalize_name

from watcher.errors import InvalidName

# The index's own rule for a valid project name (ASCII only, case-insensitive).
_VALID = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE | re.ASCII)

# The index sets no explicit length limit, but no real name comes near this; a cap keeps
# hostile input (a 1 MB "name" in a request or a feed) from flowing into queries and logs.
MAX_NAME_LENGTH = 200


def validate(name: str) -> str:
    """Return ``name`` unchanged if it is a valid project name, else raise :class:`InvalidName`."""
    if not name:
        raise InvalidName(name, "empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidName(name, f"longer than {MAX_NAME_LENGTH} characters")
    if not name.isascii():
        raise InvalidName(name, "not ASCII")
    # fullmatch, not match: ``$`` would also accept a trailing newline ("acme\n").
    if not _VALID.fullmatch(name):
        raise InvalidName(
            name,
            "must be letters, digits, '.', '_' or '-', starting and ending with a letter or digit",
        )
    return name


def canonical(name: str) -> NormalizedName:
    """Validate ``name`` and return its PEP 503 canonical form."""
    return canonicalize_name(validate(name))


def spelling_of(name: str, normalized_name: str) -> str:
    """``name`` if it is a valid spelling of ``normalized_name``, else the latter (what a
    hostile source says a project is called must at least be that project's name)."""
    try:
        return name if canonical(name) == normalized_name else normalized_name
    except InvalidName:
        return normalized_name


def is_valid(name: str) -> bool:
    """True if ``name`` is a valid project name."""
    try:
        validate(name)
    except InvalidName:
        return False
    return True


_TO_DASH = bytes.maketrans(b"_.", b"--")


def fold_separators(text: bytes) -> bytes:
    """PEP 503 separator folding over a whole buffer: runs of ``-``, ``_``, ``.`` become one
    ``-`` (``bytes.replace`` is C-speed; a regular expression over megabytes is not)."""
    text = text.translate(_TO_DASH)
    while b"--" in text:
        text = text.replace(b"--", b"-")
    return text


def canonicalize_many(names: Sequence[bytes]) -> list[str]:
    """PEP 503 forms of many valid names (ASCII bytes), in bulk, one per input, in order."""
    if not names:
        return []
    return fold_separators(b"\n".join(names).lower()).decode().split("\n")
