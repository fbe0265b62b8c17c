"""Boundaries that keep the Lambdas small and the core pure, and code in step with the template."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from pik.core import keys
from pik_local import template

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys; print(' '.join(sys.modules))"],
                         check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return set(out.split())


@pytest.mark.parametrize("handler", ["ingest", "replay", "processor"])
def test_handlers_never_import_pandas(handler):
    loaded = imported_modules(f"import pik.handlers.{handler}")
    assert "pandas" not in loaded and "numpy" not in loaded


def test_the_core_imports_only_the_standard_library():
    loaded = imported_modules("import pik.core.contract, pik.core.records, pik.core.replay, pik.core.metrics")
    assert not {"boto3", "botocore", "pandas"} & loaded


def test_only_the_adapters_import_boto3():
    offenders = []
    for path in (ROOT / "lambdas" / "pik").rglob("*.py"):
        tree = ast.parse(path.read_text())
        names = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        names |= {(node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        if names & {"boto3", "botocore"} and path.parent.name != "aws":
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_index_names_in_code_match_the_template():
    resources = template.load()["Resources"]
    events = {i["IndexName"] for i in resources["EventsTable"]["Properties"]["GlobalSecondaryIndexes"]}
    runs = {i["IndexName"] for i in resources["ReplaysTable"]["Properties"]["GlobalSecondaryIndexes"]}
    assert events == {keys.ENTITY_INDEX, keys.ARRIVAL_INDEX, keys.LATENESS_INDEX}
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
