"""Matching public names against the catalog: pure functions, no I/O."""

from watcher.matching.engine import CatalogMatcher, Matcher, build_matcher
from watcher.matching.model import KIND_SEVERITY, Match, MatchKind, Risk, assess_risk

__all__ = [
    "KIND_SEVERITY",
    "CatalogMatcher",
    "Match",
    "MatchKind",
    "Matcher",
    "Risk",
    "assess_risk",
    "build_matcher",
]
