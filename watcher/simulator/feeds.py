"""The index's three RSS 2.0 feeds, rendered from the simulated state.

Pure functions: the state and the base URL in, the exact bytes the index would
answer out. Links are absolute, built on ``base`` (no trailing slash).
"""

from __future__ import annotations

import heapq
import html
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from email.utils import format_datetime, getaddresses

from watcher.simulator.model import Project, version_key

__all__ = ["packages_feed", "project_feed", "release_link", "updates_feed"]

# How many items each feed keeps, as on the index.
_UPDATES_LIMIT = 100
_PACKAGES_LIMIT = 40
_PROJECT_FEED_LIMIT = 40
# XML 1.0 forbids these even escaped; the index strips them from summaries.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def release_link(base: str, project: Project, version: str) -> str:
    """The web page of one release, as the feeds and the JSON API link it."""
    return f"{base}/project/{project.normalized}/{version}/"


def _format_author(author_email: str | None) -> str | None:
    """E-mail addresses only, comma-separated; None when any entry lacks an ``@``."""
    emails: list[str] = []
    for _, address in getaddresses([author_email or ""]):
        if "@" not in address:
            return None
        emails.append(address)
    return ", ".join(emails) or None


def _text(value: str | None) -> str:
    """Render like the index's templates: None becomes "None", characters XML cannot hold
    (control characters) removed, then XML-escaped."""
    return html.escape(_CONTROL_CHARS.sub("", str(value)))


def _rss(title: str, link: str, description: str, items: Sequence[str]) -> bytes:
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0">',
        "  <channel>",
        f"    <title>{html.escape(title)}</title>",
        f"    <link>{html.escape(link)}</link>",
        f"    <description>{html.escape(description)}</description>",
        "    <language>en</language>",
        *items,
        "  </channel>",
        "</rss>",
        "",
    ]
    return "\n".join(lines).encode()


def _rss_item(
    *,
    title: str,
    link: str,
    summary: str | None,
    author_email: str | None,
    published: datetime,
    guid: bool = False,
) -> str:
    lines = [
        "    <item>",
        f"      <title>{_text(title)}</title>",
        f"      <link>{_text(link)}</link>",
    ]
    if guid:
        lines.append(f"      <guid>{html.escape(link)}</guid>")
    lines.append(f"      <description>{_text(summary)}</description>")
    author = _format_author(author_email)
    if author is not None:
        lines.append(f"      <author>{_text(author)}</author>")
    lines.append(f"      <pubDate>{format_datetime(published, usegmt=True)}</pubDate>")
    lines.append("    </item>")
    return "\n".join(lines)


def updates_feed(projects: Iterable[Project], base: str) -> bytes:
    """``/rss/updates.xml``: the newest uploads first, whatever their upload time."""
    # The newest only, not a sort of every release: the feed is asked for on every poll.
    pairs = heapq.nlargest(
        _UPDATES_LIMIT, ((p, r) for p in projects for r in p.releases), key=lambda pr: pr[1].seq
    )
    items = [
        _rss_item(
            title=f"{project.name} {release.version}",
            link=release_link(base, project, release.version),
            summary=release.summary,
            author_email=release.author_email,
            published=release.upload_time,
        )
        for project, release in pairs
    ]
    return _rss(
        "PyPI recent updates",
        f"{base}/",
        "Recent updates to the Python Package Index",
        items,
    )


def packages_feed(projects: Iterable[Project], base: str) -> bytes:
    """``/rss/packages.xml``: the newest registrations first."""
    # Like the index, a project without a release is left out.
    newest_first = sorted(
        (p for p in projects if p.releases),
        key=lambda p: p.seq,
        reverse=True,
    )
    items = []
    for project in newest_first[:_PACKAGES_LIMIT]:
        newest = max(project.releases, key=version_key)
        items.append(
            _rss_item(
                title=f"{project.name} added to PyPI",
                link=f"{base}/project/{project.normalized}/",
                summary=newest.summary,
                author_email=newest.author_email,
                published=project.created,
                guid=True,
            )
        )
    return _rss(
        "PyPI newest packages",
        f"{base}/",
        "Newest packages registered at the Python Package Index",
        items,
    )


def project_feed(project: Project, base: str) -> bytes:
    """``/rss/project/NAME/releases.xml``: one project's newest uploads first."""
    releases = sorted(project.releases, key=lambda r: r.seq, reverse=True)
    items = [
        _rss_item(
            title=release.version,
            link=release_link(base, project, release.version),
            summary=release.summary,
            author_email=release.author_email,
            published=release.upload_time,
        )
        for release in releases[:_PROJECT_FEED_LIMIT]
    ]
    return _rss(
        f"PyPI recent updates for {project.name}",
        f"{base}/project/{project.normalized}/",
        f"Recent updates to the Python Package Index for {project.name}",
        items,
    )
