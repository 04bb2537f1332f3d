"""Secrets kept out of everything we log, store or show: one helper for every URL and text.

URLs may carry credentials (a private mirror's ``https://user:password@host/``), and an
exception's message may repeat such a URL, a Slack token or the API token. Every URL we log
or show goes through :func:`redact_url`; every other text that may repeat one (an error
message stored in the database or shown by ``/healthz``) through :func:`redact`; and the log
handler redacts each record again (:class:`RedactingFilter`), a safety net for what a
library logs on its own.

Kept free of heavy imports: the logging set-up uses it before the service's modules load.
"""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import unquote, urlsplit, urlunsplit

__all__ = [
    "MASK",
    "RedactingFilter",
    "redact",
    "redact_url",
    "register_secret",
    "split_credentials",
]

MASK = "***"

# "scheme://anything-without-slash-or-space@": the userinfo part of any URL in a text.
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@?#]+@")
# Slack tokens (bot, user, app, config, refresh) have a recognisable shape: redact them even
# when nobody registered them (a token pasted into a URL or an error message).
_SLACK_TOKEN = re.compile(r"\bxox[abeoprs]-[0-9A-Za-z-]{6,}|\bxapp-[0-9A-Za-z-]{6,}")
# Shorter values would mask ordinary words in every log line ("a", "on").
_MIN_SECRET = 4

_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Redact ``value`` (a token, a password) wherever it appears from now on."""
    if value and len(value) >= _MIN_SECRET:
        with _lock:
            _secrets.add(value)


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """``url`` without its userinfo, and the user name and password it carried (decoded)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None, None
    userinfo, _, host = parts.netloc.rpartition("@")
    user, sep, password = userinfo.partition(":")
    bare = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return bare, unquote(user), unquote(password) if sep else None


def redact_url(url: str) -> str:
    """``url`` with its user name and password (if any) masked: ``https://***@host/``."""
    bare, user, password = split_credentials(url)
    if user is None and password is None:
        return url
    scheme, _, rest = bare.partition("://")
    return f"{scheme}://{MASK}@{rest}"


def redact(text: str) -> str:
    """``text`` with URL credentials, Slack tokens and every registered secret masked."""
    text = _URL_USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", text)
    text = _SLACK_TOKEN.sub(MASK, text)
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)  # longest first: no partial leftovers
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class RedactingFilter(logging.Filter):
    """Redacts each record's message and traceback (installed on the log handler)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a wrong format string: logging reports it itself
            # Left as it is: the handler's own error handling reports the bad call, as it
            # would without this filter, instead of the log call raising into its caller.
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
