"""The dashboard and alarms read metrics the handlers really emit, with thresholds as parameters."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pik_local import template
from pik_nb.analyses import health

LAMBDAS = Path(__file__).resolve().parents[2] / "lambdas" / "pik" / "handlers"


def emitted_names() -> set[str]:
    """Every metric name a handler passes to count()/add_metric() or maps a status to."""
    text = "\n".join(p.read_text() for p in LAMBDAS.glob("*.py"))
    return set(re.findall(r'"([A-Z][A-Za-z]+(?:Count|Ms))"', text))


def dashboard() -> dict:
    body = template.load()["Resources"]["HealthDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    return json.loads(re.sub(r"\$\{[^}]+\}", "1", body))


def test_the_dashboard_is_json_and_every_pik_metric_on_it_is_emitted():
    widgets = dashboard()["widgets"]
    titles = [w["properties"]["title"] for w in widgets]
    assert titles == [
        "Ingest rate by status (per minute)",
        "Ingest lag p50 / p99 (ms)",
        "Duplicates and conflicts",
        "Replay sends and processor",
        "Dead-letter queue depths",
        "Lambda errors and throttles (this stack's functions)",
    ]
    on_board = {
        row[1] for w in widgets for row in w["properties"]["metrics"] if isinstance(row[0], str) and row[0] == "Pik"
    }
    assert on_board and on_board <= emitted_names()


def test_alarms_watch_emitted_metrics_with_parameter_thresholds():
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
    for name, alarm in alarms.items():
        props = alarm["Properties"]
        if props["Namespace"] == "Pik":
            assert props["MetricName"] in emitted_names(), name
            assert props["Threshold"]["Ref"] in doc["Parameters"], name
            assert props["Dimensions"] == [{"Name": "service", "Value": "pik"}]
        else:
            assert props["Threshold"] == 0 and props["MetricName"] == "ApproximateNumberOfMessagesVisible"


def test_the_notebook_health_frame_reads_emitted_metrics():
    assert set(health.COUNTS) | {health.LAG} <= emitted_names()
