"""The internal catalog: which names are ours. Loaded from files (and later private indexes)."""

from watcher.catalog.files import load_catalog_file
from watcher.catalog.model import Catalog

__all__ = ["Catalog", "load_catalog_file"]
