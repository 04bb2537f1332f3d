"""Reading Retry-After, the one way both the index client and the Slack sender do."""

from __future__ import annotations

import pytest

from watcher.headers import retry_after


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("30", 30.0),
        (" 2.5 ", 2.5),
        ("-4", 0.0),
        ("3600", 3600.0),  # not capped here: each caller caps what it can afford
        ("nan", None),
        ("inf", None),
        ("-inf", None),
        ("1e999", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", None),
        ("", None),
        (None, None),
        (30, None),
    ],
)
def test_retry_after(value: object, seconds: float | None) -> None:
    assert retry_after(value) == seconds
