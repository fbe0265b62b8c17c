"""One list of pik's own metric names (``pik.core.pipeline_metrics``): the handlers publish its members and
nothing else, never a string; ``kit.metrics()`` reads every one; the template's dashboard and alarms (YAML,
which cannot import it) use only names the handlers publish, with thresholds as parameters."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from pik.core.pipeline_metrics import COUNTS, LAG, NAMESPACE, ORIGINAL_NAMES, SERVICE, Metric
from pik_local import template
from pik_nb.analyses import health

LAMBDAS = Path(__file__).resolve().parents[2] / "lambdas" / "pik"
HANDLERS = LAMBDAS / "handlers"
DECLARED = LAMBDAS / "core" / "pipeline_metrics.py"
NAMES = {str(m) for m in Metric} | set(ORIGINAL_NAMES.values())  # every name pik publishes


def _metric_arguments(call: ast.Call) -> list[ast.expr]:
    """What a call passes as a metric name: ``count(X)``'s first argument, ``add_metric(name=X)``, ``*_metric=X``."""
    func = call.func  # count is observability's (str.count is an attribute call), add_metric powertools'
    publishes = (isinstance(func, ast.Name) and func.id == "count") or (
        isinstance(func, ast.Attribute) and func.attr == "add_metric"
    )
    found = [kw.value for kw in call.keywords if kw.arg and (kw.arg.endswith("_metric") or kw.arg == "metric")]
    if publishes:
        found += call.args[:1] + [kw.value for kw in call.keywords if kw.arg == "name"]
    return found


def _docstrings(tree: ast.Module) -> set[int]:
    bodies = [tree, *(n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef)))]
    return {
        id(body.body[0].value)
        for body in bodies
        if body.body and isinstance(body.body[0], ast.Expr) and isinstance(body.body[0].value, ast.Constant)
    }


def metric_problems(source: str) -> list[str]:
    """Each place ``source`` names a metric by a string (a literal or f-string as a metric argument, or any
    string constant that is one of pik's metric names) or by a ``Metric`` member that does not exist."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for arg in _metric_arguments(node):
                if isinstance(arg, (ast.Constant, ast.JoinedStr, ast.BinOp)):
                    problems.append(f"line {arg.lineno}: metric named by a string: {ast.unparse(arg)}")
        if isinstance(node, ast.Constant) and node.value in NAMES and id(node) not in docstrings:
            problems.append(f"line {node.lineno}: {node.value!r} is pik.core.pipeline_metrics' (use Metric)")
        member = _member(node)
        if member is not None and member not in Metric.__members__:
            problems.append(f"line {node.lineno}: Metric.{member} is not declared in pik.core.pipeline_metrics")
    return problems


def _member(node: ast.AST) -> str | None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "Metric":
        return node.attr
    return None


def published() -> set[str]:
    """The metric names the handlers publish: every ``Metric`` member they name, and its original name."""
    members = {
        _member(node)
        for path in HANDLERS.glob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if _member(node) in Metric.__members__
    }
    ours = {str(Metric[m]) for m in members if m}
    return ours | {ORIGINAL_NAMES[Metric(m)] for m in ours if Metric(m) in ORIGINAL_NAMES}


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ('count("IngestCount", 1)', "line 1: metric named by a string: 'IngestCount'"),
        ('count("NewThingCount")', "line 1: metric named by a string: 'NewThingCount'"),
        ('metrics.add_metric(name=f"{x}Ms", unit=u, value=1)', "line 1: metric named by a string: f'{x}Ms'"),
        ('app = resolver(rejected_metric="X", failed_metric=Metric.REPLAY_ERROR_COUNT)', "metric named by a string"),
        ('STATUS = {"ACCEPTED": "IngestCount"}', "line 1: 'IngestCount' is pik.core.pipeline_metrics' (use Metric)"),
        ("count(Metric.REPLAY_ERRORS)", "line 1: Metric.REPLAY_ERRORS is not declared in pik.core.pipeline_metrics"),
    ],
)
def test_the_scan_finds_a_metric_named_by_a_string_or_an_undeclared_member(source, problem):
    assert any(problem in found for found in metric_problems(source)), metric_problems(source)


def test_the_scan_passes_members_and_docstrings():
    source = '"""IngestCount in a docstring."""\ndef f(m):\n    """RejectedCount."""\n    count(Metric.INGEST_COUNT)\n'
    assert metric_problems(source + "    count(m)\n    resolver(rejected_metric=Metric.REJECTED_COUNT)\n") == []


def test_pik_names_each_metric_it_publishes_by_its_declared_member_only():
    paths = [p for p in LAMBDAS.rglob("*.py") if p != DECLARED]
    assert HANDLERS / "observability.py" in paths and len(paths) > 40
    problems = {str(p.relative_to(LAMBDAS)): metric_problems(p.read_text()) for p in paths}
    assert {path: found for path, found in problems.items() if found} == {}


def test_every_declared_metric_is_published_and_kit_metrics_reads_each():
    assert published() == NAMES
    assert [*COUNTS, LAG] == [str(m) for m in Metric]  # the frame's columns: every name but the aliases
    assert set(health.COUNTS) | {health.LAG} == published() - set(ORIGINAL_NAMES.values())


def dashboard() -> dict:
    body = template.load()["Resources"]["HealthDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    return json.loads(re.sub(r"\$\{[^}]+\}", "1", body))


def _rows(metrics: list[list]) -> list[list]:
    """A widget's metric rows written out: ``"."`` is the previous row's value at that place, a row
    ``["...", {...}]`` the previous row's namespace, name and dimensions (CloudWatch's dashboard shorthand)."""
    rows, previous = [], []
    for row in metrics:
        if not isinstance(row[0], str):
            continue  # an expression
        strings = [v for v in row if isinstance(v, str)]
        strings = previous if strings == ["..."] else [previous[i] if v == "." else v for i, v in enumerate(strings)]
        rows.append(strings)
        previous = strings
    return rows


def test_the_dashboard_is_json_and_every_pik_metric_on_it_is_published():
    widgets = dashboard()["widgets"]
    titles = [w["properties"]["title"] for w in widgets]
    assert titles == [
        "Ingest rate by status (per minute)",
        "Ingest lag p50 / p99 (ms)",
        "Duplicates and conflicts",
        "Replay sends and processor",
        "Dead-letter queue depths",
        "Lambda errors and throttles (this stack's functions)",
        "Requests, clock skew, refusals and lineage",
        "Compaction (per run)",
    ]
    rows = [row for w in widgets for row in _rows(w["properties"]["metrics"])]
    assert all(row[0] == NAMESPACE and row[2:] == ["service", SERVICE] for row in rows), rows
    on_board = [row[1] for row in rows]
    assert on_board == [
        *("IngestCount", "DuplicateCount", "ConflictCount", "RejectedCount", "IngestErrorCount"),
        *("IngestLagMs", "IngestLagMs", "DuplicateCount", "ConflictCount"),
        *("ReplayMessageCount", "ProcessorMessageCount", "ProcessorErrorCount"),
        *("IngestRequestCount", "ClockSkewCount", "ReplayRejectedCount", "ReplayErrorCount", "LineageErrorCount"),
        *("CompactedPartitionCount", "CompactedEventCount", "CompactionSkippedCount", "CompactionOrphanCount"),
    ]
    # every metric pik publishes under its own name is charted (the original names are for old dashboards)
    assert set(on_board) == published() - set(ORIGINAL_NAMES.values())


def test_the_dashboards_widgets_fit_cloudwatchs_24_column_grid_without_overlapping():
    """CloudWatch's dashboard body: x + width <= 24 (Dashboard Body Structure); overlapping widgets are moved."""
    cells = []
    for widget in dashboard()["widgets"]:
        x, y, width, height = (widget[k] for k in ("x", "y", "width", "height"))
        assert 1 <= width and x >= 0 and x + width <= 24 and height >= 1, widget["properties"]["title"]
        cells.append({(col, row) for col in range(x, x + width) for row in range(y, y + height)})
    assert sum(map(len, cells)) == len(set().union(*cells))  # no cell belongs to two widgets


def test_alarms_watch_published_metrics_with_parameter_thresholds():
    doc = template.load()
    alarms = template.of_type(doc, "AWS::CloudWatch::Alarm")
    assert set(alarms) == {
        "ReplayDeadLetterAlarm",
        "EventBridgeTapDeadLetterAlarm",
        "KinesisTapFailureAlarm",
        "ConflictAlarm",
        "DuplicateStormAlarm",
        "IngestLagAlarm",
        "IngestErrorAlarm",
    }
    watched = set()
    for name, alarm in alarms.items():
        props = alarm["Properties"]
        if props["Namespace"] == NAMESPACE:
            watched.add(props["MetricName"])
            assert props["Threshold"]["Ref"] in doc["Parameters"], name
            assert props["Dimensions"] == [{"Name": "service", "Value": SERVICE}]
        else:
            assert props["Threshold"] == 0 and props["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert watched == {"ConflictCount", "DuplicateCount", "IngestLagMs", "IngestErrorCount"}
    assert watched <= published()
