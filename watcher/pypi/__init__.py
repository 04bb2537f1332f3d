"""The only code that knows the index's URLs and formats."""

from watcher.pypi.client import IndexClient, open_index_client
from watcher.pypi.models import FeedItem, FeedKind, FeedPage, ProjectInfo, ReleaseInfo
from watcher.pypi.simple import IndexListing

__all__ = [
    "FeedItem",
    "FeedKind",
    "FeedPage",
    "IndexClient",
    "IndexListing",
    "ProjectInfo",
    "ReleaseInfo",
    "open_index_client",
]
