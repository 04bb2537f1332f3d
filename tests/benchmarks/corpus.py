"""A synthetic index and catalog shaped like real ones, with planted look-alikes of every kind.

Deterministic for a given seed. Public names are one to four words from a vocabulary of
common package words and pronounceable made-up words, joined by ``-``, ``_``, ``.`` or
nothing, sometimes capitalized, sometimes with a digit: the spellings the index holds.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from packaging.utils import canonicalize_name

from watcher.matching import rules

COMMON = [
    "py",
    "python",
    "django",
    "flask",
    "fastapi",
    "api",
    "client",
    "sdk",
    "lib",
    "utils",
    "tools",
    "core",
    "data",
    "ml",
    "ai",
    "aws",
    "azure",
    "gcp",
    "cloud",
    "http",
    "json",
    "yaml",
    "xml",
    "test",
    "tests",
    "pytest",
    "plugin",
    "cli",
    "async",
    "db",
    "sql",
    "redis",
    "kafka",
    "auth",
    "jwt",
    "oauth",
    "web",
    "app",
    "server",
    "service",
    "model",
    "models",
    "stream",
    "graph",
    "image",
    "text",
    "nlp",
    "vision",
    "torch",
    "tensor",
    "numpy",
    "pandas",
    "plot",
    "chart",
    "log",
    "logger",
    "config",
    "env",
    "docker",
    "k8s",
    "helm",
    "git",
    "github",
    "bot",
    "telegram",
    "discord",
    "slack",
    "openai",
    "llm",
    "agent",
    "vector",
    "search",
    "cache",
    "queue",
    "task",
    "job",
    "worker",
]
_ONSETS = [
    "b",
    "c",
    "d",
    "f",
    "g",
    "h",
    "j",
    "k",
    "l",
    "m",
    "n",
    "p",
    "r",
    "s",
    "t",
    "v",
    "w",
    "z",
    "br",
    "cr",
    "dr",
    "fr",
    "gr",
    "kr",
    "pr",
    "tr",
    "st",
    "sp",
    "sk",
    "pl",
    "bl",
    "cl",
    "gl",
]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "ou", "io"]
_CODAS = ["", "", "n", "r", "s", "t", "x", "m", "l", "nd", "rk", "st", "ng"]


def _word(rng: random.Random) -> str:
    return "".join(
        rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS)
        for _ in range(rng.choice((1, 2, 2, 3)))
    )


def _spell(rng: random.Random, words: list[str]) -> str:
    sep = rng.choices(("-", "_", ".", ""), weights=(60, 25, 5, 10))[0]
    name = sep.join(words)
    if rng.random() < 0.15:
        name = name.title() if sep else name.capitalize()
    if rng.random() < 0.05:
        name += str(rng.randint(2, 9))
    return name


@dataclass
class Corpus:
    """Public names (display spellings), the catalog, and what was planted."""

    public: list[str]
    names: list[str]
    prefixes: list[str]
    # (public display name, internal canonical name or prefix, expected kind)
    planted: list[tuple[str, str, str]] = field(default_factory=list)

    def catalog_toml(self) -> str:
        """The catalog as a TOML file."""
        quote = ", ".join
        return (
            f"names = [{quote(repr(n).replace(chr(39), chr(34)) for n in self.names)}]\n"
            f"prefixes = [{quote(repr(p).replace(chr(39), chr(34)) for p in self.prefixes)}]\n"
        )


def _edit(rng: random.Random, name: str) -> str:
    """One typo a tired engineer makes, outside the confusable and look-alike classes."""
    plain = "abefghjkptxyz"  # none of l/i/o/0/1 nor a letter of a look-alike pair
    while True:
        i = rng.randrange(1, len(name) - 1)
        op = rng.choice(("insert", "delete", "substitute", "swap"))
        if op == "insert":
            out = name[:i] + rng.choice(plain) + name[i:]
        elif op == "delete":
            out = name[:i] + name[i + 1 :]
        elif op == "substitute":
            out = name[:i] + rng.choice(plain) + name[i + 1 :]
        else:
            out = name[:i] + name[i + 1] + name[i] + name[i + 2 :]
        if "--" in out or out.startswith("-") or out.endswith("-"):
            continue
        ultra = rules.ultra_key(out)
        if ultra == rules.ultra_key(name):
            continue  # separator moved, or a confusable: another kind
        if rules.skeleton_key(ultra) == rules.skeleton_key(rules.ultra_key(name)):
            continue
        return out


_PLANTERS: dict[str, Callable[[random.Random, str], str]] = {
    "exact": lambda rng, n: n.replace("-", rng.choice("_.")).upper(),
    "separator": lambda rng, n: n.replace("-", ""),
    "reorder": lambda rng, n: "-".join(reversed(n.split("-"))),  # palindromes skipped below
    "affix": lambda rng, n: rng.choice(("python-{}", "{}-py", "py-{}", "{}-client")).format(n),
}


def build(
    public_count: int = 1_000_000,
    internal_count: int = 10_000,
    prefix_count: int = 20,
    planted_per_kind: int = 25,
    seed: int = 2026,
) -> Corpus:
    """A corpus of ``public_count`` public names against the catalog it generates."""
    rng = random.Random(seed)
    vocabulary = list(COMMON) + sorted({_word(rng) for _ in range(30_000)})
    # Roots long enough for every prefix rule (one edit of a shorter root is not looked for).
    roots = (_word(rng) for _ in range(prefix_count * 4))
    prefixes = sorted({w for w in roots if len(w) >= rules.MIN_TYPO_ROOT})
    prefixes = [p for p in prefixes if "m" in p or "d" in p or "w" in p][:prefix_count]
    names: set[str] = set()
    while len(names) < internal_count:
        words = [rng.choice(vocabulary) for _ in range(rng.choice((1, 2, 2, 3)))]
        if rng.random() < 0.7:
            words.insert(0, rng.choice(prefixes))
        name = "-".join(words)
        if len(name) >= 7:
            names.add(name)
    internal = sorted(names)

    seen: set[str] = set(internal)
    public: list[str] = []
    while len(public) < public_count:
        words = [rng.choice(vocabulary) for _ in range(rng.choice((1, 1, 2, 2, 2, 3, 4)))]
        display = _spell(rng, words)
        canon = canonicalize_name(display)
        if canon not in seen:
            seen.add(canon)
            public.append(display)

    corpus = Corpus(public=public, names=internal, prefixes=prefixes)
    _plant(rng, corpus, planted_per_kind)
    return corpus


def _plant(rng: random.Random, corpus: Corpus, per_kind: int) -> None:
    multi = [n for n in corpus.names if n.count("-") >= 1]
    planted: list[tuple[str, str, str]] = []
    for kind, make in _PLANTERS.items():
        for name in rng.sample(multi, per_kind):
            planted.append((make(rng, name), name, kind))
    for name in rng.sample([n for n in corpus.names if any(c in n for c in "loi")], per_kind):
        swap = {"l": "1", "o": "0", "i": "l"}
        i = next(k for k, ch in enumerate(name) if ch in swap)
        planted.append((name[:i] + swap[name[i]] + name[i + 1 :], name, "confusable"))
    look = {"m": "rn", "w": "vv", "d": "cl"}
    for name in rng.sample([n for n in corpus.names if any(c in n for c in look)], per_kind):
        i = next(k for k, ch in enumerate(name) if ch in look)
        planted.append((name[:i] + look[name[i]] + name[i + 1 :], name, "lookalike"))
    for name in rng.sample(corpus.names, per_kind):
        planted.append((_edit(rng, name), name, "typo"))
    for root in corpus.prefixes:
        word = rng.choice(COMMON)
        planted.append((f"{root}-{word}", root, "prefix"))
        planted.append((f"{root}{word}", root, "prefix_separator"))
        planted.append((f"python-{root}-{word}", root, "prefix_affix"))
        planted.append((f"{root[0]}{root[2:]}-{word}", root, "prefix_typo"))
        i = next(k for k, ch in enumerate(root) if ch in look)
        planted.append(
            (f"{root[:i]}{look[root[i]]}{root[i + 1 :]}-{word}", root, "prefix_lookalike")
        )
    taken = {canonicalize_name(p) for p in corpus.public}
    for display, target, kind in planted:
        canon = canonicalize_name(display)
        if canon in taken or (kind == "reorder" and canon == target):
            continue
        taken.add(canon)
        corpus.public.append(display)
        corpus.planted.append((display, target, kind))
    rng.shuffle(corpus.public)
