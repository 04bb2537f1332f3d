"""The journal calls of the index's XML-RPC interface (``POST /pypi``).

Only ``changelog_last_serial`` and ``changelog_since_serial`` are served; any
other method gets the index's "method not found" fault.
"""

from __future__ import annotations

import xmlrpc.client
from collections.abc import Sequence
from typing import Any

from watcher.simulator.model import JournalRow

__all__ = ["JOURNAL_PAGE", "BadCall", "answer_call", "parse_call", "rate_limit_fault"]

JOURNAL_PAGE = 50_000
"""Rows per ``changelog_since_serial`` answer, as on the index."""

_RATE_LIMIT_FAULT = -32500
_METHOD_NOT_FOUND = -32601


class BadCall(ValueError):
    """The request body is not an XML-RPC method call."""


def parse_call(body: bytes) -> tuple[str, tuple[Any, ...]]:
    """The method name and parameters of an XML-RPC call; raises BadCall."""
    try:
        params, method = xmlrpc.client.loads(body)
    except Exception as exc:  # any unparsable call is a client error
        raise BadCall(str(exc)) from exc
    return str(method), params


def answer_call(
    method: str,
    params: tuple[Any, ...],
    *,
    serial: int,
    journal: Sequence[JournalRow],
    page: int,
) -> bytes:
    """The ``methodResponse`` body for one journal call (a fault for anything else)."""
    result: Any
    if method == "changelog_last_serial" and not params:
        result = serial
    elif method == "changelog_since_serial" and len(params) == 1 and isinstance(params[0], int):
        since = params[0]
        rows = [list(row) for row in journal if row[4] > since]
        result = rows[:page]
    else:
        fault = xmlrpc.client.Fault(_METHOD_NOT_FOUND, f"requested method not found: {method}")
        return xmlrpc.client.dumps(fault, methodresponse=True).encode()
    return xmlrpc.client.dumps((result,), methodresponse=True, allow_none=True).encode()


def rate_limit_fault() -> bytes:
    """The fault the index answers a client that calls too often."""
    fault = xmlrpc.client.Fault(
        _RATE_LIMIT_FAULT,
        "HTTPTooManyRequests: The action could not be performed because there were "
        "too many requests by the client. Limit may reset in 1 seconds.",
    )
    return xmlrpc.client.dumps(fault, methodresponse=True).encode()
