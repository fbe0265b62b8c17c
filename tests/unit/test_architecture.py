"""Boundaries that keep the Lambdas small and the core pure, and code in step with the template."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from pik.core import keys, ports
from pik_local import template

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_ROOTS = [ROOT / "lambdas" / "pik", ROOT / "pik_nb", ROOT / "pik_local", ROOT / "pik_cli", ROOT / "pik_api"]


# --- the import graph of the project's packages (reusable for any list of package roots) ----
def _modules(roots: Iterable[Path]) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under each existing package root."""
    found = {}
    for root in roots:
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*.py")):
            parts = [root.name, *path.relative_to(root).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _import_nodes(tree: ast.Module, *, top_level: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, or (``top_level``) those that run when the module is imported,
    including those under ``if`` blocks such as ``if TYPE_CHECKING:``, but not inside functions."""
    if not top_level:
        yield from (node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom)))
        return
    pending = list(tree.body)
    while pending:
        node = pending.pop(0)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, (ast.If, ast.Try)):
            pending.extend(
                node.body
                + node.orelse
                + getattr(node, "finalbody", [])
                + [stmt for handler in getattr(node, "handlers", []) for stmt in handler.body]
            )


def imported_names(module: str, path: Path, *, top_level: bool = False) -> set[str]:
    """Absolute dotted names ``module`` (at ``path``) imports, relative imports resolved;
    ``from X import n`` gives ``X.n`` (a module, or a name in module ``X``)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in _import_nodes(ast.parse(path.read_text()), top_level=top_level):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join(anchor + ([base] if base else []))
        names |= {f"{base}.{alias.name}" for alias in node.names}
    return names


def _project_module(name: str, modules: dict[str, Path]) -> str | None:
    """The longest project module ``name`` starts with (``pik.core.keys.enc`` -> ``pik.core.keys``)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def import_graph(roots: Iterable[Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports (anywhere: module level, ``if TYPE_CHECKING:``,
    inside functions). Edges point at the most specific module, not at its parent packages."""
    modules = _modules(roots)
    graph = {}
    for module, path in modules.items():
        targets = {_project_module(name, modules) for name in imported_names(module, path)}
        graph[module] = {target for target in targets if target and target != module}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or None when the graph is acyclic."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def imported_modules(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys; print(' '.join(sys.modules))"],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout
    return set(out.split())


@pytest.mark.parametrize("handler", ["ingest", "replay", "processor"])
def test_handlers_never_import_pandas(handler):
    loaded = imported_modules(f"import pik.handlers.{handler}")
    assert "pandas" not in loaded and "numpy" not in loaded and "pyarrow" not in loaded


def test_only_the_compaction_handler_loads_pyarrow_and_never_pandas():
    """pyarrow (from the AWSSDKPandas layer in AWS) is the compaction function's alone."""
    loaded = imported_modules("import pik.handlers.compact, pik.bootstrap; pik.bootstrap.compactor")
    assert "pyarrow" not in loaded  # loaded when a compactor is built, not at import
    loaded = imported_modules(
        "import pik.handlers.compact, pik.bootstrap, pik.settings; "
        "pik.bootstrap.compactor(pik.settings.Settings.from_env({}))"
    )
    assert "pyarrow" in loaded and "pandas" not in loaded
    users = {module for module, targets in import_graph(PACKAGE_ROOTS[:1]).items() if "pik.parquet" in targets}
    assert users == {"pik.bootstrap"}


def test_the_core_imports_only_the_standard_library():
    loaded = imported_modules("import pik.core.contract, pik.core.records, pik.core.replay, pik.core.metrics")
    assert not {"boto3", "botocore", "pandas"} & loaded


def test_only_the_adapters_import_boto3():
    offenders = []
    for path in (ROOT / "lambdas" / "pik").rglob("*.py"):
        tree = ast.parse(path.read_text())
        names = {
            alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
        }
        names |= {(node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        if names & {"boto3", "botocore"} and path.parent.name != "aws":
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_index_names_in_code_match_the_template():
    resources = template.load()["Resources"]
    events = {i["IndexName"] for i in resources["EventsTable"]["Properties"]["GlobalSecondaryIndexes"]}
    runs = {i["IndexName"] for i in resources["ReplaysTable"]["Properties"]["GlobalSecondaryIndexes"]}
    assert events == {keys.ENTITY_INDEX, keys.ARRIVAL_INDEX, keys.LATENESS_INDEX, keys.RECORDED_INDEX}
    assert runs == {keys.RUNS_INDEX}


def test_functions_point_inside_lambdas_and_at_real_handlers():
    tpl = template.load()
    assert tpl["Globals"]["Function"]["CodeUri"] == "lambdas/"
    for spec in template.function_specs(tpl).values():
        module, _, name = spec["handler"].rpartition(".")
        assert (ROOT / "lambdas" / (module.replace(".", "/") + ".py")).exists(), spec["handler"]


def test_replay_route_requires_iam_and_ingest_cannot_delete():
    tpl = template.load()["Resources"]
    assert tpl["PikApi"]["Properties"]["Auth"]["DefaultAuthorizer"] == "AWS_IAM"
    statements = tpl["IngestFunction"]["Properties"]["Policies"][0]["Statement"]
    actions = [a for s in statements for a in s["Action"]] if isinstance(statements, list) else []
    assert actions and not [a for a in actions if "Delete" in a or a.endswith("*")]


def test_queue_visibility_is_at_least_six_processor_timeouts():
    tpl = template.load()
    timeout = template.function_specs(tpl)["ProcessorFunction"]["timeout"]
    queue = tpl["Resources"]["ReplayQueue"]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * timeout
    assert 1 <= queue["RedrivePolicy"]["maxReceiveCount"] <= 5


def test_the_import_graph_resolves_relative_and_type_checking_imports(tmp_path):
    package = tmp_path / "app"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from .low import thing\n")
    (package / "sub" / "low.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..top import Top\n"
    )
    (package / "top.py").write_text("import os\nfrom app.sub import low\n\ndef later():\n    from . import sub\n")
    graph = import_graph([package, tmp_path / "absent"])
    assert graph == {
        "app": set(),
        "app.sub": {"app.sub.low"},
        "app.sub.low": {"app.top"},
        "app.top": {"app.sub.low", "app.sub"},
    }
    assert find_cycle(graph) == ["app.sub", "app.sub.low", "app.top", "app.sub"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_in_the_lambda_package():
    graph = import_graph(PACKAGE_ROOTS[:1])
    assert {"pik.core.ports", "pik.core.queries", "pik.bootstrap", "pik.handlers.observability"} <= set(graph)
    assert find_cycle(graph) is None


def test_the_core_imports_only_itself_and_the_standard_library():
    modules = _modules(PACKAGE_ROOTS[:1])
    foreign = {
        name
        for module, path in modules.items()
        if module.startswith("pik.core")
        for name in imported_names(module, path)
        if not name.startswith("pik.core") and name.split(".")[0] not in sys.stdlib_module_names
    }
    assert foreign == set()


def test_services_import_ports_not_adapters():
    """Concrete adapters are wired in ``pik.bootstrap``; services only see ``pik.core.ports``."""
    modules = _modules(PACKAGE_ROOTS[:1])
    offenders = {
        module: sorted(
            name
            for name in imported_names(module, path, top_level=True)
            if name.startswith(("pik.aws", "pik.bootstrap", "pik.handlers", "boto3", "botocore"))
        )
        for module, path in modules.items()
        if module.startswith("pik.services.")
    }
    assert {module: names for module, names in offenders.items() if names} == {}


def test_only_the_handlers_import_the_bootstrap_and_only_it_wires_adapters():
    graph = import_graph(PACKAGE_ROOTS[:1])
    users = {module for module, targets in graph.items() if "pik.bootstrap" in targets}
    assert users and all(module.startswith("pik.handlers.") for module in users)
    adapters = {module for module in graph if module.startswith("pik.aws.") and module != "pik.aws.clients"}
    adapter_users = {
        module for module, targets in graph.items() if targets & adapters and not module.startswith("pik.aws.")
    }  # adapters may build on adapters
    assert adapter_users == {"pik.bootstrap"}


def test_http_lives_in_the_handlers():
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "lambdas" / "pik").rglob("*.py")
        if "http_status" in path.read_text() and path.parent.name != "handlers"
    ]
    assert offenders == []


@pytest.mark.parametrize(
    "port,adapter",
    [
        ("DocumentStore", "pik.aws.s3.DocumentStore"),
        ("EventIndex", "pik.aws.dynamodb.EventIndex"),
        ("AggregateStore", "pik.aws.dynamodb.AggregateStore"),
        ("RunStore", "pik.aws.dynamodb.Table"),
        ("MessageQueue", "pik.aws.sqs.ReplayQueue"),
        ("Archive", "pik.aws.archive.ArchiveBucket"),
        ("RecordedFeed", "pik.aws.archive.RecordedFeed"),
        ("Lease", "pik.aws.archive.CompactionLease"),
    ],
)
def test_each_adapter_offers_its_port_with_compatible_signatures(port, adapter):
    import importlib

    module, _, name = adapter.rpartition(".")
    concrete = getattr(importlib.import_module(module), name)
    protocol = getattr(ports, port)
    for method in [m for m in vars(protocol) if not m.startswith("_") and callable(getattr(protocol, m))]:
        wanted = inspect.signature(getattr(protocol, method)).parameters
        offered = inspect.signature(getattr(concrete, method)).parameters
        for parameter in wanted.values():
            assert parameter.name in offered, f"{adapter}.{method} lacks {parameter.name}"
            assert offered[parameter.name].kind == parameter.kind, f"{adapter}.{method}({parameter.name})"
        extra = [p for p in offered.values() if p.name not in wanted and p.default is inspect.Parameter.empty]
        assert extra == [], f"{adapter}.{method} requires {extra}"


# --- the notebook side: pik_cli -> {pik_nb, pik_local} -> pik ------------------------------------
def test_no_import_cycle_anywhere_in_the_project():
    graph = import_graph(PACKAGE_ROOTS)
    assert {"pik_nb.read.stack", "pik_nb.kit", "pik_cli", "pik_api.client"} <= set(graph)
    assert find_cycle(graph) is None


def _importers(graph: dict[str, set[str]], package: str) -> set[str]:
    return {
        module
        for module, targets in graph.items()
        if not module.startswith(package) and any(t == package or t.startswith(package + ".") for t in targets)
    }


def test_dependencies_point_one_way():
    graph = import_graph(PACKAGE_ROOTS)
    assert _importers(graph, "pik_cli") == set()  # the CLI is a skin nothing imports
    assert {m for m in _importers(graph, "pik_nb") if not m.startswith("pik_cli")} == set()
    assert {m for m in _importers(graph, "pik_local") if m.startswith("pik.")} == set()  # Lambda code never sees it
    from_nb = {
        t for m, targets in graph.items() if m.startswith("pik_nb") for t in targets if t.startswith("pik_local")
    }
    assert from_nb <= {"pik_local.info", "pik_api.client"}  # where the local stack is, and the one API client


def test_nothing_below_the_kit_imports_it():
    """``Kit`` is a facade: loaders and investigations take a ``Stack``; only consumers of the kit
    (``connect``, the notebook helper, the replay flow and widget) may import it."""
    graph = import_graph(PACKAGE_ROOTS)
    below = {
        "pik_nb.read.tables",
        "pik_nb.read.objects",
        "pik_nb.read.stack",
        "pik_nb.read._dynamodb",
        "pik_nb.read.frames",
        "pik_nb.investigate.diff",
        "pik_nb.investigate.explain",
        "pik_nb.investigate.reconcile",
        "pik_nb._errors",
        "pik_nb.notebook.runner",
        "pik_nb.notebook.incident",
    }
    assert {m for m in below if "pik_nb.kit" in graph[m]} == set()


def test_pik_help_loads_neither_plots_widgets_dataframes_nor_moto():
    loaded = imported_modules("import pik_cli")
    assert not {"matplotlib", "ipywidgets", "pandas", "moto", "pik_nb"} & loaded


def test_importing_pik_nb_loads_neither_matplotlib_nor_ipywidgets():
    loaded = imported_modules("import pik_nb")
    assert not {"matplotlib", "ipywidgets", "moto"} & loaded


# --- pik_nb's rooms: what each may import (docs/architecture.md draws the same) -------------------
LEAVES = {"pik_nb._errors", "pik_nb._times", "pik_nb._format"}  # pik_nb-wide private leaves: any room may use them
ROOMS = {  # room -> the other parts of pik_nb it may import
    "pik_nb.analyses": set(),  # DataFrames in, DataFrames and figures out
    "pik_nb.read": set(),  # a stack in, DataFrames out
    "pik_nb.investigate": {"pik_nb.read", "pik_nb.analyses"},
    "pik_nb.sql": {"pik_nb.read", "pik_nb.analyses"},
    "pik_nb.kit": {"pik_nb.read", "pik_nb.analyses", "pik_nb.investigate", "pik_nb.sql"},
    "pik_nb.connect": {"pik_nb.read", "pik_nb.kit"},
    "pik_nb.replay": {"pik_nb.kit"},
    "pik_nb.notebook": {"pik_nb.read", "pik_nb.kit", "pik_nb.connect"},
}


def _room(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_each_room_of_pik_nb_imports_only_the_rooms_it_may():
    graph = import_graph(PACKAGE_ROOTS)
    rooms = {_room(m) for m in graph if m.startswith("pik_nb.")} - LEAVES
    assert rooms == set(ROOMS)
    wrong = {
        (module, target)
        for module, targets in graph.items()
        if _room(module) in ROOMS
        for target in targets
        if target.startswith("pik_nb") and _room(target) not in {_room(module), *LEAVES, *ROOMS[_room(module)]}
    }
    assert wrong == set()
    assert all(not targets & {"pik_nb"} for module, targets in graph.items() if module.startswith("pik_nb."))


def test_private_leaves_are_used_only_inside_their_room():
    """``pik_nb.read._s3`` is ``read``'s: other rooms go through ``read``'s public modules."""
    graph = import_graph(PACKAGE_ROOTS)
    wrong = {
        (module, target)
        for module, targets in graph.items()
        for target in targets
        if target.startswith("pik_nb.")
        and target not in LEAVES
        and any(part.startswith("_") for part in target.split(".")[2:])
        and _room(module) != _room(target)
        and module != "pik_nb"
    }
    assert wrong == {("pik_nb.kit", "pik_nb.read._dynamodb")}  # Kit.reader exposes the fast reader's type


def test_the_api_client_package_imports_only_the_core():
    graph = import_graph(PACKAGE_ROOTS)
    imported = {target for module, targets in graph.items() if module.startswith("pik_api") for target in targets}
    assert {target for target in imported if not target.startswith(("pik.core", "pik_api"))} == set()


# --- the tests themselves: shared helpers live in tests/support, never in a test module or a conftest ----
def layout_problems(tests_root: Path) -> list[str]:
    """Imports that treat a test module or a conftest as a library (a conftest holds fixtures, which pytest
    finds itself), and any import of ``tests/support`` outside itself."""
    modules = _modules([tests_root])
    problems = []
    for module, path in sorted(modules.items()):
        targets = {_project_module(name, modules) for name in imported_names(module, path)} - {None, module}
        for target in sorted(t for t in targets if t):
            leaf = target.rpartition(".")[2]
            if leaf.startswith("test_") or leaf == "conftest":
                problems.append(f"{module} imports {target}: move what it needs to tests/support")
            elif module.startswith("tests.support.") and not target.startswith("tests.support"):
                problems.append(f"{module} imports {target}: tests/support imports only itself")
    return problems


def test_the_layout_check_finds_test_modules_and_conftests_used_as_libraries(tmp_path):
    tests = tmp_path / "tests"
    for folder in ("", "support", "unit", "nb"):
        (tests / folder).mkdir(exist_ok=True)
        (tests / folder / "__init__.py").write_text("")
    (tests / "conftest.py").write_text("def helper(): ...\n")
    (tests / "nb" / "conftest.py").write_text("DAY = 1\n")
    (tests / "support" / "events.py").write_text("from tests.unit.test_a import A\n")
    (tests / "support" / "waits.py").write_text("from tests.nb import shared\n")
    (tests / "nb" / "shared.py").write_text("")
    (tests / "unit" / "test_a.py").write_text("A = 1\nfrom tests.support.events import *\n")
    (tests / "unit" / "test_b.py").write_text(
        "from tests.unit.test_a import A\nfrom tests.conftest import helper\nfrom tests.unit import test_a\n"
        "def later():\n    from ..nb.conftest import DAY\n"
    )
    assert layout_problems(tests) == [
        "tests.support.events imports tests.unit.test_a: move what it needs to tests/support",
        "tests.support.waits imports tests.nb.shared: tests/support imports only itself",
        "tests.unit.test_b imports tests.conftest: move what it needs to tests/support",
        "tests.unit.test_b imports tests.nb.conftest: move what it needs to tests/support",
        "tests.unit.test_b imports tests.unit.test_a: move what it needs to tests/support",
    ]


def test_no_test_module_imports_another_or_a_conftest():
    assert layout_problems(ROOT / "tests") == []


def test_tests_support_lists_every_module_it_holds():
    index = (ROOT / "tests" / "support" / "__init__.py").read_text()
    listed = {line.split()[0] for line in index.splitlines() if line.startswith("    ") and line.split()}
    held = {path.stem for path in (ROOT / "tests" / "support").glob("*.py") if path.stem != "__init__"}
    assert listed == held, "list each tests/support module in its __init__ docstring, with what it holds"
