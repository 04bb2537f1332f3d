"""A private mirror's credentials in WATCHER_PYPI_URL: sent as HTTP Basic auth, never shown.

Neither the retry log lines, nor the errors the client raises (which the jobs log, store
and show in /healthz), nor the client's own URLs (start-up line, alert links) may repeat
the user name or the password.
"""

from __future__ import annotations

import base64
import logging

import pytest

from tests.fakes.pypi import FakeIndex
from tests.unit.pypi.pypi_helpers import MakeClient
from watcher.errors import IndexUnavailable

USER = "mirror-bot"
PASSWORD = "s3cret-Pa55"


def with_credentials(base_url: str, password: str = PASSWORD) -> str:
    scheme, _, rest = base_url.partition("://")
    return f"{scheme}://{USER}:{password}@{rest}"


async def test_credentials_go_in_the_authorization_header_and_nowhere_else(
    fake_index: FakeIndex, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="watcher")
    fake_index.add_release("acme-utils", "1.0")
    client = make_client(base_url=with_credentials(fake_index.base_url))

    assert await client.exists("acme-utils") is True
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert fake_index.requests[-1].headers["Authorization"] == expected
    assert client.base_url == fake_index.base_url
    assert PASSWORD not in client.project_url("acme-utils", "1.0")

    fake_index.fail("/simple/", 503, times=None)
    with pytest.raises(IndexUnavailable) as caught:
        await client.exists("acme-utils")
    shown = f"{caught.value} {caught.value.url}"
    assert PASSWORD not in shown
    assert USER not in shown
    retries = [r.getMessage() for r in caplog.records if "retry" in r.getMessage()]
    assert retries  # the retries were logged ...
    assert not any(PASSWORD in line or USER in line for line in retries)  # ... without them


async def test_percent_encoded_credentials_are_decoded_once(
    fake_index: FakeIndex, make_client: MakeClient
) -> None:
    # A password with "@" or ":" must be percent-encoded in a URL; the header carries it raw.
    client = make_client(base_url=with_credentials(fake_index.base_url, "p%40ss%3Aword"))
    assert await client.exists("nothing-here") is False
    expected = "Basic " + base64.b64encode(f"{USER}:p@ss:word".encode()).decode()
    assert fake_index.requests[-1].headers["Authorization"] == expected
