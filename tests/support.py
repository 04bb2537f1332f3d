"""Small helpers shared by tests (fixtures live in conftest.py)."""

from __future__ import annotations

import socket


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
