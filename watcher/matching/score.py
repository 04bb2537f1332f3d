"""How close a match is: a score from 0 to 1 that orders findings and sets the floor of
fuzzy kinds' severity (see ``MEDIUM_FLOOR`` in :mod:`watcher.matching.model`).

The score is the similarity of the two names as the rule compared them (rapidfuzz's
normalized optimal-string-alignment similarity for the edit rules: one edit of a 5-letter
name is 0.8, of a 10-letter name 0.9), times a weight saying how much the rule itself
proves (a look-alike is read as the name; a combination of two rules is less sure than
either alone). Kinds that are equivalences score a constant.
"""

from __future__ import annotations

from rapidfuzz.distance import OSA

from watcher.matching import rules
from watcher.matching.model import MatchKind

K = MatchKind

# Equivalences: the names are the same once a rule folds them.
_CONSTANT: dict[MatchKind, float] = {
    K.EXACT: 1.0,
    K.CONFUSABLE: 0.98,
    K.SEPARATOR: 0.97,
    K.LOOKALIKE: 0.96,
    K.REORDER: 0.9,
    K.PREFIX: 0.9,
    K.PREFIX_CONFUSABLE: 0.8,
    K.PREFIX_LOOKALIKE: 0.8,
}
# Rules applied on top of the edit, by how much they prove on their own.
_WEIGHT: dict[MatchKind, float] = {
    K.TYPO: 1.0,
    K.TWO_TYPOS: 1.0,
    K.SHORT: 1.0,
    K.ALIAS: 0.95,
    K.COMBINED: 0.95,
    K.AFFIX: 0.9,
    K.PREFIX_SEPARATOR: 0.7,
    K.PREFIX_TYPO: 0.6,
    K.PREFIX_AFFIX: 0.6,
    K.AFFIX_SWAP: 0.6,
    K.COMBOSQUAT: 0.6,
}


def score(kind: MatchKind, public: str, compared: str, weight: float = 1.0) -> float:
    """The score of a match of ``kind``; ``compared`` is what the rule compared the public
    name with (the internal name, or the alias or affixed form that was hit; for prefix
    kinds the root); ``weight`` scales it (how much that form proves)."""
    constant = _CONSTANT.get(kind)
    if constant is not None:
        return constant
    weight *= _WEIGHT[kind]
    if kind in (K.TYPO, K.TWO_TYPOS, K.SHORT):
        if kind is K.TYPO and _edited_word_length(public, compared) <= _SHORT_WORD:
            # `aws-cli` -> `aas-cli`: one letter of three is another word, not a slip.
            weight *= _SHORT_WORD_WEIGHT
        return round(weight * OSA.normalized_similarity(public, compared), 4)
    glued_public, glued = rules.separator_key(public), rules.separator_key(compared)
    if kind in (K.ALIAS, K.COMBINED):
        if kind is K.COMBINED and _edited_word_length(public, compared, glued=True) <= _SHORT_WORD:
            weight *= _SHORT_WORD_WEIGHT  # `amitools` for `xml-tools`: another short word
        similarity = OSA.normalized_similarity(
            rules.skeleton_key(rules.ultra_key(glued_public)),
            rules.skeleton_key(rules.ultra_key(glued)),
        )
        return round(weight * similarity, 4)
    # Words around the name: the share of the public name that is the name. Words removed
    # leave a more generic name (`auth` for `auth-api`): mostly that generic project.
    share = min(len(glued), len(glued_public)) / max(1, len(glued_public), len(glued))
    if kind is K.AFFIX and len(glued_public) >= len(glued):
        share = 1.0
    return round(weight * share, 4)


# A typo inside a word this short (of a multi-word name) counts for less in the score.
_SHORT_WORD = 3
_SHORT_WORD_WEIGHT = 0.9


def _edited_word_length(public: str, internal: str, *, glued: bool = False) -> int:
    """The length of the word of ``internal`` where ``public`` first differs from it
    (``glued``: compared with separators dropped and look-alike characters folded)."""
    words = internal.split("-")
    if len(words) == 1:
        return len(internal)
    a, b = (_fold(public), _fold(internal)) if glued else (public, internal)
    start = 0
    limit = min(len(a), len(b))
    while start < limit and a[start] == b[start]:
        start += 1
    gap = 0 if glued else 1
    seen = 0
    for word in words:
        if start <= seen + len(word):
            return len(word)
        seen += len(word) + gap
    return len(words[-1])


def _fold(name: str) -> str:
    return name.translate(rules.SKELETON_TABLE)
