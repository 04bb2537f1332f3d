"""problems_for_internal: pins, constraint pins, direct URL hosts, lock-file indexes."""

from __future__ import annotations

from watcher.depfiles import MemoryIncludes, parse, problems_for_internal


def _internal(name: str) -> bool:
    return name in {"acme-core", "acme-ledger", "acme-tools"}


def _codes(
    text: str, hosts: set[str] | None = None, files: dict[str, str] | None = None
) -> list[tuple[str, int | None]]:
    report = parse("requirements.txt", text, includes=MemoryIncludes(files or {}))
    return [
        (p.code, p.location.line)
        for p in problems_for_internal(report, _internal, internal_hosts=hosts or set())
    ]


def test_unpinned_internal() -> None:
    assert _codes("acme-core>=1\nacme-ledger==2.*\nacme-tools==1.0\nrequests\n") == [
        ("unpinned-internal", 1),
        ("unpinned-internal", 2),
    ]


def test_constraint_pins_count() -> None:
    text = "-c pins.txt\nacme-core\nacme-ledger\n"
    assert _codes(text, files={"pins.txt": "acme-core==1.2\nacme-ledger>=2\n"}) == [
        ("unpinned-internal", 3)
    ]


def test_names_are_compared_canonically() -> None:
    assert _codes("ACME_Core>=1\n") == [("unpinned-internal", 1)]


def test_direct_urls_to_internal_hosts() -> None:
    text = (
        "acme-core @ https://artifacts.acme.example/acme_core-1.0-py3-none-any.whl\n"
        "acme-ledger @ https://files.example/acme_ledger-2.0-py3-none-any.whl\n"
        "git+https://git.elsewhere.example/acme-tools.git#egg=acme-tools\n"
        "-e ./acme-local\n"
    )
    assert _codes(text, {".acme.example"}) == [("internal-url-host", 2), ("internal-url-host", 3)]
    # without internal hosts, URL hosts are not judged here (allowed_hosts covers them)
    assert _codes(text) == []
