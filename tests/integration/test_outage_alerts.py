"""The service's own health on the alert channel: a watch source failing for longer than
WATCHER_SOURCE_ALERT_AFTER is alerted once, its recovery once."""

from __future__ import annotations

from tests.conftest import SettingsFactory, running
from tests.fakes.pypi import FakeIndex
from tests.fakes.slack import FakeSlack
from tests.support import until


def _texts(slack: FakeSlack, lead: str) -> list[str]:
    return [str(m.get("text")) for m in slack.messages if str(m.get("text")).startswith(lead)]


async def test_failing_feeds_are_alerted_once_and_their_recovery_once(
    make_settings: SettingsFactory, fake_index: FakeIndex, fake_slack: FakeSlack
) -> None:
    settings = make_settings(poll_interval=0.2, source_alert_after=1.0, http_retries=0)
    async with running(settings) as service:
        assert service.jobs is not None
        jobs = service.jobs

        async def polled() -> bool:
            return jobs.health["feeds"].last_success is not None

        await until(polled, 10, "a good poll")
        fake_index.fail("/rss/", 500, times=None)

        async def down() -> bool:
            return bool(_texts(fake_slack, "Watch source failing: feeds"))

        await until(down, 15, "the feeds' outage alert")
        failures = jobs.health["feeds"].failures

        async def more() -> bool:
            return jobs.health["feeds"].failures >= failures + 3

        await until(more, 10, "three more failed polls")
        fake_index.clear_failures()

        async def back() -> bool:
            return bool(_texts(fake_slack, "Watch source working again: feeds"))

        await until(back, 15, "the feeds' recovery alert")
        await until(polled, 5, "a good poll")
    [outage] = _texts(fake_slack, "Watch source failing: feeds")
    assert "HTTP 500" in outage
    assert len(_texts(fake_slack, "Watch source working again: feeds")) == 1
