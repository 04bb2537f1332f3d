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
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # an HTTP date in the past: now
        ("Wed, 21 Oct 2015 99:28:00 GMT", None),
        ("tomorrow", None),
        ("", None),
        (None, None),
        (30, None),
    ],
)
def test_retry_after(value: object, seconds: float | None) -> None:
    assert retry_after(value) == seconds


def test_retry_after_http_date_counts_from_now() -> None:
    from datetime import UTC, datetime

    now = datetime(2015, 10, 21, 7, 27, 30, tzinfo=UTC)
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 30.0
