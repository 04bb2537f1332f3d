"""``watcher catalog show`` and ``watcher catalog check``: the catalog as the service sees it.

``show`` reads the catalog file and what the service last stored of each private index
(names, versions, mirrors, last load and error); ``check`` validates the file and reads
every private index now, printing counts (exit 0 when all answered, 1 when one did not,
2 for a bad file or setting).
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from typing import Any

from watcher.catalog.files import read_catalog_file
from watcher.catalog.merge import IndexContent, merge
from watcher.catalog.model import Catalog
from watcher.config import Settings
from watcher.errors import ConfigError, IndexClientError, PrivateIndexError, WatcherError
from watcher.store.catalog import CatalogStatus

EXIT_OK, EXIT_FAILURE = 0, 1


async def show(settings: Settings, *, as_json: bool) -> int:
    """Print the catalog in use: names by source, prefixes, versions, mirrors, loads."""
    if settings.catalog is None:
        raise ConfigError("WATCHER_CATALOG is not set: set it to the catalog file's path")
    file, _ = read_catalog_file(settings.catalog)
    statuses, contents = await _stored(settings, file)
    catalog = merge(file, contents)
    document = _document(settings, file, catalog, statuses)
    if as_json:
        print(json.dumps(document, indent=2))
    else:
        print(_human(document))
    return EXIT_OK


async def _stored(
    settings: Settings, file: Catalog
) -> tuple[dict[str, CatalogStatus], list[IndexContent]]:
    """What the service stored of each catalog source (nothing when there is no database
    yet: reading must not create one)."""
    from watcher.store import Database, DatabaseError
    from watcher.store import catalog as catalog_store
    from watcher.store.paths import sqlite_path

    path = sqlite_path(settings.database_url)
    if path is not None and not path.exists():
        return {}, [IndexContent(spec, live=False, error="never loaded") for spec in file.indexes]
    db = Database(settings.database_url)
    statuses: dict[str, CatalogStatus] = {}
    contents: list[IndexContent] = []
    try:
        await db.require_current()
        async with db.transaction() as session:
            statuses = {s.source: s for s in await catalog_store.catalog_statuses(session)}
            for spec in file.indexes:
                stored = await catalog_store.load_index(session, spec.url)
                if stored is None:
                    contents.append(IndexContent(spec, live=False, error="never loaded"))
                else:
                    contents.append(
                        IndexContent(
                            spec, stored.packages, stored.mirrored, stored.loaded_at, live=False
                        )
                    )
    except (OSError, DatabaseError) as exc:
        raise WatcherError(f"cannot read the database: {str(exc).splitlines()[0]}") from exc
    finally:
        await db.close()
    return statuses, contents


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _document(
    settings: Settings, file: Catalog, catalog: Catalog, statuses: dict[str, CatalogStatus]
) -> dict[str, Any]:
    path = str(settings.catalog)
    sources: list[dict[str, Any]] = [
        {
            "source": path,
            "kind": "file",
            "names": len(file.names),
            "loaded_at": _when(statuses[path].loaded_at) if path in statuses else None,
            "error": statuses[path].last_error if path in statuses else None,
        }
    ]
    for spec in file.indexes:
        status = statuses.get(spec.url)
        sources.append(
            {
                "source": spec.url,
                "kind": "index",
                "names": status.names if status else 0,
                "mirrored": status.mirrored if status else 0,
                "loaded_at": _when(status.loaded_at) if status else None,
                "error": status.last_error if status else "never loaded",
                "failing_since": _when(status.failing_since) if status else None,
            }
        )
    names = []
    for name, display in sorted(catalog.names.items()):
        package = catalog.package(name)
        origin = ["file"] if name in file.names else []
        if package is not None:
            origin.append(package.source)
        names.append(
            {
                "name": name,
                "display": display,
                "sources": origin,
                "versions": list(package.versions) if package else None,
                "highest": str(package.highest) if package and package.highest else None,
            }
        )
    return {
        "sources": sources,
        "names": names,
        "prefixes": sorted(catalog.prefixes),
        "allow": sorted(catalog.allow),
        "owners": sorted(catalog.owners),
        "mirrored": [
            {"name": name, "reason": reason} for name, reason in sorted(catalog.mirrored.items())
        ],
    }


def _human(document: dict[str, Any]) -> str:
    lines = []
    for source in document["sources"]:
        what = f"{source['kind']} {source['source']}: {source['names']} names"
        if source.get("mirrored"):
            what += f", {source['mirrored']} taken as mirrors"
        what += f"; loaded {source['loaded_at'] or 'never'}"
        if source["error"]:
            since = source.get("failing_since")
            what += f"; ERROR{f' since {since}' if since else ''}: {source['error']}"
        lines.append(what)
    lines.append(f"names ({len(document['names'])}):")
    for entry in document["names"]:
        versions = entry["versions"]
        known = ", ".join(versions[-5:]) if versions else "versions unknown"
        if versions and len(versions) > 5:
            known = f"... {known} ({len(versions)} versions)"
        lines.append(f"  {entry['display']}  [{', '.join(entry['sources'])}]  {known}")
    lines.append(f"prefixes: {', '.join(document['prefixes']) or '(none)'}")
    lines.append(f"allowlisted: {', '.join(document['allow']) or '(none)'}")
    lines.append(f"owners: {', '.join(document['owners']) or '(none)'}")
    lines.append(f"mirrored, not protected ({len(document['mirrored'])}):")
    lines += [f"  {m['name']}: {m['reason']}" for m in document["mirrored"]]
    return "\n".join(lines)


async def check(settings: Settings) -> int:
    """Validate the catalog file, read each private index now, print counts."""
    from watcher.catalog.private import load_private_index

    if settings.catalog is None:
        raise ConfigError("WATCHER_CATALOG is not set: set it to the catalog file's path")
    file, _ = read_catalog_file(settings.catalog)
    print(
        f"catalog file {settings.catalog}: {len(file.names)} names, {len(file.prefixes)}"
        f" prefixes, {len(file.allow)} allowlisted, {len(file.owners)} owners,"
        f" {len(file.indexes)} private indexes"
    )
    indexes = settings.indexes
    failed = 0
    for spec in file.indexes:
        started = time.monotonic()
        try:
            loaded = await load_private_index(spec, indexes)
        except (PrivateIndexError, IndexClientError) as exc:
            failed += 1
            print(f"index {spec.url}: FAILED: {exc}", file=sys.stderr)
            continue
        versions = sum(len(p.versions) for p in loaded.packages.values())
        print(
            f"index {spec.url}: {len(loaded.packages)} projects, {versions} versions,"
            f" read in {time.monotonic() - started:.1f} s"
        )
    return EXIT_FAILURE if failed else EXIT_OK
