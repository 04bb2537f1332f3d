"""Telling our own projects from public ones a private index only mirrors.

A repository that proxies the public index lists public projects beside ours. A project
whose files on the private index are all files of the public project (the same SHA-256) is
a mirror: not ours, not protected. Anything else stays ours: a project the public index
does not have, one with any file the public project lacks, one whose files we cannot
compare (no digest, an unreadable entry) and one whose public page we could not read
(then the previous classification holds, if there is one). Protecting a name is the safe
side: a mirror taken for ours costs a needless alert at most, while one of ours taken for a
mirror would leave the name unwatched.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field

from packaging.utils import NormalizedName

from watcher.catalog.model import InternalPackage
from watcher.errors import WatcherError
from watcher.pypi.client import IndexClient
from watcher.pypi.pages import ProjectPage

__all__ = ["MirrorCheck", "classify"]

log = logging.getLogger(__name__)

NOT_PUBLIC = "not on the public index"
DIFFERENT = "different files from the public project"


@dataclass(frozen=True)
class MirrorCheck:
    """The classification of one private index's packages.

    ``ours`` holds the packages that stay internal (protected) and ``reasons`` says why
    for each; ``mirrored`` maps each mirrored project to why it was taken for one;
    ``failed`` maps each project whose public page could not be read to the error (it
    kept its previous classification, else was taken as ours). ``asked`` counts public
    page requests; ``skipped`` the projects decided without one.
    """

    ours: dict[NormalizedName, InternalPackage] = field(default_factory=dict)
    mirrored: dict[NormalizedName, str] = field(default_factory=dict)
    reasons: dict[NormalizedName, str] = field(default_factory=dict)
    failed: dict[NormalizedName, str] = field(default_factory=dict)
    asked: int = 0
    skipped: int = 0


async def classify(
    packages: Mapping[NormalizedName, InternalPackage],
    public: IndexClient,
    *,
    known_public: Callable[[NormalizedName], bool] | None = None,
    previous: Mapping[NormalizedName, str] | None = None,
    incomplete: Collection[NormalizedName] = (),
    concurrency: int = 8,
) -> MirrorCheck:
    """Split ``packages`` (one private index's load) into ours and mirrored.

    ``known_public`` says whether the stored public listing holds a name: a name it does
    not hold is ours without asking the index (most internal names; the listing may lag,
    but a name that became public since is exactly one to protect). ``previous`` holds
    the names taken as mirrors last time, with their reasons: a name whose public page
    cannot be read now stays a mirror if it was one. ``incomplete`` names projects whose
    private page had unreadable entries (:attr:`PrivateLoad.incomplete
    <watcher.catalog.private.PrivateLoad.incomplete>`). At most ``concurrency`` public
    pages are asked at once.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    previous = previous or {}
    verdicts: dict[NormalizedName, tuple[bool, str]] = {}
    failed: dict[NormalizedName, str] = {}
    to_ask: list[NormalizedName] = []
    for name, package in packages.items():
        local = _without_asking(name, package, known_public, incomplete)
        if local is None:
            to_ask.append(name)
        else:
            verdicts[name] = (False, local)

    queue: Iterator[NormalizedName] = iter(to_ask)

    async def worker() -> None:
        # One shared iterator: at most `concurrency` public requests in flight.
        for name in queue:
            try:
                page = await public.project_page(name)
            except WatcherError as exc:  # one name's failure never stops the others
                failed[name] = str(exc)
                verdicts[name] = _on_failure(name, previous)
                continue
            verdicts[name] = _compare(packages[name], page)

    async with asyncio.TaskGroup() as group:
        for _ in range(min(concurrency, len(to_ask))):
            group.create_task(worker())
    if failed:
        log.warning(
            "public pages of %d private projects could not be read (kept as before, else"
            " taken as ours): %s",
            len(failed),
            ", ".join(sorted(failed)[:10]),
        )
    result = MirrorCheck(asked=len(to_ask), skipped=len(packages) - len(to_ask), failed=failed)
    for name in sorted(verdicts):
        mirror, reason = verdicts[name]
        if mirror:
            result.mirrored[name] = reason
        else:
            result.ours[name] = packages[name]
            result.reasons[name] = reason
    return result


def _without_asking(
    name: NormalizedName,
    package: InternalPackage,
    known_public: Callable[[NormalizedName], bool] | None,
    incomplete: Collection[NormalizedName],
) -> str | None:
    """Why ``package`` is ours whatever the public index says, or ``None`` to ask it."""
    if known_public is not None and not known_public(name):
        return f"{NOT_PUBLIC} (stored listing)"
    if name in incomplete:
        return "some file entries of the private page could not be read: cannot prove a mirror"
    if not package.files:
        return "no files on the private index to compare: cannot prove a mirror"
    unhashed = sum(1 for f in package.files if not f.sha256)
    if unhashed:
        return (
            f"{unhashed} of {len(package.files)} private files have no SHA-256:"
            " cannot prove a mirror"
        )
    return None


def _compare(package: InternalPackage, page: ProjectPage | None) -> tuple[bool, str]:
    """(mirrored?, why) from the public project's page (``None``: no such project)."""
    if page is None:
        return False, NOT_PUBLIC
    public = {f.sha256 for f in page.files if f.sha256}
    ours = [f.sha256 for f in package.files]
    foreign = sum(1 for digest in ours if digest not in public)
    if foreign:
        return False, f"{DIFFERENT} ({foreign} of {len(ours)} private files are not on it)"
    return True, f"same files as the public project ({len(ours)} of {len(ours)} by sha256)"


def _on_failure(name: NormalizedName, previous: Mapping[NormalizedName, str]) -> tuple[bool, str]:
    if name in previous:
        return True, previous[name]
    return False, "public page could not be read: kept as ours"
