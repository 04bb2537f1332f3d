"""Project-name validation and PEP 503 canonical form (watcher.names)."""

from __future__ import annotations

import pytest

from watcher.errors import InvalidName
from watcher.names import MAX_NAME_LENGTH, canonical, is_valid, spelling_of, validate


@pytest.mark.parametrize(
    "name",
    [
        "a",
        "Z",
        "7",
        "ab",
        "acme-billing",
        "Payments_Core",
        "payments.core",
        "a.b_c-d",
        "a--b",
        "a._-b",
        "x" * MAX_NAME_LENGTH,
    ],
)
def test_valid_names_are_returned_unchanged(name: str) -> None:
    assert validate(name) == name
    assert is_valid(name)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "empty"),
        ("x" * (MAX_NAME_LENGTH + 1), "longer than 200 characters"),
        ("é", "not ASCII"),
        ("acmé-billing", "not ASCII"),
        ("acme\u200b", "not ASCII"),
        ("bad name", "must be letters"),
        ("-x", "must be letters"),
        ("x-", "must be letters"),
        ("_x", "must be letters"),
        ("x_", "must be letters"),
        (".x", "must be letters"),
        ("x.", "must be letters"),
        ("-", "must be letters"),
        ("../x", "must be letters"),
        ("a/b", "must be letters"),
        ("a+b", "must be letters"),
        ("a\\b", "must be letters"),
        ("acme\n", "must be letters"),
        ("\nacme", "must be letters"),
        ("acme\x00", "must be letters"),
        (" acme", "must be letters"),
    ],
)
def test_invalid_names_are_refused_with_a_reason(name: str, reason: str) -> None:
    with pytest.raises(InvalidName) as info:
        validate(name)

    assert info.value.name == name
    assert reason in info.value.reason
    assert reason in str(info.value)
    assert not is_valid(name)


def test_invalid_name_message_shortens_a_long_name() -> None:
    name = "y" * 1000

    with pytest.raises(InvalidName) as info:
        validate(name)

    message = str(info.value)
    assert len(message) < 150
    assert "y" * 57 + "..." in message
    assert info.value.name == name


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a", "a"),
        ("A", "a"),
        ("Payments_Core", "payments-core"),
        ("payments.core", "payments-core"),
        ("PAYMENTS-CORE", "payments-core"),
        ("a._-b", "a-b"),
        ("a__b..c--d", "a-b-c-d"),
        ("Acme.Utils_2", "acme-utils-2"),
        ("x" * MAX_NAME_LENGTH, "x" * MAX_NAME_LENGTH),
    ],
)
def test_canonical_is_the_pep503_form(name: str, expected: str) -> None:
    assert canonical(name) == expected


@pytest.mark.parametrize("name", ["", "acme_", "-acme", "../x", "é", "x" * 201, "acme\n"])
def test_canonical_refuses_invalid_names(name: str) -> None:
    with pytest.raises(InvalidName):
        canonical(name)


def test_invalid_name_is_also_a_value_error() -> None:
    with pytest.raises(ValueError, match="invalid project name"):
        validate("bad name")


def test_spelling_of_keeps_only_a_spelling_of_the_name() -> None:
    assert spelling_of("Acme_Billing", "acme-billing") == "Acme_Billing"
    assert spelling_of("acme-billing2", "acme-billing") == "acme-billing"  # another project
    assert spelling_of("<!channel>", "acme-billing") == "acme-billing"  # no name at all
