"""Bodies of the JSON API and of the simple API (PEP 503 HTML, PEP 691 JSON).

Pure functions: the simulated state and the base URL in, the bytes the index
would answer out. JSON is serialized with sorted keys so bodies (and their
ETags) are stable.
"""

from __future__ import annotations

import html
import json
from datetime import datetime
from typing import Any

from watcher.simulator.feeds import release_link
from watcher.simulator.model import (
    IndexFile,
    ListingEntry,
    Project,
    Release,
    is_prerelease,
    version_key,
)

__all__ = [
    "json_bytes",
    "project_document",
    "release_document",
    "simple_index_html",
    "simple_index_json",
    "simple_project_html",
    "simple_project_json",
]

_API_VERSION = "1.4"


def json_bytes(document: Any) -> bytes:
    """Compact JSON with sorted keys."""
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _upload_time(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S")


def _upload_time_iso(dt: datetime) -> str:
    # The index drops the fraction when it is zero.
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if dt.microsecond else "%Y-%m-%dT%H:%M:%SZ"
    return dt.strftime(fmt)


# -- JSON API ----------------------------------------------------------------


def _file_json(file: IndexFile, release: Release, base: str) -> dict[str, Any]:
    return {
        "comment_text": "",
        "digests": {
            "blake2b_256": file.blake2b_256,
            "md5": file.md5,
            "sha256": file.sha256,
        },
        "downloads": -1,
        "filename": file.filename,
        "has_sig": False,
        "md5_digest": file.md5,
        "packagetype": "sdist",
        "python_version": "source",
        "requires_python": None,
        "size": file.size,
        "upload_time": _upload_time(release.upload_time),
        "upload_time_iso_8601": _upload_time_iso(release.upload_time),
        "url": f"{base}{file.path}",
        "yanked": False,
        "yanked_reason": None,
    }


def _info_json(project: Project, release: Release, base: str) -> dict[str, Any]:
    project_url = f"{base}/project/{project.normalized}/"
    return {
        "author": release.author,
        "author_email": release.author_email,
        "bugtrack_url": None,
        "classifiers": [],
        "description": "",
        "description_content_type": None,
        "docs_url": None,
        "download_url": None,
        "downloads": {"last_day": -1, "last_month": -1, "last_week": -1},
        "dynamic": None,
        "home_page": None,
        "keywords": None,
        "license": None,
        "license_expression": None,
        "license_files": None,
        "maintainer": None,
        "maintainer_email": None,
        "name": project.name,
        "package_url": project_url,
        "platform": None,
        "project_url": project_url,
        "project_urls": None,
        "provides_extra": None,
        "release_url": release_link(base, project, release.version),
        "requires_dist": None,
        "requires_python": None,
        "summary": release.summary,
        "version": release.version,
        "yanked": False,
        "yanked_reason": None,
    }


def _ownership_json(project: Project) -> dict[str, Any]:
    return {
        "organization": project.organization,
        "roles": [{"role": "Owner", "user": user} for user in project.owners],
    }


def project_document(project: Project, base: str) -> bytes | None:
    """``/pypi/NAME/json``; None (a 404) when the project has no release."""
    if not project.releases:
        return None
    # The info block describes the newest stable release, or the newest of all.
    stable = [r for r in project.releases if not is_prerelease(r.version)]
    current = max(stable or project.releases, key=version_key)
    return json_bytes(
        {
            "info": _info_json(project, current, base),
            "last_serial": project.last_serial,
            "ownership": _ownership_json(project),
            "releases": {r.version: [_file_json(r.file, r, base)] for r in project.releases},
            "urls": [_file_json(current.file, current, base)],
            "vulnerabilities": [],
        }
    )


def release_document(project: Project, version: str, base: str) -> bytes | None:
    """``/pypi/NAME/VERSION/json``; None (a 404) when the version does not exist."""
    release = next((r for r in project.releases if r.version == version), None)
    if release is None:
        return None
    return json_bytes(
        {
            "info": _info_json(project, release, base),
            "last_serial": project.last_serial,
            "ownership": _ownership_json(project),
            "urls": [_file_json(release.file, release, base)],
            "vulnerabilities": [],
        }
    )


# -- simple API --------------------------------------------------------------


def simple_index_json(serial: int, listing: list[ListingEntry]) -> bytes:
    """``/simple/`` as PEP 691 JSON, with the index's ``_last-serial`` extensions."""
    return json_bytes(
        {
            "meta": {"_last-serial": serial, "api-version": _API_VERSION},
            "projects": [{"_last-serial": s, "name": name} for _, name, s in listing],
        }
    )


def simple_index_html(listing: list[ListingEntry]) -> bytes:
    """``/simple/`` as PEP 503 HTML: one relative link per project."""
    lines = [
        "<!DOCTYPE html>",
        "<html>",
        "  <head>",
        f'    <meta name="pypi:repository-version" content="{_API_VERSION}">',
        "    <title>Simple index</title>",
        "  </head>",
        "  <body>",
        *(f'    <a href="/simple/{norm}/">{html.escape(name)}</a>' for norm, name, _ in listing),
        "  </body>",
        "</html>",
        "",
    ]
    return "\n".join(lines).encode()


def simple_project_json(project: Project, base: str) -> bytes:
    """``/simple/NAME/`` as PEP 691 JSON: versions and files in version order."""
    releases = sorted(project.releases, key=version_key)
    return json_bytes(
        {
            "meta": {"_last-serial": project.last_serial, "api-version": _API_VERSION},
            "name": project.normalized,
            "project-status": {"status": "active"},
            "versions": [r.version for r in releases],
            "files": [
                {
                    "core-metadata": False,
                    "data-dist-info-metadata": False,
                    "filename": r.file.filename,
                    "hashes": {"sha256": r.file.sha256},
                    "provenance": None,
                    "requires-python": None,
                    "size": r.file.size,
                    "upload-time": _upload_time_iso(r.upload_time),
                    "url": f"{base}{r.file.path}",
                    "yanked": False,
                }
                for r in releases
            ],
        }
    )


def simple_project_html(project: Project, base: str) -> bytes:
    """``/simple/NAME/`` as PEP 503 HTML, ending in the index's ``SERIAL`` comment."""
    releases = sorted(project.releases, key=version_key)
    lines = [
        "<!DOCTYPE html>",
        "<html>",
        "  <head>",
        f'    <meta name="pypi:repository-version" content="{_API_VERSION}">',
        '    <meta name="pypi:project-status" content="active">',
        f"    <title>Links for {project.normalized}</title>",
        "  </head>",
        "  <body>",
        f"    <h1>Links for {project.normalized}</h1>",
        *(
            f'    <a href="{base}{r.file.path}#sha256={r.file.sha256}">{r.file.filename}</a><br />'
            for r in releases
        ),
        "  </body>",
        "</html>",
        f"<!--SERIAL {project.last_serial}-->",
        "",
    ]
    return "\n".join(lines).encode()
