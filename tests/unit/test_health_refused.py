"""A refused answer of the index shows in health at once (issue 10, failure 3)."""

from __future__ import annotations

from datetime import UTC, datetime

from watcher.errors import AnswerRefused, ListingRefused, StaleIndex
from watcher.health import HealthBook

T = datetime(2026, 11, 25, tzinfo=UTC)


def test_a_refused_answer_makes_the_source_failing_at_once_and_a_good_run_clears_it() -> None:
    book = HealthBook(["reconcile"], clock=lambda: T, monotonic=lambda: 0.0)
    reconcile = book.health["reconcile"]
    book.failed("reconcile", StaleIndex("http://i/simple/", 5, 9))
    assert (reconcile.failures, reconcile.state) == (1, "ok")  # transient: three in a row
    book.failed("reconcile", AnswerRefused("http://i/simple/", "listing claims serial 10"))
    assert (reconcile.failures, reconcile.state) == (2, "failing")
    book.succeeded("reconcile")
    assert reconcile.state == "ok"
    book.failed("reconcile", ListingRefused(2_000_001, 3))
    assert reconcile.state == "failing"
