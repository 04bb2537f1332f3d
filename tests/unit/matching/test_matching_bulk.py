"""The bulk scan's shortcuts give what the per-name rules give: the vectorized look-alike
folds, the one-edit and two-edit candidate searches, the affixed forms' skeletons; and an
offline scan loads none of the daemon's stack."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.utils import NormalizedName, canonicalize_name
from rapidfuzz.distance import OSA

from tests.support import run_python
from watcher.catalog import Catalog
from watcher.matching import aliases, bulk_keys, combos
from watcher.matching.bulk_hash import Hasher, Pieces, verify
from watcher.matching.engine import CatalogMatcher

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Letters the look-alike folds and the separators act on, and a few others.
FOLD_CHARS = "rnvwc1lidmo0-abe"


def sequential(text: bytes) -> bytes:
    for seq, repl in bulk_keys._SEQS:
        text = text.replace(seq, repl)
    return text


@SETTINGS
@given(st.lists(st.text(alphabet="rnvc1dmw\nab", max_size=30), max_size=5))
def test_vectorized_sequence_folds_equal_replace(parts: list[str]) -> None:
    text = "\n".join(parts).encode()
    assert bulk_keys.fold_sequences(text) == sequential(text)


def test_sequence_folds_in_runs() -> None:
    for text in (b"vvv", b"vvvv", b"vvvvv\nvv", b"rnrn", b"c11", b"rvvn", b"v", b""):
        assert bulk_keys.fold_sequences(text) == sequential(text)


words = st.text(alphabet="abcdeilnorsv", min_size=1, max_size=7)
names = st.lists(words, min_size=1, max_size=3).map("-".join)


@st.composite
def edited(draw: st.DrawFn, name: str, edits: int) -> str:
    """``name`` with up to ``edits`` random single-character edits."""
    out = name
    for _ in range(draw(st.integers(0, edits))):
        i = draw(st.integers(0, len(out)))
        ch = draw(st.sampled_from(FOLD_CHARS))
        how = draw(st.sampled_from(["insert", "delete", "replace", "swap"]))
        if how == "insert":
            out = out[:i] + ch + out[i:]
        elif how == "delete":
            out = out[:i] + out[i + 1 :]
        elif how == "replace":
            out = out[:i] + ch + out[i + 1 :]
        else:
            out = out[:i] + out[i + 1 : i + 2] + out[i : i + 1] + out[i + 2 :]
    return out


@SETTINGS
@given(data=st.data())
def test_one_edit_pieces_find_every_pair_one_edit_apart(data: st.DataObject) -> None:
    strings = sorted(set(data.draw(st.lists(names, min_size=1, max_size=8))))
    raw = [s.encode() for s in strings]
    lines = [data.draw(edited(data.draw(st.sampled_from(strings)), 2)) or "x" for _ in range(8)]
    pieces = Pieces(raw, 2)
    hasher = Hasher("\n".join(lines).encode())
    rows = np.arange(len(lines), dtype=np.int64)
    found = set(verify(pieces.find(hasher, hasher.starts, hasher.ends, rows), hasher, raw, 1))
    brute = {
        i
        for i, line in enumerate(lines)
        if any(len(s) >= 2 and OSA.distance(line, s) <= 1 for s in strings)
    }
    assert found == brute


long_words = st.text(alphabet="abcdeilnorstuv", min_size=3, max_size=9)
long_names = st.lists(long_words, min_size=1, max_size=2).map("-".join)


@SETTINGS
@given(data=st.data())
def test_bulk_edit_rules_equal_one_by_one(data: st.DataObject) -> None:
    # Catalogs of names long enough for every edit rule; public names up to two edits from
    # them (look-alike characters and separators among the edits), with version digits.
    internal = sorted(set(data.draw(st.lists(long_names, min_size=1, max_size=6))))
    publics: list[NormalizedName] = []
    for _ in range(12):
        public = data.draw(edited(data.draw(st.sampled_from(internal)), 2))
        public += data.draw(st.sampled_from(["", "", "2", "-3"]))
        name = canonicalize_name(public.strip("-") or "x")
        if name and not name.startswith("-") and not name.endswith("-"):
            publics.append(name)
    matcher = CatalogMatcher(Catalog(names={NormalizedName(n): n for n in internal}))

    one_by_one = sorted(m for public in set(publics) for m in matcher.match(public))

    assert sorted(matcher.match_many(publics)) == one_by_one


@SETTINGS
@given(st.lists(names, min_size=1, max_size=6))
def test_affixed_forms_skeletons_equal_the_forms_own(internal: list[str]) -> None:
    # The index builds an affixed form's skeleton from the name's; the form's own is the
    # same (no look-alike fold spans the join).
    rules = combos.ComboRules(sorted(set(internal)), {})
    expected: dict[str, list[tuple[str, aliases.Form]]] = {}
    for n in sorted(set(internal)):
        if len(n) < combos.SHORT_MIN_LENGTH:
            continue
        for form in aliases.forms(n):
            if form.rule == "affix" or form.rule == "alias" or len(n) < 5:
                expected.setdefault(combos.skeleton(form.text), []).append((n, form))
    assert rules._by_skeleton == expected


def test_an_offline_scan_loads_no_daemon_stack(tmp_path: Path) -> None:
    (tmp_path / "catalog.toml").write_text('names = ["acme-billing"]\n')
    (tmp_path / "names.txt").write_text("acme-biling\nrequests\n")
    script = (
        "import sys\n"
        "from watcher.cli import main\n"
        "code = main(['scan', '--names', 'names.txt', '--catalog', 'catalog.toml'])\n"
        "heavy = {'aiohttp', 'sqlalchemy', 'slack_sdk', 'apscheduler', 'pydantic'}\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & heavy)\n"
        "import watcher.pypi\n"
        "print(code, loaded, hasattr(watcher.pypi, 'IndexClient'))\n"
    )
    done = run_python("-c", script, cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "0 [] True"
