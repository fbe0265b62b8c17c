"""pyproject's package list: every directory that ships files is a declared package (setuptools warns, and may
drop data, for one that is not), and the report template's files are declared as its data."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_directory_with_shipped_files_is_a_declared_package():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    declared = set(config["packages"])
    shipped = {
        ".".join((name, *directory.relative_to(ROOT / root).parts))
        for name, root in config["package-dir"].items()
        for directory in [ROOT / root, *(ROOT / root).rglob("*")]
        if directory.is_dir() and "__pycache__" not in directory.parts
        and any(f.is_file() and f.suffix != ".pyc" for f in directory.iterdir())
    }
    assert shipped - declared == set()
    assert config["package-data"]["pik_nb.templates.pik_report"] == ["*.json", "*.j2"]
    assert sorted(p.name for p in (ROOT / "pik_nb/templates/pik_report").iterdir()) == ["conf.json", "index.html.j2"]
