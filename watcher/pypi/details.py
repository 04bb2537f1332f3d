"""Parsing the JSON API's project document into :class:`ProjectInfo` (details of a matched
name). Every field is data from the index: a missing or odd one is ``None``, never a crash."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from packaging.utils import NormalizedName
from packaging.version import InvalidVersion, Version

from watcher.pypi.models import ProjectInfo, ReleaseInfo

# A file's SHA-256 as the index writes it; anything else (upper case, short, a hostile
# string) is skipped: a digest is compared with ours, never shown or trusted as text.
_SHA256 = re.compile(r"[0-9a-f]{64}")


def project_info(norm: NormalizedName, data: dict[str, Any]) -> ProjectInfo:
    info: dict[str, Any] = data["info"]
    ownership = data.get("ownership") if isinstance(data.get("ownership"), dict) else {}
    assert isinstance(ownership, dict)
    roles = ownership.get("roles") if isinstance(ownership.get("roles"), list) else []
    assert isinstance(roles, list)
    owners = tuple(
        str(role["user"]) for role in roles if isinstance(role, dict) and role.get("user")
    )
    organization = ownership.get("organization")
    releases_raw = data.get("releases") if isinstance(data.get("releases"), dict) else {}
    assert isinstance(releases_raw, dict)
    releases = [_release(str(v), files) for v, files in releases_raw.items()]
    releases.sort(key=_version_order)
    serial = data.get("last_serial")
    return ProjectInfo(
        name=str(info.get("name") or norm),
        canonical=norm,
        latest_version=_str_or_none(info.get("version")),
        summary=_str_or_none(info.get("summary")),
        author=_str_or_none(info.get("author")),
        author_email=_str_or_none(info.get("author_email")),
        owners=owners,
        organization=organization if isinstance(organization, str) else None,
        releases=tuple(releases),
        last_serial=serial if isinstance(serial, int) else None,
    )


def _release(version: str, files: Any) -> ReleaseInfo:
    names: list[str] = []
    digests: set[str] = set()
    times: list[datetime] = []
    yanked = False
    for item in files if isinstance(files, list) else []:
        if not isinstance(item, dict):
            continue
        if isinstance(item.get("filename"), str):
            names.append(item["filename"])
        digest = _sha256(item.get("digests"))
        if digest is not None:
            digests.add(digest)
        stamp = _timestamp(item.get("upload_time_iso_8601") or item.get("upload_time"))
        if stamp is not None:
            times.append(stamp)
        yanked = yanked or bool(item.get("yanked"))
    return ReleaseInfo(
        version=version,
        upload_time=min(times) if times else None,
        files=tuple(sorted(names)),
        yanked=yanked,
        digests=tuple(sorted(digests)),
    )


def _sha256(digests: Any) -> str | None:
    value = digests.get("sha256") if isinstance(digests, dict) else None
    return value if isinstance(value, str) and _SHA256.fullmatch(value) else None


def _version_order(release: ReleaseInfo) -> tuple[int, Version | str]:
    # Invalid versions are data, not crashes: they sort after every valid one. So do
    # versions packaging cannot take in (a release segment of thousands of digits exceeds
    # Python's int-conversion limit: ValueError, not InvalidVersion).
    try:
        return (0, Version(release.version))
    except (InvalidVersion, ValueError):
        return (1, release.version)


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return stamp.astimezone(UTC) if stamp.tzinfo else stamp.replace(tzinfo=UTC)
    except (ValueError, OverflowError):  # OverflowError: e.g. year 9999 at -01:00
        return None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
