"""Refusing ``WATCHER_*`` variables that are no setting (a typo is a setting silently left
at its default), while letting through those that are not ours to refuse."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping

from watcher.errors import ConfigError

ENV_PREFIX = "WATCHER_"

# Variables under the prefix that are not settings and must not be refused as typos: the test
# harness's own, and those Kubernetes injects for a Service named "watcher" (service links).
_TEST_PREFIX = ENV_PREFIX + "TEST_"
_SERVICE_LINK = re.compile(
    r"WATCHER_(?:SERVICE_HOST|SERVICE_PORT(?:_[A-Z0-9_]+)?"
    r"|PORT_\d+_(?:TCP|UDP|SCTP)(?:_PROTO|_PORT|_ADDR)?)"
)
_SERVICE_LINK_PORT = re.compile(r"(?:tcp|udp|sctp)://", re.IGNORECASE)


def check_environment(environ: Mapping[str, str], known: set[str]) -> None:
    """Refuse ``WATCHER_*`` variables that are no setting, naming the closest one.

    An error, not a warning: a misspelt variable is a setting silently left at its default,
    and some defaults fail quietly (``WATCHER_SLACK_CHANEL`` leaves alerts in the outbox,
    ``WATCHER_API_TOKN`` leaves the API open). Start-up is where an operator looks; a warning
    scrolls away in the daemon's log. The names are compared in upper case, as the settings
    read them whatever their case.
    """
    unknown: list[str] = []
    for variable in sorted(environ):
        upper = variable.upper()
        if not upper.startswith(ENV_PREFIX) or upper.removeprefix(ENV_PREFIX) in known:
            continue
        if upper.startswith(_TEST_PREFIX) or _is_service_link(upper, environ[variable]):
            continue
        guess = difflib.get_close_matches(upper.removeprefix(ENV_PREFIX), known, n=1)
        hint = f"did you mean {ENV_PREFIX}{guess[0]}?" if guess else "unset it"
        unknown.append(f"{variable} is not a watcher setting: {hint}")
    if unknown:
        raise ConfigError("; ".join(unknown))


def _is_service_link(upper: str, value: str) -> bool:
    if upper == ENV_PREFIX + "PORT":
        return _SERVICE_LINK_PORT.match(value) is not None
    return _SERVICE_LINK.fullmatch(upper) is not None
