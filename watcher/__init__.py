"""watcher: guards internal Python package names against squatting on the public index."""

__version__ = "0.1.0"
