"""pyproject.toml lists the package's subpackages by hand (so that a wheel can carry the
migrations inside the package): every subpackage with code must be in that list, or a
wheel would install without it."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_subpackage_is_listed_for_the_wheel() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "watcher").rglob("__init__.py")
    }
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"
    assert config["package-dir"]["watcher._migrations"] == "migrations"
    assert (ROOT / "migrations" / "env.py").is_file()
