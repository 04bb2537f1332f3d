"""Persistence: models, queries and the one owner of the database engine."""

from watcher.store.session import Database

__all__ = ["Database"]
