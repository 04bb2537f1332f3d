"""Where ``-r``/``-c`` files come from: a directory on disk (CLI) or uploaded files (API).

Names are POSIX-style paths relative to a root ("requirements.txt", "ci/base.txt"); an
include is resolved relative to the directory of the file that includes it, as pip does.
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from watcher.depfiles.model import MAX_FILE_BYTES, UnusableInput


class IncludeError(Exception):
    """An include cannot be read; ``code`` is the problem code reported for it."""

    code = "missing-include"


class IncludeNotFound(IncludeError):
    """The included file does not exist or was not uploaded."""

    code = "missing-include"


class IncludeOutsideRoot(IncludeError):
    """The included file lies outside the allowed directory; it is not read."""

    code = "include-outside-root"


class IncludeResolver(Protocol):
    """Gives the text of a file that another file includes."""

    def resolve(self, including: str, target: str) -> tuple[str, str | bytes]:
        """Return ``(name, content)`` of ``target`` as written in ``including``.

        ``name`` is the included file's own name (relative to the root), used in locations and
        to detect cycles. Raise :class:`IncludeError` when it cannot be given.
        """
        ...


def join_relative(including: str, target: str) -> str:
    """The root-relative name of ``target`` included from ``including``.

    Raises :class:`IncludeOutsideRoot` for absolute targets and for ``..`` that climbs above
    the root: the result is always a clean relative path.
    """
    target = target.replace("\\", "/")
    if target.startswith("/") or (len(target) > 1 and target[1] == ":"):
        raise IncludeOutsideRoot(f"absolute path {target}")
    base = posixpath.dirname(including.replace("\\", "/"))
    joined = posixpath.normpath(posixpath.join(base, target))
    if joined == ".." or joined.startswith("../") or joined.startswith("/"):
        raise IncludeOutsideRoot(f"{target} climbs above the root")
    return joined


class MemoryIncludes:
    """Includes from a set of uploaded files (the API): never touches the disk.

    Keys are names relative to the upload's root ("requirements.txt", "ci/base.txt"); an
    include that is not among them is reported as missing, one that climbs above the root
    as outside it.
    """

    def __init__(self, files: Mapping[str, str | bytes]) -> None:
        self._files = {posixpath.normpath(k.replace("\\", "/")): v for k, v in files.items()}

    def resolve(self, including: str, target: str) -> tuple[str, str | bytes]:
        """Look ``target`` up among the uploaded files, relative to ``including``."""
        name = join_relative(including, target)
        try:
            return name, self._files[name]
        except KeyError:
            raise IncludeNotFound(f"{name} was not provided") from None


class DiskIncludes:
    """Includes read from a directory tree (the CLI), confined to ``root``.

    Every include must resolve (symbolic links followed) to a regular file inside ``root``;
    one outside is refused, not read. The CLI chooses the root: the user's working directory
    when the checked file lies under it (so ``-r ../common.txt`` within a checkout works),
    else the checked file's own directory; a command-line option may widen it, since on the
    CLI the user reads their own files. Reads stop past :data:`MAX_FILE_BYTES`.
    """

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def name_of(self, path: Path) -> str:
        """Root-relative POSIX name of ``path`` (which must lie under the root)."""
        return path.resolve().relative_to(self.root).as_posix()

    def resolve(self, including: str, target: str) -> tuple[str, str | bytes]:
        """Read ``target`` relative to ``including``, refusing anything outside the root."""
        name = join_relative(including, target)
        path = self.root / name
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):
            raise IncludeNotFound(f"{name} does not exist") from None
        if not real.is_relative_to(self.root):
            raise IncludeOutsideRoot(f"{name} leads outside the root")
        return name, self.read(real, name)

    @staticmethod
    def read(path: Path, name: str) -> bytes:
        """Read a regular file of at most :data:`MAX_FILE_BYTES` (one byte more is read to
        tell), so a device or a huge file is never read whole."""
        try:
            # Checked before opening: opening a FIFO would block, a device never ends.
            if not stat.S_ISREG(os.stat(path).st_mode):
                raise IncludeNotFound(f"{name} is not a regular file")
            with path.open("rb") as handle:
                data = handle.read(MAX_FILE_BYTES + 1)
        except OSError:
            raise IncludeNotFound(f"{name} cannot be read") from None
        if len(data) > MAX_FILE_BYTES:
            raise UnusableInput(name, f"larger than {MAX_FILE_BYTES} bytes", too_large=True)
        return data
