"""Explanations of matches: one readable reason per kind (the rules of issue 13 give their
own, with the form they hit: see :mod:`watcher.matching.combos`)."""

from __future__ import annotations

from watcher.matching import rules
from watcher.matching.model import MatchKind


def explain(kind: MatchKind, public: str, target: str, display: str | None = None) -> str:
    """A readable reason for one match; ``display`` is the catalog's spelling of ``target``."""
    if kind is MatchKind.EXACT:
        if display and display != target:
            return f"same name as internal {display!r} after PEP 503 normalization"
        return "same name after PEP 503 normalization"
    if kind is MatchKind.SEPARATOR:
        return rules.explain_separator(public, target)
    if kind is MatchKind.CONFUSABLE:
        return rules.explain_confusable(public, target)
    if kind is MatchKind.LOOKALIKE:
        return rules.explain_lookalike(public, target)
    if kind is MatchKind.TYPO:
        return rules.explain_typo(public, target)
    if kind is MatchKind.REORDER:
        return "same words in another order"
    if kind is MatchKind.AFFIX:
        return rules.explain_affix(public.split("-"), target.split("-"))
    if kind is MatchKind.AFFIX_SWAP:
        return rules.explain_affix_swap(public.split("-"), target.split("-"))
    if kind is MatchKind.PREFIX:
        if public == target:
            return "is the namespace root"
        return f"under the internal namespace {target + '-*'!r}"
    head = "-".join(public.split("-")[: target.count("-") + 1])
    if kind is MatchKind.PREFIX_SEPARATOR:
        if rules.separator_key(public) == rules.separator_key(target):
            return f"namespace root {target!r} with its separators changed"
        return f"namespace root {target!r} glued to the next word"
    if kind is MatchKind.PREFIX_CONFUSABLE:
        return f"namespace root {target!r}: " + rules.explain_confusable(head, target)
    if kind is MatchKind.PREFIX_LOOKALIKE:
        return f"namespace root {target!r}: " + rules.explain_lookalike(head, target)
    if kind is MatchKind.PREFIX_TYPO:
        return f"namespace root {target!r}: " + rules.explain_typo(head, target)
    return f"affix words before the namespace root {target!r}"
