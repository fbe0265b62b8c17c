"""One public surface: every ``pik_nb``/``pik_api``/``pik_local``/``pik`` name the notebooks and docs import, and
every ``pik.core``/``pik.services`` name the docs' text shows, is declared (in ``__all__`` of the module it comes
from); every old module path still imports, for one release, as the moved module itself with a
``DeprecationWarning`` naming its new place, and so does every name an old module offered."""

from __future__ import annotations

import ast
import hashlib
import hmac
import importlib
import importlib.util
import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import pik_local
import pik_nb

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("pik_nb", "pik_api", "pik_local", "pik")


def _code() -> dict[str, str]:
    """Where -> Python source: each notebook's code cells, each ```python block of the docs."""
    found = {}
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        found[path.name] = "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for number, block in enumerate(re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.DOTALL)):
            found[f"{path.relative_to(ROOT)}#{number}"] = block
    return found


def _imports(source: str) -> set[tuple[str, str]]:
    """``(module, name)`` for each ``from module import name`` of our packages (``name`` "" for ``import m``)."""
    tree = ast.parse("\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))))
    pairs = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in PACKAGES:
            pairs |= {(node.module, alias.name) for alias in node.names}
        elif isinstance(node, ast.Import):
            pairs |= {(alias.name, "") for alias in node.names if alias.name.split(".")[0] in PACKAGES}
    return pairs


def _attributes(source: str) -> set[str]:
    """``replay_widget`` for each ``pik_nb.replay_widget`` the code uses."""
    tree = ast.parse("\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))))
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "pik_nb"
    }


CODE = _code()


def _is_module(dotted: str) -> bool:
    try:
        return importlib.util.find_spec(dotted) is not None
    except ModuleNotFoundError:  # a name inside a module, not a module
        return False


def _shown() -> set[tuple[str, str]]:
    """``(module, name)`` for each ``pik.core.<module>.<name>`` or ``pik.services.<module>.<name>`` the docs'
    text names (``name`` "" for a module), split where the importable module ends."""
    pairs = set()
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for dotted in re.findall(r"\bpik\.(?:core|services)(?:\.[A-Za-z_][A-Za-z0-9_]*)*", path.read_text()):
            parts = dotted.split(".")
            end = max(n for n in range(2, len(parts) + 1) if _is_module(".".join(parts[:n])))
            pairs.add((".".join(parts[:end]), parts[end] if end < len(parts) else ""))
    return pairs


SHOWN = _shown()


def test_the_docs_and_notebooks_are_read():
    used = set().union(*map(_imports, CODE.values()))
    assert {("pik_nb.notebook", "investigate"), ("pik_nb.sql", "analyses"), ("pik_nb", "")} <= used
    assert ("pik_local.stack", "LocalStack") in used
    assert len(CODE) > 30
    assert {("pik.core.replay", "parse_request"), ("pik.services.compact", "Compactor"), ("pik.core", "")} <= SHOWN


@pytest.mark.parametrize("module,name", sorted(SHOWN), ids=lambda part: part or "-")
def test_every_pik_name_the_docs_show_is_declared_public(module, name):
    assert not any(part.startswith("_") for part in module.split(".")), f"{module} is private"
    imported = importlib.import_module(module)  # ``name`` is never a module: _shown splits at the last one
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DeprecationWarning)
        assert not name or hasattr(imported, name), f"the docs show {module}.{name}, which does not exist"
    if caught:  # a retired name the docs say is retired (docs/architecture.md): offered, no longer declared
        assert name not in getattr(imported, "__all__", ()) and "the old name goes" in str(caught[0].message)
    else:
        assert not name or name in getattr(imported, "__all__", ()), f"{module}.{name} is not in {module}.__all__"


@pytest.mark.parametrize("where", sorted(CODE))
def test_everything_the_docs_and_notebooks_import_is_declared_public(where):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # and none of it from an old path
        for module, name in sorted(_imports(CODE[where])):
            imported = importlib.import_module(module)
            assert not any(part.startswith("_") for part in module.split(".")), f"{where}: {module} is private"
            assert not name or name in imported.__all__, f"{where}: {module}.{name} is not in {module}.__all__"
        undeclared = {name for name in _attributes(CODE[where]) if name not in pik_nb.__all__}
        assert undeclared == set(), f"{where}: pik_nb.{undeclared} is not in pik_nb.__all__"


@pytest.mark.parametrize(
    "package",
    [
        pik_nb,
        pik_local,
        *(
            importlib.import_module(f"pik_nb.{room}")
            for room in ("read", "analyses", "investigate", "sql", "replay", "notebook")
        ),
        *(importlib.import_module(module) for module in sorted({module for module, _ in SHOWN})),
        *(importlib.import_module(module) for module in ("pik_api", "pik_local.stack")),
    ],
    ids=lambda package: package.__name__,
)
def test_every_declared_name_exists(package):
    assert [name for name in getattr(package, "__all__", []) if not hasattr(package, name)] == []


# --- old paths ---------------------------------------------------------------------------------------------
MOVED = {**pik_nb.MOVED, **pik_local.MOVED}


def test_the_paths_docs_and_notebooks_taught_are_among_the_moved_ones():
    assert {
        "pik_nb.queries_sql",
        "pik_nb.sql_analyses",
        "pik_nb.health",
        "pik_nb.archive",
        "pik_nb.errors",
        "pik_nb.runner",
        "pik_nb.incident",
        "pik_nb.frames",
        "pik_nb.stack",
        "pik_nb.durations",
        "pik_nb.replay_flow",
        "pik_local.client",
        "pik_local.incident",
    } <= set(MOVED)


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_path_imports_the_moved_module_with_a_warning_naming_the_new_place(old):
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=rf"^{re.escape(old)} moved to {re.escape(MOVED[old])}") as caught:
        module = importlib.import_module(old)
    assert module is importlib.import_module(MOVED[old])
    assert module.__name__ == module.__spec__.name == MOVED[old]  # the module keeps its own identity
    assert caught[0].filename == __file__  # the warning points at the importing line, not at importlib


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_path_as_a_package_attribute_warns_too(old):
    package, _, name = old.rpartition(".")
    sys.modules.pop(old, None)
    vars(importlib.import_module(package)).pop(name, None)  # as before anything imported the old path
    with pytest.warns(DeprecationWarning, match=re.escape(MOVED[old])):
        assert getattr(importlib.import_module(package), name) is importlib.import_module(MOVED[old])


def test_from_imports_of_the_old_paths_give_the_same_objects():
    for old in ("pik_nb.queries_sql", "pik_nb.sql_analyses", "pik_nb.health", "pik_nb.errors"):
        sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning):
        from pik_nb import health, queries_sql, sql_analyses
        from pik_nb.errors import ScopeError
    from pik_nb.analyses import health as new_health
    from pik_nb.sql import analyses, queries

    assert (health, queries_sql, sql_analyses, ScopeError) == (new_health, queries, analyses, pik_nb.ScopeError)


def test_the_old_paths_that_are_rooms_now_keep_working_without_a_warning():
    """``pik_nb.sql`` and ``pik_nb.notebook`` are rooms now: what they offered, they still offer."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        from pik_nb.notebook import counted, finding, investigate  # noqa: F401
        from pik_nb.sql import local_connection, run, sql  # noqa: F401


def test_no_old_path_hides_a_name_of_its_package():
    """``pik_nb.lateness`` is the function: an old module alias of that name would replace it on import."""
    code = (
        "import pik_local, pik_nb\n"
        "print(sorted(old for p in (pik_nb, pik_local) for old in p.MOVED if old.rpartition('.')[2] in vars(p)))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT).stdout
    assert out.strip() == "[]"


def test_each_sql_analysis_is_one_module_and_its_old_names_are_its_objects():
    """Its SQL for both dialects and its result typing in one module; ``queries``/``analyses`` re-export."""
    from pik_nb.sql import analyses, duplicates, gaps, lateness, queries, streams

    assert (queries.lateness, queries.duplicates_per_source, queries.gaps_daily, queries.streams) == (
        lateness.query,
        duplicates.query,
        gaps.query,
        streams.query,
    )
    assert queries.stream_keys is gaps.stream_keys
    assert (analyses.lateness, analyses.duplicates_per_source, analyses.gaps_daily) == (
        lateness.lateness,
        duplicates.duplicates_per_source,
        gaps.gaps_daily,
    )
    for module in (lateness, duplicates, gaps, streams):
        assert module.query.__module__ == module.__name__


# --- old names: what an old module offered that its path no longer defines ---------------------------------
# Found by comparing each old module's top-level names (``git show 5a3cb18^:pik_nb/sql.py``, the commit before
# the rooms, and ``c6a1883^:lambdas/pik/core/targets.py``, before Standard Webhooks) with what its path offers now.
OLD_SQL = (
    "ATHENA_POLL_S",
    "engine_of",
    "connection",
    "register",
    "aggregates_frame",
    "replays_frame",
    "search",
    "athena",
    "athena_request",
    "athena_frame",
)
RENAMED = {  # old module path + name -> where the same object is now
    **{f"pik_nb.sql.{name}": f"pik_nb.sql.engine.{name}" for name in OLD_SQL},
    "pik_nb.durations.humanize_frame": "pik_nb.humanize_frame",
}


def _module(dotted: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # an old module path warns itself (tested above)
        return importlib.import_module(dotted)


@pytest.mark.parametrize("old", sorted(RENAMED))
def test_a_name_an_old_module_offered_is_the_new_one_with_a_warning_naming_it(old):
    path, _, name = old.rpartition(".")
    new_path, _, new_name = RENAMED[old].rpartition(".")
    module, new = _module(path), getattr(_module(new_path), new_name)
    message = rf"\.{name} moved to {re.escape(RENAMED[old])}: import it from there \(the old name goes"
    with pytest.warns(DeprecationWarning, match=message) as caught:
        assert getattr(module, name) is new
    assert caught[0].filename == __file__  # the warning points at the line that asked for the name
    with pytest.warns(DeprecationWarning, match=message):
        namespace: dict = {}
        exec(f"from {module.__name__} import {name}", namespace)  # noqa: S102 - the statement a user wrote
    assert namespace[name] is new
    assert name not in getattr(module, "__all__", ())  # still offered, no longer declared


def test_queries_sql_series_is_what_it_was_from_the_dialects():
    with pytest.warns(DeprecationWarning, match=re.escape("ask pik_nb.sql.dialect.of(engine).series(low, high)")):
        assert _module("pik_nb.queries_sql").SERIES == {"duckdb": "generate_series", "athena": "sequence"}


def test_replay_statuses_is_the_attempt_statuses():
    from pik.core import replay
    from pik.core.records import AttemptStatus

    with pytest.warns(
        DeprecationWarning,
        match=re.escape("pik.core.replay.STATUSES is retired: the statuses are pik.core.records.AttemptStatus"),
    ):
        assert replay.STATUSES == ("ACCEPTED", "DUPLICATE", "CONFLICT", "REJECTED") == tuple(AttemptStatus)


@pytest.mark.parametrize("name", ["verify", "signature", "SIGNATURE_HEADER", "TIMESTAMP_HEADER"])
def test_the_retired_x_pik_signature_names_warn_and_point_at_standard_webhooks(name):
    """docs/api.md taught ``from pik.core.targets import verify`` for the X-Pik-Signature headers, which pik no
    longer sends (c6a1883): HTTP targets are signed per Standard Webhooks. The old names still import and
    still check the old scheme (a receiver's stored requests), and each warns with the way to verify now."""
    from pik.core import targets

    with pytest.warns(DeprecationWarning, match=re.escape("standardwebhooks.Webhook(secret).verify(body, headers)")):
        value = getattr(targets, name)
    old = {"SIGNATURE_HEADER": "X-Pik-Signature", "TIMESTAMP_HEADER": "X-Pik-Timestamp"}
    if name in old:
        assert value == old[name]
    elif name == "signature":
        assert value("s3cret", 1700000000, '{"a":1}')[:11] == "v1=1698a50b"  # its old doctest: the same bytes
    else:
        signed = "v1=" + hmac.new(b"s3cret", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
        assert value("s3cret", "1700000000", '{"a":1}', signed) is True
        assert value("s3cret", "1700000001", '{"a":1}', signed) is False
        assert value("s3cret", "17e8", '{"a":1}', signed) is False


def test_a_name_no_module_offered_is_still_an_attribute_error():
    from pik.core import targets

    with pytest.raises(AttributeError, match="module 'pik.core.targets' has no attribute 'nothing'"):
        targets.nothing  # noqa: B018
    with pytest.raises(ImportError):
        exec("from pik_nb.sql import nothing", {})  # noqa: S102
