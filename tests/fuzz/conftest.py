"""Fuzz tests: hypothesis drives the production parsers with garbage and mutated documents.

They run with the normal ``pytest`` command (and so in CI) under a fixed budget; the
profile, its ``WATCHER_TEST_FUZZ_EXAMPLES`` override and the strategies are in
``tests/fuzz/fuzz_support.py``. ``-m fuzz`` selects them alone, ``-m "not fuzz"`` leaves
them out.
"""

from __future__ import annotations

import pytest

from tests.fuzz.fuzz_support import PROFILE  # importing registers the profile


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``fuzz`` marker (markers are strict)."""
    config.addinivalue_line("markers", f"fuzz: property-based fuzz test (hypothesis {PROFILE})")
