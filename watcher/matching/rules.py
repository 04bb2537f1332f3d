"""The look-alike rules as key functions and explanations. Pure, no I/O.

Every rule except ``typo`` is an equivalence: two canonical names collide when a key
function gives them the same key. That is what lets both directions use hash indexes
instead of comparing all pairs. ``typo`` (one edit) is found by pigeonhole candidates
(see :mod:`watcher.matching.engine`) and confirmed with an edit-distance check.

Every function here takes PEP 503 canonical names (lower case, ``-`` as the only separator).
"""

from __future__ import annotations

from collections.abc import Sequence

from rapidfuzz.distance import OSA

# Names (and prefix roots) this short only match ``exact`` and ``confusable``: one edit of a
# four-letter name hits thousands of unrelated real projects.
MIN_FUZZY_LENGTH = 5
MIN_FUZZY_ROOT = 4
# One edit of a root is looked for from this length: one edit of a 4- or 5-letter root (`pins`:
# `pint`, `pies`, `ping-rs`) is mostly other words (bench_quality's prefix-typo table).
MIN_TYPO_ROOT = 6

# The index's own "ultra-normalization": one registered name blocks its whole class.
ULTRA_TABLE = str.maketrans({"-": None, "l": "1", "i": "1", "o": "0"})

# Read-alike characters and sequences, applied on top of the ultra form (where l/i are
# already "1" and o is "0"). Single characters first, then multi-character sequences.
_LOOKALIKE_CHARS = str.maketrans({"5": "s", "2": "z", "8": "b", "9": "g", "q": "g", "u": "v"})
_LOOKALIKE_SEQS: tuple[tuple[str, str], ...] = (("rn", "m"), ("vv", "w"), ("c1", "d"))
# The same pairs as people read them, for explanations ("'rn' reads as 'm'").
LOOKALIKE_PAIRS: tuple[tuple[str, str], ...] = (
    ("rn", "m"),
    ("vv", "w"),
    ("cl", "d"),
    ("5", "s"),
    ("2", "z"),
    ("8", "b"),
    ("9", "g"),
    ("q", "g"),
    ("u", "v"),
    ("1", "l"),
    ("1", "i"),
    ("l", "i"),
    ("0", "o"),
)

# Words that squatters put around a real name (`python-acme-billing`, `acme-billing-py`).
AFFIXES = frozenset(
    {
        "py", "py3", "python", "python3", "lib", "sdk", "api", "client", "core", "cli",
        "utils", "util", "tools", "pkg", "official",
    }
)  # fmt: skip

_KEYBOARD_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm")


def _keyboard_neighbours() -> dict[str, frozenset[str]]:
    position = {ch: (r, c) for r, row in enumerate(_KEYBOARD_ROWS) for c, ch in enumerate(row)}
    near: dict[str, set[str]] = {ch: set() for ch in position}
    for ch, (r, c) in position.items():
        for other, (r2, c2) in position.items():
            if other != ch and abs(r - r2) <= 1 and abs(c - c2) <= 1:
                near[ch].add(other)
    return {ch: frozenset(v) for ch, v in near.items()}


KEYBOARD_NEIGHBOURS = _keyboard_neighbours()


def separator_key(name: str) -> str:
    """The name with its separators dropped: ``acme-billing`` -> ``acmebilling``."""
    return name.replace("-", "")


def ultra_key(name: str) -> str:
    """The index's ultra-normalized form: separators dropped, ``l``/``i`` -> 1, ``o`` -> 0."""
    return name.translate(ULTRA_TABLE)


def skeleton_key(ultra: str) -> str:
    """What a name looks like: the ultra form with read-alike characters folded together."""
    skeleton = ultra.translate(_LOOKALIKE_CHARS)
    for seq, repl in _LOOKALIKE_SEQS:
        if seq in skeleton:
            skeleton = skeleton.replace(seq, repl)
    return skeleton


# ultra_key then skeleton_key in one pass: the single-character maps compose (ultra only
# produces "1" and "0", which the look-alike map leaves alone).
_SKELETON_TABLE = str.maketrans(
    {"-": None, "l": "1", "i": "1", "o": "0", "5": "s", "2": "z", "8": "b", "9": "g",
     "q": "g", "u": "v"}
)  # fmt: skip
SKELETON_TABLE = _SKELETON_TABLE
SKELETON_SEQS = _LOOKALIKE_SEQS


def _preimages() -> dict[str, tuple[str, ...]]:
    """For each skeleton character, the one- and two-character spellings that produce it."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    found: dict[str, set[str]] = {}
    for text in [*alphabet, *(a + b for a in alphabet for b in alphabet)]:
        skeleton = skeleton_key(ultra_key(text))
        if len(skeleton) == 1:
            found.setdefault(skeleton, set()).add(text)
    return {ch: tuple(sorted(texts)) for ch, texts in found.items()}


def skeleton_variants(word: str, limit: int = 20_000) -> set[str] | None:
    """Every separator-free spelling whose skeleton equals ``word``'s; ``None`` if more than
    ``limit`` (the caller then has to compute skeletons instead)."""
    target = skeleton_key(ultra_key(word))
    preimages = _PREIMAGES
    spellings = [""]
    for ch in target:
        spellings = [s + alt for s in spellings for alt in preimages.get(ch, (ch,))]
        if len(spellings) > limit:
            return None
    return {s for s in spellings if skeleton_key(ultra_key(s)) == target}


_PREIMAGES = _preimages()


def reorder_key(words: Sequence[str]) -> str:
    """The name's words in sorted order (names of two or more words)."""
    return "-".join(sorted(words))


def affix_core(words: Sequence[str]) -> list[str]:
    """The words left once affix words are stripped from both ends."""
    start, end = 0, len(words)
    while start < end and words[start] in AFFIXES:
        start += 1
    while end > start and words[end - 1] in AFFIXES:
        end -= 1
    return list(words[start:end])


def affix_contains(a: Sequence[str], b: Sequence[str]) -> bool:
    """True if one word list holds the other as a run (affixes only added or removed)."""
    longer, shorter = (list(a), list(b)) if len(a) >= len(b) else (list(b), list(a))
    m = len(shorter)
    return any(longer[i : i + m] == shorter for i in range(len(longer) - m + 1))


def dropped_letter_words(name: str) -> list[str]:
    """``name`` with one inner one-letter word deleted (``tool-a-kit`` -> ``tool-kit``)."""
    words = name.split("-")
    return [
        "-".join(words[:i] + words[i + 1 :]) for i in range(1, len(words) - 1) if len(words[i]) == 1
    ]


def is_one_edit(a: str, b: str) -> bool:
    """True if ``a`` and ``b`` differ by exactly one insertion, deletion, substitution or
    adjacent transposition (optimal string alignment distance 1)."""
    return a != b and abs(len(a) - len(b)) <= 1 and OSA.distance(a, b, score_cutoff=1) == 1


def is_adjacent_swap(a: str, b: str) -> bool:
    """True if ``a`` is ``b`` with exactly two adjacent characters swapped."""
    if len(a) != len(b) or a == b:
        return False
    _start, got, want = _diff(a, b)
    return len(got) == 2 and got == want[::-1]


# --- explanations (only computed for actual matches) -------------------------------------


def _diff(a: str, b: str) -> tuple[int, str, str]:
    """Common prefix length and the differing middles of ``a`` and ``b``."""
    start = 0
    limit = min(len(a), len(b))
    while start < limit and a[start] == b[start]:
        start += 1
    end = 0
    while end < limit - start and a[-1 - end] == b[-1 - end]:
        end += 1
    return start, a[start : len(a) - end], b[start : len(b) - end]


def explain_typo(public: str, internal: str) -> str:
    """Say which single edit turns ``internal`` into ``public`` (1-based positions)."""
    start, got, want = _diff(public, internal)
    pos = start + 1
    if len(public) + 2 == len(internal) and not got and len(want) == 2 and "-" in want:
        letter = want.replace("-", "")
        return f"dropped the one-letter word {letter!r} at position {pos}"
    if len(public) == len(internal) + 1:
        ch = public[start]
        neighbours = public[start - 1 : start] + public[start + 1 : start + 2]
        if ch in neighbours:
            return f"doubled {ch!r} at position {pos}"
        return f"inserted {ch!r} at position {pos}"
    if len(public) + 1 == len(internal):
        ch = internal[start]
        neighbours = internal[start - 1 : start] + internal[start + 1 : start + 2]
        if ch in neighbours:
            return f"dropped one {ch!r} of a double at position {pos}"
        return f"dropped {ch!r} at position {pos}"
    if len(got) == 2 and got == want[::-1]:
        return f"swapped {want[0]!r} and {want[1]!r} at position {pos}"
    if len(got) == 1 and len(want) == 1:
        if got in KEYBOARD_NEIGHBOURS.get(want, frozenset()):
            return f"{got!r} for {want!r} at position {pos} (keyboard neighbours)"
        return f"{got!r} for {want!r} at position {pos}"
    return f"one edit away ({got!r} for {want!r} at position {pos})"


def explain_lookalike(public: str, internal: str) -> str:
    """Say which read-alike sequence differs (``'rn' reads as 'm'``)."""
    _, got, want = _diff(separator_key(public), separator_key(internal))
    for a, b in LOOKALIKE_PAIRS:
        if (a in got and b in want) or (b in got and a in want):
            seen, real = (a, b) if a in got else (b, a)
            return f"{seen!r} reads as {real!r}"
    return f"{got!r} reads as {want!r}"


def explain_confusable(public: str, internal: str) -> str:
    """Say why the index itself considers the two names the same."""
    _, got, want = _diff(separator_key(public), separator_key(internal))
    if got or want:
        return (
            f"{got!r} for {want!r}: same name once separators are dropped and "
            "l/i/1 and o/0 are read alike (the index would refuse it next to ours)"
        )
    return "same name once separators are dropped (the index would refuse it next to ours)"


def explain_separator(public: str, internal: str) -> str:
    """Say how the separators differ."""
    have, want = public.count("-"), internal.count("-")
    if have < want:
        return "separators removed between words"
    if have > want:
        return "separators added between words"
    return "separators moved between words"


def explain_affix(public_words: Sequence[str], internal_words: Sequence[str]) -> str:
    """Say which affix words were added or removed at which end."""
    for verb, longer, shorter in (
        ("added", public_words, internal_words),
        ("removed", internal_words, public_words),
    ):
        n, m = len(longer), len(shorter)
        for i in range(n - m + 1):
            if list(longer[i : i + m]) == list(shorter):
                parts = []
                if i:
                    parts.append(f"{verb} {'-'.join(longer[:i]) + '-'!r} in front")
                if i + m < n:
                    parts.append(f"{verb} {'-' + '-'.join(longer[i + m :])!r} at the end")
                return " and ".join(parts)
    return "same name once affix words (py, python, lib, sdk, api, client, ...) are ignored"


def explain_affix_swap(public_words: Sequence[str], internal_words: Sequence[str]) -> str:
    """Say which affix words replace which (``'cli' instead of 'core'``)."""
    ours = [w for w in internal_words if w in AFFIXES and w not in public_words]
    theirs = [w for w in public_words if w in AFFIXES and w not in internal_words]
    if ours and theirs:
        return f"affix {'-'.join(theirs)!r} instead of {'-'.join(ours)!r}"
    return "same name once affix words (py, python, lib, sdk, api, client, ...) are ignored"


_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def one_edit_variants(word: str) -> set[str]:
    """Every string one insertion, deletion, substitution or adjacent swap away (a-z0-9)."""
    out: set[str] = set()
    for i in range(len(word) + 1):
        for ch in _ALPHABET:
            out.add(word[:i] + ch + word[i:])
    for i in range(len(word)):
        out.add(word[:i] + word[i + 1 :])
        for ch in _ALPHABET:
            out.add(word[:i] + ch + word[i + 1 :])
        if i + 1 < len(word):
            out.add(word[:i] + word[i + 1] + word[i] + word[i + 2 :])
    out.discard(word)
    return out
