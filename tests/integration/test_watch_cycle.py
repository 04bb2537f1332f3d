"""Full poll -> match -> store -> Slack cycles against the fakes, with the daemon in-process."""

from __future__ import annotations

import asyncio
import time

from tests.conftest import SettingsFactory, running
from tests.fakes.pypi import FakeIndex
from tests.fakes.slack import FakeSlack


async def test_new_squat_in_other_spelling_is_posted_once(
    make_settings: SettingsFactory, fake_index: FakeIndex, fake_slack: FakeSlack
) -> None:
    settings = make_settings(poll_interval=1.0)
    fake_index.add_release("unrelated-thing", "1.0")
    async with running(settings):
        await asyncio.sleep(1.5)  # first poll done: the baseline
        assert fake_slack.messages == []
        fake_index.add_release("payments.core", "99.0")
        started = time.monotonic()
        messages = await fake_slack.wait_for_messages(1, timeout=settings.poll_interval + 2)
        elapsed = time.monotonic() - started
        await asyncio.sleep(2 * settings.poll_interval)
    assert elapsed <= settings.poll_interval + 2
    assert len(fake_slack.messages) == 1
    text = messages[0]["text"]
    assert "payments.core" in text
    assert "99.0" in text
    assert "Payments_Core" in text
    assert "exact" in text

    # A restart re-posts nothing.
    async with running(settings):
        await asyncio.sleep(3 * settings.poll_interval)
    assert len(fake_slack.messages) == 1
