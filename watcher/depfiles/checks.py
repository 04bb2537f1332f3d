"""Problems that need to know which names are internal (the catalog decides, not the file)."""

from __future__ import annotations

from collections.abc import Callable, Collection

from watcher.depfiles import common
from watcher.depfiles.model import PUBLIC_INDEX, DependencyFile, Problem, problem


def problems_for_internal(
    report: DependencyFile,
    is_internal: Callable[[str], bool],
    *,
    internal_hosts: Collection[str] = (),
) -> list[Problem]:
    """Problems of the internal packages in ``report`` (``is_internal`` gets canonical names).

    - ``unpinned-internal``: neither the requirement nor a ``-c`` constraint allows exactly
      one version (a direct URL counts as pinned: its host is checked instead);
    - ``internal-url-host``: fetched by direct URL from a host outside ``internal_hosts``;
    - ``internal-index``: a lock file records it from an index outside ``internal_hosts``, or
      from the default public index;
    - ``internal-unrouted``: a Poetry dependency with no ``source`` while Poetry searches the
      public index for such dependencies.

    Host checks run only when ``internal_hosts`` is given (entries as for ``allowed_hosts``:
    ``.acme.example`` covers subdomains). Entries of a constraints file are not reported
    themselves: they only pin.
    """
    hosts = frozenset(h.lower() for h in internal_hosts)
    pinned_by_constraint = {
        d.canonical for d in report.dependencies if d.constraint and d.pinned is not None
    }
    locked = report.kind in ("poetry.lock", "uv.lock", "Pipfile.lock", "pylock")
    found: list[Problem] = []
    for dep in report.dependencies:
        if dep.constraint or not dep.canonical or not is_internal(dep.canonical):
            continue
        if dep.url is not None:
            if hosts and common.is_url(dep.url) and not dep.url.lower().startswith("file:"):
                host = common.host_of(dep.url)
                if not common.host_allowed(host, hosts):
                    found.append(
                        problem(
                            "internal-url-host",
                            f"internal package {dep.name} comes from {host or 'no host'} by "
                            "direct URL, not an internal host",
                            dep.location,
                            dep,
                        )
                    )
            continue
        if dep.pinned is None and dep.canonical not in pinned_by_constraint:
            shown = dep.specifier or "any version"
            found.append(
                problem(
                    "unpinned-internal",
                    f"internal package {dep.name} is not pinned to one version ({shown}): a "
                    "higher public version would be taken",
                    dep.location,
                    dep,
                )
            )
        if dep.index == PUBLIC_INDEX:
            found.append(
                problem(
                    "internal-index",
                    f"internal package {dep.name} is tied to the default public index",
                    dep.location,
                    dep,
                )
            )
        elif dep.index is not None:
            host = common.host_of(dep.index)
            if hosts and common.is_url(dep.index) and not common.host_allowed(host, hosts):
                found.append(
                    problem(
                        "internal-index",
                        f"internal package {dep.name} is tied to index {host}, not an internal one",
                        dep.location,
                        dep,
                    )
                )
        elif report.public_default:
            if locked:
                found.append(
                    problem(
                        "internal-index",
                        f"internal package {dep.name} was locked from the default public index",
                        dep.location,
                        dep,
                    )
                )
            else:
                found.append(
                    problem(
                        "internal-unrouted",
                        f"internal package {dep.name} has no source: Poetry looks it up on "
                        "the public index too",
                        dep.location,
                        dep,
                    )
                )
    return found
