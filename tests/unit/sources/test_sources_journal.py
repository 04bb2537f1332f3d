"""Folding a page of change-log rows into one change per project."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from watcher.pypi.journal import JournalRow
from watcher.sources.journal import fold

T = datetime(2026, 11, 25, tzinfo=UTC)


def _rows(*rows: tuple[str, str | None, str]) -> list[JournalRow]:
    return [
        JournalRow(name, version, T, action, n) for n, (name, version, action) in enumerate(rows, 1)
    ]


def test_a_created_project_is_new_and_its_first_owners_are_not_a_change() -> None:
    changes = fold(
        _rows(
            ("Acme.Evil", None, "create"),
            ("Acme.Evil", None, "add Owner squatter"),
            ("acme_evil", "1.0", "new release"),
        )
    )
    [(name, change)] = changes.items()
    assert name == "acme-evil"
    assert (change.name, change.serial, change.exists, change.event) == (
        "acme_evil",
        3,
        True,
        "new",
    )
    assert change.detail is None


def test_role_changes_on_an_existing_project_are_an_owner_event_in_order() -> None:
    change = fold(
        _rows(
            ("acme-evil", None, "add Owner mallory"),
            ("acme-evil", "2.0", "new release"),
            ("acme-evil", None, "remove Owner squatter"),
            ("acme-evil", None, "change Owner eve to Maintainer"),
            ("acme-evil", None, "invite Owner bob"),  # an invitation changes nothing yet
        )
    )["acme-evil"]
    assert change.event == "owner"
    assert change.detail == (
        "add Owner mallory; remove Owner squatter; change Owner eve to Maintainer"
    )


@pytest.mark.parametrize(
    ("actions", "exists", "event"),
    [
        (["create", "remove project"], False, "changed"),
        (["remove project", "create"], True, "new"),
        (["new release", "remove project"], False, "changed"),
        (["remove project", "new release"], True, "changed"),
        (["yank release", "project quarantined"], True, "changed"),
    ],
)
def test_the_newest_create_or_removal_decides(actions: list[str], exists: bool, event: str) -> None:
    change = fold(_rows(*[("acme-x", None, a) for a in actions]))["acme-x"]
    assert (change.exists, change.event) == (exists, event)


def test_invalid_names_are_dropped_and_details_are_one_clipped_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    changes = fold(
        _rows(
            ("../etc", None, "create"),
            ("acme-x", None, "add Owner " + "m\n" * 400),
        )
    )
    assert list(changes) == ["acme-x"]
    detail = changes["acme-x"].detail
    assert detail is not None
    assert len(detail) == 300
    assert "\n" not in detail
    assert "1 rows with invalid project names" in caplog.text


def test_an_owner_added_after_the_first_upload_is_a_change_even_in_the_creating_page() -> None:
    change = fold(
        _rows(
            ("acme-evil", None, "create"),
            ("acme-evil", None, "add Owner squatter"),
            ("acme-evil", "1.0", "new release"),
            ("acme-evil", "1.0", "add source file acme_evil-1.0.tar.gz"),
            ("acme-evil", None, "add Owner mallory"),
        )
    )["acme-evil"]
    assert (change.event, change.detail) == ("new", "add Owner mallory")


def test_first_owners_split_from_their_create_row_by_a_page_boundary_are_not_a_change() -> None:
    rows = _rows(("acme-evil", None, "add Owner squatter"), ("acme-evil", "1.0", "new release"))
    assert fold(rows, founding={"acme-evil"})["acme-evil"].detail is None
    assert fold(rows)["acme-evil"].detail == "add Owner squatter"


def test_a_project_created_and_removed_in_one_page_came_and_went() -> None:
    rows = _rows(
        ("acme-flash", None, "create"),
        ("acme-flash", "6.6.6", "new release"),
        ("acme-flash", None, "remove project"),
        ("acme-old", None, "remove project"),
        ("acme-back", None, "create"),
    )
    changes = fold(rows)
    flash = changes["acme-flash"]
    assert (flash.came_and_went, flash.version, flash.appeared_at, flash.gone_at) == (
        True,
        "6.6.6",
        T,
        T,
    )
    assert not changes["acme-old"].came_and_went  # it existed before this page
    assert not changes["acme-back"].came_and_went  # still there
