"""pyproject's packages: setuptools finds every directory that ships files (none is listed by hand, so a
new room or module cannot be missed), and the report template's files are declared as its data."""

from __future__ import annotations

import tomllib
from pathlib import Path

from setuptools import find_namespace_packages

ROOT = Path(__file__).resolve().parents[2]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def _found() -> dict[str, Path]:
    """Package name -> directory, as ``[tool.setuptools.packages.find]`` finds them."""
    find = CONFIG["packages"]["find"]
    return {name: ROOT / where / name.replace(".", "/") for where in find["where"]
            for name in find_namespace_packages(ROOT / where, include=find["include"])}


def test_every_directory_with_shipped_files_is_a_found_package():
    found = _found()
    roots = {name: path for name, path in found.items() if "." not in name}
    assert set(roots) == {"pik", "pik_nb", "pik_local", "pik_cli", "pik_api"}
    assert roots["pik"] == ROOT / "lambdas" / "pik"
    shipped = {
        ".".join((name, *directory.relative_to(root).parts))
        for name, root in roots.items()
        for directory in [root, *root.rglob("*")]
        if directory.is_dir() and "__pycache__" not in directory.parts
        and any(f.is_file() and f.suffix != ".pyc" for f in directory.iterdir())
    }
    assert shipped - set(found) == set()
    assert {"pik_nb.read", "pik_nb.sql", "pik_nb.notebook.templates.pik_report"} <= set(found)


def test_the_report_template_ships_as_package_data():
    assert CONFIG["package-data"]["pik_nb.notebook.templates.pik_report"] == ["*.json", "*.j2"]
    assert sorted(p.name for p in (ROOT / "pik_nb/notebook/templates/pik_report").iterdir()) == ["conf.json", "index.html.j2"]
