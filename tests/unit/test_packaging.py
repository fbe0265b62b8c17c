"""pyproject's packages: setuptools finds every directory that ships files (none is listed by hand, so a
new room or module cannot be missed), and the report template's files are declared as its data."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from setuptools import find_namespace_packages

ROOT = Path(__file__).resolve().parents[2]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def _found() -> dict[str, Path]:
    """Package name -> directory, as ``[tool.setuptools.packages.find]`` finds them."""
    find = CONFIG["packages"]["find"]
    return {
        name: ROOT / where / name.replace(".", "/")
        for where in find["where"]
        for name in find_namespace_packages(ROOT / where, include=find["include"])
    }


def test_every_directory_with_shipped_files_is_a_found_package():
    found = _found()
    roots = {name: path for name, path in found.items() if "." not in name}
    assert set(roots) == {"pik", "pik_nb", "pik_local", "pik_cli", "pik_api"}
    assert roots["pik"] == ROOT / "lambdas" / "pik"
    shipped = {
        ".".join((name, *directory.relative_to(root).parts))
        for name, root in roots.items()
        for directory in [root, *root.rglob("*")]
        if directory.is_dir()
        and "__pycache__" not in directory.parts
        and any(f.is_file() and f.suffix != ".pyc" for f in directory.iterdir())
    }
    assert shipped - set(found) == set()
    assert {"pik_nb.read", "pik_nb.sql", "pik_nb.notebook.templates.pik_report"} <= set(found)


def test_the_report_template_ships_as_package_data():
    assert CONFIG["package-data"]["pik_nb.notebook.templates.pik_report"] == ["*.json", "*.j2"]
    assert sorted(p.name for p in (ROOT / "pik_nb/notebook/templates/pik_report").iterdir()) == [
        "conf.json",
        "index.html.j2",
    ]


def test_extras_split_what_each_part_needs_and_dev_installs_everything():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {
        extra: {re.split(r"[<>=\[ ]", spec)[0] for spec in specs}
        for extra, specs in project["optional-dependencies"].items()
    }
    base = {re.split(r"[<>=\[ ]", spec)[0] for spec in project["dependencies"]}
    assert {"pandas", "pyarrow", "duckdb", "matplotlib", "ipywidgets", "jupyterlab", "papermill"} <= names["nb"]
    assert names["local"] == {"moto"} and not base & {"pandas", "pyarrow", "moto", "duckdb", "matplotlib"}
    assert "pik[nb,local]" in project["optional-dependencies"]["dev"]  # make install: -e '.[dev]'
    assert "'.[dev]'" in (ROOT / "Makefile").read_text()


def test_moto_is_capped_to_the_minor_version_its_patches_were_written_for():
    """pik_local/moto_patches reach into moto's private code: a new minor is taken on purpose."""
    from importlib.metadata import version

    spec = next(
        s
        for s in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["local"]
        if s.startswith("moto")
    )
    cap = re.search(r"<(\d+)\.(\d+)", spec)
    assert cap, spec
    written_for = re.search(
        r"written\s+for moto (\d+)\.(\d+)", (ROOT / "pik_local/moto_patches/__init__.py").read_text()
    )
    assert (int(cap[1]), int(cap[2]) - 1) == (int(written_for[1]), int(written_for[2]))
    assert tuple(int(part) for part in version("moto").split(".")[:2]) == (int(written_for[1]), int(written_for[2]))
