"""moto is installed at the minor pik_local's patches were written for (issue 20, item 7): they reach
into moto's private arguments, so a new minor is taken on purpose, by moving the pin and the constant
together after tests/functional/test_moto_queries.py and tests/e2e/test_moto_patch.py pass on it."""

from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path

from packaging.requirements import Requirement

from pik_local.moto_patches import WRITTEN_FOR

ROOT = Path(__file__).resolve().parents[2]


def _moto_requirement() -> Requirement:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    (spec,) = [Requirement(r) for r in extras["local"] if Requirement(r).name == "moto"]
    return spec


def test_the_pin_admits_exactly_the_minor_the_patches_were_written_for():
    allowed = _moto_requirement().specifier
    major, minor = (int(part) for part in WRITTEN_FOR.split("."))
    assert f"{major}.{minor}.0" in allowed and f"{major}.{minor}.99" in allowed
    assert f"{major}.{minor - 1}.99" not in allowed and f"{major}.{minor + 1}.0" not in allowed


def test_the_installed_moto_is_that_minor():
    assert version("moto").startswith(f"{WRITTEN_FOR}."), version("moto")
