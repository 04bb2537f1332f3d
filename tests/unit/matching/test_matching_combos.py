"""The rules of issue 13: aliases, two edits, combinations, short names, combosquats,
affix swaps, and the score that orders matches and sets their severity."""

from __future__ import annotations

import pytest
from packaging.utils import NormalizedName, canonicalize_name

from watcher.catalog import Catalog
from watcher.catalog.files import parse_catalog
from watcher.errors import CatalogError
from watcher.matching import MatchKind, Risk
from watcher.matching.engine import CatalogMatcher

K = MatchKind

NAMES = [
    "kubernetes",
    "beautifulsoup4",
    "pymysql",
    "torch",
    "cryptography",
    "pip-tools",
    "requests",
    "selenium",
    "tqdm",
    "web3",
    "kafka-core",
    "typing-extensions",
    "telegram-lib",
    "payments-core",
    "config-cli",
    "pytest",
]


def make(
    names: list[str] = NAMES, aliases: dict[str, tuple[str, ...]] | None = None
) -> CatalogMatcher:
    return CatalogMatcher(
        Catalog(
            names={canonicalize_name(n): n for n in names},
            aliases={
                canonicalize_name(k): tuple(NormalizedName(a) for a in v)
                for k, v in (aliases or {}).items()
            },
        )
    )


MATCHER = make(aliases={"torch": ("pytorch",)})


def hit(public: str, target: str) -> tuple[MatchKind, str, Risk] | None:
    found = [m for m in MATCHER.match(canonicalize_name(public)) if m.internal_name == target]
    assert len(found) <= 1
    return (found[0].kind, found[0].detail, found[0].severity) if found else None


# --- each rule: found, and quiet where it should be ---------------------------------------

FOUND = [
    # two edits of a long name, its start kept
    ("kubrnetse", "kubernetes", K.TWO_TYPOS, "two edits", Risk.LOW),
    # short names: the narrow typos
    ("tqmd", "tqdm", K.SHORT, "swapped 'd' and 'm' at position 3", Risk.MEDIUM),
    ("tqddm", "tqdm", K.SHORT, "doubled 'd' at position 3", Risk.MEDIUM),
    ("wb3", "web3", K.SHORT, "dropped 'e' at position 2", Risk.MEDIUM),
    ("web5", "web3", K.SHORT, "version digit '5' for '3'", Risk.MEDIUM),
    # aliases: generated and declared
    # (`beautifulsoup` itself is one edit of `beautifulsoup4`: a typo, found as such)
    (
        "mysql",
        "pymysql",
        K.ALIAS,
        "the name people type: 'mysql', the name without its 'py'",
        Risk.MEDIUM,
    ),
    (
        "pytorch",
        "torch",
        K.ALIAS,
        "the name people type: 'pytorch', an alias the catalog declares",
        Risk.MEDIUM,
    ),
    ("kubernetes-2", "kubernetes", K.ALIAS, "the name with version digit '2' added", Risk.MEDIUM),
    # two rules at once
    ("pycryptography", "cryptography", K.COMBINED, "'py' glued in front", Risk.MEDIUM),
    (
        "crypt0graphyy",
        "cryptography",
        K.COMBINED,
        "look-alike characters and one edit",
        Risk.MEDIUM,
    ),
    (
        "piptool",
        "pip-tools",
        K.COMBINED,
        "separators removed between words, and dropped 's' at position 8",
        Risk.MEDIUM,
    ),
    (
        "beautifulsoop",
        "beautifulsoup4",
        K.COMBINED,
        "one edit from the name people type: 'beautifulsoup', the name without its version digit",
        Risk.MEDIUM,
    ),
    (
        "python-reqests",
        "requests",
        K.COMBINED,
        "affix words around it, and dropped 'u' at position 4",
        Risk.LOW,
    ),
    # an affix swapped for another; the exact name with other words
    ("kafka-cli", "kafka-core", K.AFFIX_SWAP, "affix 'cli' instead of 'core'", Risk.LOW),
    (
        "typing-extensions-plus",
        "typing-extensions",
        K.COMBOSQUAT,
        "the exact name with 'plus' at the end",
        Risk.LOW,
    ),
]


@pytest.mark.parametrize(("public", "target", "kind", "detail", "risk"), FOUND)
def test_each_new_rule_finds_its_case(
    public: str, target: str, kind: MatchKind, detail: str, risk: Risk
) -> None:
    assert hit(public, target) == (kind, detail, risk)


QUIET = [
    ("kbrnetse", "kubernetes"),  # two edits that change the start
    ("slenimu", "selenium"),  # three edits
    ("telegram-kit", "telegram-lib"),  # two edits make another word of a short word
    ("payments-core-x", "payments-core"),  # a word added is not a typo
    ("tqdx", "tqdm"),  # a short name's substitution is another word
    ("tqd", "tqdm"),  # nor is dropping its last letter... only when 4 letters remain 3
    ("web", "web3"),  # an alias too short to be a name
    ("test", "pytest"),  # `py` dropped leaves a common word
    ("pylib", "lib"),  # short names take no glued affix
    ("configdb", "config-cli"),  # a multi-letter look-alike fold and an edit: too loose
    ("requests-darwin-lite", "requests"),  # too short a name for combosquats
    ("typing-extensions-py", "typing-extensions"),  # an affix: not a combosquat
    ("x-y-z-typing-extensions", "typing-extensions"),  # three words in front
]


@pytest.mark.parametrize(("public", "target"), QUIET)
def test_each_new_rule_stays_quiet(public: str, target: str) -> None:
    found = hit(public, target)
    kind = found[0] if found else None
    if public == "tqd":
        assert kind is K.SHORT  # tqdm has 4 letters: 3 remain
    elif public == "typing-extensions-py":
        assert kind is K.AFFIX
    else:
        assert found is None


PUBLICS = [case[0] for case in FOUND] + [case[0] for case in QUIET]


def test_affix_added_stays_an_affix() -> None:
    assert hit("kafka-core-cli", "kafka-core") == (K.AFFIX, "added '-cli' at the end", Risk.MEDIUM)


def test_bulk_scan_finds_what_match_finds() -> None:
    publics = sorted({canonicalize_name(p) for p in PUBLICS})
    one_by_one = sorted(m for p in publics for m in MATCHER.match(NormalizedName(p)))
    assert sorted(MATCHER.match_many(publics)) == one_by_one


# --- the score ----------------------------------------------------------------------------


def test_every_match_has_a_score_between_0_and_1() -> None:
    for public in PUBLICS:
        for m in MATCHER.match(canonicalize_name(public)):
            assert 0.0 < m.score <= 1.0, m


def test_score_orders_by_closeness() -> None:
    matcher = make(["requests", "kubernetes", "acme-billing"])
    exact = matcher.match(canonicalize_name("requests"))[0]
    typo = matcher.match(canonicalize_name("requsts"))[0]
    two = matcher.match(canonicalize_name("requstss"))[0]
    assert exact.score == 1.0
    assert exact.score > typo.score > two.score
    # One edit of a longer name is closer than one edit of a shorter one.
    longer = matcher.match(canonicalize_name("kubernets"))[0]
    assert longer.score > typo.score


def test_matches_are_sorted_by_severity_then_score() -> None:
    matcher = make(["kubernetes-clip", "kubernetes-cl", "kubernetes"])
    matches = matcher.match(canonicalize_name("kubernetes-cli"))
    keys = [(m.severity, m.score) for m in matches]
    assert keys == sorted(keys, reverse=True)
    assert len(matches) == 3


def test_a_weak_score_is_low() -> None:
    # One edit of a 5-letter name is most often another word: found, at low.
    matcher = make(["zebra", "acme-billing"])
    (weak,) = matcher.match(canonicalize_name("zebrs"))
    (strong,) = matcher.match(canonicalize_name("acme-biling"))
    assert (weak.kind, weak.severity) == (K.TYPO, Risk.LOW)
    assert (strong.kind, strong.severity) == (K.TYPO, Risk.MEDIUM)


# --- aliases declared in the catalog file ------------------------------------------------


def test_catalog_file_declares_aliases() -> None:
    raw = (
        b'names = ["torch", "Scikit_Learn"]\n'
        b'[aliases]\ntorch = ["PyTorch"]\nscikit-learn = ["sklearn"]\n'
    )
    catalog = parse_catalog(raw, "catalog.toml")
    assert catalog.aliases == {"torch": ("pytorch",), "scikit-learn": ("sklearn",)}
    matcher = CatalogMatcher(catalog)
    (match,) = matcher.match(canonicalize_name("sklearn"))
    assert (match.internal_name, match.kind) == ("scikit-learn", K.ALIAS)
    (typo,) = matcher.match(canonicalize_name("sklaern"))
    assert (typo.internal_name, typo.kind) == ("scikit-learn", K.SHORT) or typo.kind is K.COMBINED


def test_catalog_file_without_aliases_has_none() -> None:
    assert parse_catalog(b'names = ["torch"]\n', "catalog.toml").aliases == {}


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (
            b'names = ["torch"]\n[aliases]\nnumpy = ["np"]\n',
            "'numpy' is not one of the internal names",
        ),
        (b'names = ["torch"]\n[aliases]\ntorch = "pytorch"\n', "must be a list of strings"),
        (b'names = ["torch"]\n[aliases]\ntorch = ["-bad-"]\n', "aliases: 'torch'"),
        (b'names = ["torch"]\naliases = ["pytorch"]\n', "aliases must be a table"),
    ],
)
def test_catalog_file_rejects_bad_aliases(raw: bytes, problem: str) -> None:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(raw, "catalog.toml")
    assert problem in str(caught.value)
