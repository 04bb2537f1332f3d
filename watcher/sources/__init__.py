"""Sources: every way the service learns about public projects, each turned into events.

``feeds`` (the RSS feeds), ``listing`` (the whole simple index), ``journal`` (the opt-in
change log) and ``catalog`` (what a catalog entry finds when it is new). A source never
calls another source; what it saw goes to the pipeline as index events.
"""

from watcher.sources.catalog import CatalogSource
from watcher.sources.feeds import FeedSource
from watcher.sources.journal import JournalSource
from watcher.sources.listing import ListingSource

__all__ = ["CatalogSource", "FeedSource", "JournalSource", "ListingSource"]
