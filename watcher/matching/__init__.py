"""Matching public names against the catalog: pure functions, no I/O."""

from watcher.matching.engine import Matcher, NamespaceMatcher, build_matcher
from watcher.matching.model import KIND_SEVERITY, Match, MatchKind, Risk, assess_risk

__all__ = [
    "KIND_SEVERITY",
    "Match",
    "MatchKind",
    "Matcher",
    "NamespaceMatcher",
    "Risk",
    "assess_risk",
    "build_matcher",
]
