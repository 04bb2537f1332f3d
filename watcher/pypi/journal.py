"""The index's XML-RPC journal: request bodies and safe parsing of the answers.

``changelog_since_serial(n)`` returns the index's change log after serial ``n`` as rows
``[display name, version or nil, epoch seconds, action, serial]``, ascending, at most
50,000 per call. XML-RPC is XML: the answer is parsed with DTDs and entities refused, and
every row is checked for shape before anything trusts its serial.
"""

from __future__ import annotations

import re
import reprlib
import xmlrpc.client
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from xml.parsers.expat import ExpatError

from defusedxml import DefusedXmlException
from defusedxml.xmlrpc import DefusedExpatParser

from watcher.errors import BadResponse, JournalRateLimited

RATE_LIMIT_FAULT = -32500
# "... Limit may reset in 42 seconds." is how the index words its rate-limit fault.
_RESET_IN = re.compile(r"reset in (\d+(?:\.\d+)?) seconds?")


@dataclass(frozen=True)
class JournalRow:
    """One row of the index's change log."""

    name: str  # display spelling, as the index shows it
    version: str | None
    timestamp: datetime
    action: str  # "create", "new release", "remove project", "add Owner alice", ...
    serial: int


def call_body(method: str, *params: int) -> bytes:
    """The ``methodCall`` document of an XML-RPC call."""
    return xmlrpc.client.dumps(params, method).encode()


def parse_answer(body: bytes, *, url: str) -> Any:
    """The single value of an XML-RPC ``methodResponse``.

    Raises :class:`JournalRateLimited` on fault -32500 and :class:`BadResponse` on any other
    fault, on forbidden XML (DTD, entities) and on anything that is not a response.
    """
    target = xmlrpc.client.Unmarshaller()
    parser = DefusedExpatParser(target, forbid_dtd=True)
    try:
        parser.feed(body)
        parser.close()
        values = target.close()
    except xmlrpc.client.Fault as fault:
        message = str(fault.faultString)[:300]
        if fault.faultCode == RATE_LIMIT_FAULT:
            found = _RESET_IN.search(message)
            raise JournalRateLimited(url, message, float(found[1]) if found else None) from None
        raise BadResponse(url, f"XML-RPC fault {fault.faultCode}: {message}") from None
    except DefusedXmlException as exc:
        raise BadResponse(url, f"forbidden XML construct ({type(exc).__name__})") from None
    except ExpatError as exc:
        raise BadResponse(url, f"malformed XML: {exc}") from None
    except (xmlrpc.client.ResponseError, ValueError, TypeError, LookupError, AttributeError) as e:
        # The unmarshaller raises these on well-formed XML that is not an XML-RPC answer
        # (unknown tags, a <value> outside <param>, an <int> that is not a number).
        raise BadResponse(url, f"not an XML-RPC answer ({type(e).__name__}: {e})") from None
    if len(values) != 1:
        raise BadResponse(url, f"XML-RPC answer has {len(values)} values, expected 1")
    return values[0]


def parse_rows(value: Any, *, url: str) -> list[JournalRow]:
    """Check and convert ``changelog_since_serial`` rows, sorted by serial.

    A row of the wrong shape refuses the whole answer: its serial could not be trusted, and
    the cursor must not move past a row we could not read.
    """
    if not isinstance(value, list):
        raise BadResponse(url, f"changelog is a {type(value).__name__}, not an array")
    rows = []
    for index, raw in enumerate(value):
        if not (
            isinstance(raw, list)
            and len(raw) == 5
            and isinstance(raw[0], str)
            and (raw[1] is None or isinstance(raw[1], str))
            and _is_int(raw[2])
            and isinstance(raw[3], str)
            and _is_int(raw[4])
        ):
            raise BadResponse(url, f"changelog row {index} is malformed: {reprlib.repr(raw)}")
        try:
            stamp = datetime.fromtimestamp(raw[2], UTC)
        except (OverflowError, OSError, ValueError):
            stamp = datetime.fromtimestamp(0, UTC)  # the time is informative only
        rows.append(JournalRow(raw[0], raw[1] or None, stamp, raw[3], raw[4]))
    rows.sort(key=lambda row: row.serial)
    return rows


def parse_serial(value: Any, *, url: str) -> int:
    """Check the answer of ``changelog_last_serial``."""
    if not _is_int(value) or value < 0:
        raise BadResponse(url, f"changelog_last_serial answered {str(value)[:100]!r}")
    return int(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
