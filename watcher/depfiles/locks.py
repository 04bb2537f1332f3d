"""Lock files: ``poetry.lock``, ``uv.lock`` and ``pylock.toml`` (TOML), ``Pipfile.lock`` (JSON).

A lock file pins every package to one version and records where it came from, so each
dependency is ``pinned`` and carries its ``index`` (or ``url``). More than one index in a
lock file is a ``second-index`` *warning* (the origin of each package is fixed; whether an
internal one came from the wrong index is :func:`~watcher.depfiles.checks.problems_for_internal`'s
``internal-index``), except for ``Pipfile.lock``, whose ``_meta.sources`` are handed to pip
as extra indexes at install time (an error). ``pylock.toml`` is read and validated by
``packaging.pylock`` (PEP 751).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from packaging.pylock import Pylock, PylockValidationError

from watcher.depfiles import common
from watcher.depfiles.model import (
    MAX_DEPENDENCIES,
    Dependency,
    DependencyFile,
    Index,
    Kind,
    Location,
    Problem,
    UnusableInput,
    problem,
)
from watcher.depfiles.pyproject import load_toml


class _Lock:
    """Collects one lock file's dependencies, indexes and problems."""

    def __init__(self, name: str, text: str, kind: Kind, allowed: frozenset[str]) -> None:
        self.name = name
        self.text = text
        self.kind = kind
        self.allowed = allowed
        self.deps: list[Dependency] = []
        self.problems: list[Problem] = []
        self.indexes: dict[str | None, Index] = {}
        self.lines = common.LineFinder(text)

    def loc(self, *needles: str) -> Location:
        return Location(self.name, self.lines.find(*needles))

    def add(
        self,
        pkg_name: str,
        version: str | None,
        *,
        index: str | None = None,
        url: str | None = None,
        hashes: tuple[str, ...] = (),
        marker: str | None = None,
        editable: bool = False,
        group: str | None = None,
        needs_hashes: bool = True,
    ) -> None:
        loc = self.loc(f'name = "{pkg_name}"', f'"{pkg_name}": {{', f'"{pkg_name}"')
        common.check_name(self.name, pkg_name, loc.line)
        shown_index = common.mask_url(index) if index else None
        dep = Dependency(
            name=pkg_name,
            canonical=common.canonical(pkg_name),
            specifier=f"=={version}" if version else "",
            location=loc,
            pinned=version or None,
            hashes=hashes,
            marker=marker,
            url=common.mask_url(url) if url else None,
            editable=editable,
            index=shown_index,
            group=group,
        )
        self.deps.append(dep)
        if len(self.deps) > MAX_DEPENDENCIES:
            raise UnusableInput(self.name, f"more than {MAX_DEPENDENCIES} packages", too_large=True)
        if index and shown_index not in self.indexes:
            self.indexes[shown_index] = Index(shown_index, "locked")
            self.problems.extend(common.index_problems(index, loc, "index"))
        if url:
            self.problems.extend(common.url_problems(dep, url, self.allowed))
        if editable:
            self.problems.append(problem("editable", f"{pkg_name}: editable", loc, dep))
        if needs_hashes and not hashes and not url:
            self.problems.append(
                problem(
                    "no-hashes", f"{pkg_name} {version or ''} is locked without hashes", loc, dep
                )
            )

    def result(self, *, public_default: bool | None = None) -> DependencyFile:
        indexes = [i for i in self.indexes.values()]
        if len(indexes) > 1:
            shown = ", ".join(i.name or i.url or "the default index" for i in indexes)
            self.problems.append(
                problem(
                    "second-index",
                    f"packages were locked from {len(indexes)} indexes ({shown}); check that "
                    "every internal package came from the internal one",
                    Location(self.name),
                    severity="warning",
                )
            )
        return DependencyFile(
            name=self.name,
            kind=self.kind,
            dependencies=tuple(self.deps),
            problems=tuple(self.problems),
            indexes=tuple(indexes),
            files=(self.name,),
            public_default=public_default,
        )


def _tables(doc: Mapping[str, Any], key: str, file: str) -> list[Mapping[str, Any]]:
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise UnusableInput(file, f"{key} is not an array of tables")
    return value


def _sub(table: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = table.get(key)
    return value if isinstance(value, Mapping) else {}


def _str(table: Mapping[str, Any], key: str, file: str) -> str | None:
    value = table.get(key)
    if value is None or isinstance(value, str):
        return value
    raise UnusableInput(file, f"{key} is not a string")


def parse_poetry_lock(
    name: str, data: str | bytes, *, allowed_hosts: frozenset[str]
) -> DependencyFile:
    """``poetry.lock``: ``[[package]]`` with ``files`` hashes and an optional ``[package.source]``
    (``legacy`` = a named index; ``url``/``git`` = direct; ``file``/``directory`` = local).
    A package without a source came from the default public index."""
    text = common.decode(name, data)
    lock = _Lock(name, text, "poetry.lock", allowed_hosts)
    for pkg in _tables(load_toml(name, text), "package", name):
        pkg_name = _str(pkg, "name", name) or ""
        source = _sub(pkg, "source")
        kind = str(source.get("type", ""))
        url = _str(source, "url", name)
        files = pkg.get("files", [])
        hashes = (
            tuple(str(f["hash"]) for f in files if isinstance(f, Mapping) and "hash" in f)
            if isinstance(files, list)
            else ()
        )
        if kind == "legacy":
            lock.add(pkg_name, _str(pkg, "version", name), index=url, hashes=hashes)
        elif kind in ("url", "git", "file", "directory") and url:
            lock.add(
                pkg_name,
                _str(pkg, "version", name),
                url=url,
                hashes=hashes,
                editable=bool(pkg.get("develop", False)),
                needs_hashes=False,
            )
        else:
            lock.add(pkg_name, _str(pkg, "version", name), hashes=hashes)
    return lock.result(public_default=True)


def parse_uv_lock(name: str, data: str | bytes, *, allowed_hosts: frozenset[str]) -> DependencyFile:
    """``uv.lock``: ``[[package]]`` with ``source = {registry|git|url|path|directory|editable|
    virtual}`` and ``sdist``/``wheels`` hashes. The project itself (a ``virtual`` or
    ``editable`` source at ``.``) is skipped: it is what is being checked, not a dependency."""
    text = common.decode(name, data)
    lock = _Lock(name, text, "uv.lock", allowed_hosts)
    for pkg in _tables(load_toml(name, text), "package", name):
        pkg_name = _str(pkg, "name", name) or ""
        version = _str(pkg, "version", name)
        source = _sub(pkg, "source")
        hashes = _uv_hashes(pkg)
        if "registry" in source:
            lock.add(pkg_name, version, index=str(source["registry"]), hashes=hashes)
        elif "git" in source or "url" in source:
            ref = str(source.get("git") or source.get("url"))
            lock.add(pkg_name, version, url=ref, hashes=hashes, needs_hashes=False)
        elif source.get("virtual") == "." or source.get("editable") == ".":
            continue
        else:
            local = next(
                (
                    str(source[k])
                    for k in ("path", "directory", "editable", "virtual")
                    if k in source
                ),
                ".",
            )
            lock.add(
                pkg_name,
                version,
                url=local,
                editable="editable" in source,
                hashes=hashes,
                needs_hashes=False,
            )
    return lock.result()


def _uv_hashes(pkg: Mapping[str, Any]) -> tuple[str, ...]:
    found: list[str] = []
    artifacts: list[Any] = [pkg.get("sdist")]
    wheels = pkg.get("wheels")
    if isinstance(wheels, list):
        artifacts.extend(wheels)
    for item in artifacts:
        if isinstance(item, Mapping) and isinstance(item.get("hash"), str):
            found.append(item["hash"])
    return tuple(found)


def parse_pipfile_lock(
    name: str, data: str | bytes, *, allowed_hosts: frozenset[str]
) -> DependencyFile:
    """``Pipfile.lock`` (JSON): ``_meta.sources`` and the ``default``/``develop`` packages."""
    text = common.decode(name, data)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnusableInput(name, f"malformed JSON: {exc.msg}", line=exc.lineno) from None
    if not isinstance(doc, Mapping):
        raise UnusableInput(name, "not a JSON object")
    lock = _Lock(name, text, "Pipfile.lock", allowed_hosts)
    meta = doc.get("_meta", {})
    sources = meta.get("sources", []) if isinstance(meta, Mapping) else []
    if not isinstance(sources, list) or not all(isinstance(s, Mapping) for s in sources):
        raise UnusableInput(name, "_meta.sources is not a list of objects")
    by_name: dict[str, str] = {}
    for source in sources:
        url, source_name = str(source.get("url", "")), str(source.get("name", ""))
        loc = lock.loc(url) if url else Location(name)
        shown = common.mask_url(url)
        by_name[source_name] = url
        lock.indexes[shown] = Index(shown, "primary" if not lock.indexes else "extra", source_name)
        lock.problems.extend(common.index_problems(url, loc, f"source {source_name}"))
        if source.get("verify_ssl") is False:
            lock.problems.append(
                problem("trusted-host", f"source {source_name} has verify_ssl = false", loc)
            )
    if len(sources) > 1:
        lock.problems.append(
            problem(
                "second-index",
                f"{len(sources)} sources: pipenv passes the further ones to pip as extra "
                "indexes, where the highest version on any index wins",
                lock.loc('"sources"'),
            )
        )
    first = (str(sources[0].get("url", "")) or None) if sources else None
    for section in ("default", "develop"):
        packages = doc.get(section, {})
        if not isinstance(packages, Mapping):
            raise UnusableInput(name, f"{section} is not an object")
        for pkg_name, entry in packages.items():
            if not isinstance(entry, Mapping):
                raise UnusableInput(name, f"{section}.{pkg_name} is not an object")
            version = str(entry.get("version", "")).removeprefix("==") or None
            ref = next((str(entry[k]) for k in ("git", "file", "path") if k in entry), None)
            hashes = tuple(str(h) for h in entry.get("hashes", []) if isinstance(h, str))
            index_name = entry.get("index")
            lock.add(
                str(pkg_name),
                version,
                # without "index", pipenv looks a package up on the first source
                index=by_name.get(str(index_name), first) if index_name else first,
                url=ref,
                hashes=hashes,
                marker=entry.get("markers") if isinstance(entry.get("markers"), str) else None,
                editable=bool(entry.get("editable", False)),
                group=None if section == "default" else "develop",
                needs_hashes=ref is None,
            )
    result = lock.result()
    # the per-package index warning would repeat the sources error; keep only the error
    problems = tuple(
        p for p in result.problems if not (p.code == "second-index" and p.severity == "warning")
    )
    return DependencyFile(
        name=result.name,
        kind=result.kind,
        dependencies=result.dependencies,
        problems=problems,
        indexes=result.indexes,
        files=result.files,
    )


def parse_pylock(name: str, data: str | bytes, *, allowed_hosts: frozenset[str]) -> DependencyFile:
    """``pylock.toml`` (PEP 751), validated by ``packaging.pylock.Pylock.from_dict``."""
    text = common.decode(name, data)
    try:
        pylock = Pylock.from_dict(load_toml(name, text))
    except PylockValidationError as exc:
        raise UnusableInput(name, f"invalid pylock: {exc}") from None
    lock = _Lock(name, text, "pylock", allowed_hosts)
    for pkg in pylock.packages:
        hashes: list[str] = []
        for artifact in [pkg.sdist, pkg.archive, *(pkg.wheels or ())]:
            if artifact is not None:
                hashes.extend(f"{algo}:{value}" for algo, value in artifact.hashes.items())
        ref: str | None = None
        if pkg.vcs is not None:
            ref = pkg.vcs.url or pkg.vcs.path
        elif pkg.archive is not None:
            ref = pkg.archive.url or pkg.archive.path
        elif pkg.directory is not None:
            ref = pkg.directory.path
        lock.add(
            str(pkg.name),
            str(pkg.version) if pkg.version else None,
            index=pkg.index,
            url=ref,
            hashes=tuple(hashes),
            marker=str(pkg.marker) if pkg.marker else None,
            editable=bool(pkg.directory and pkg.directory.editable),
            needs_hashes=pkg.vcs is None and pkg.directory is None,
        )
    return lock.result()
