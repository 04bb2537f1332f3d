"""The HTTP API (aiohttp web)."""

from watcher.web.app import create_app

__all__ = ["create_app"]
