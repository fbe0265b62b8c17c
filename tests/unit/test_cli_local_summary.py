"""`pik local up`'s summary: every resource once (a tap queue the template creates is not repeated as
its output), aligned."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from pik_cli.local import _summary

QUEUE = "http://127.0.0.1:5000/123456789012/pik-EventBridgeTapQueue"


def test_each_resource_is_listed_once_in_aligned_columns():
    info = SimpleNamespace(
        pid=42,
        api_url="http://127.0.0.1:8080/v1",
        endpoint_url="http://127.0.0.1:5000",
        region="us-east-1",
        outputs={
            "event_bridge_tap_queue_url": QUEUE,
            "event_bridge_tap_bus_name": "shop",
            "api_url": "http://127.0.0.1:8080/v1",
        },
    )
    names = {"ReplayQueue": "http://q/replay", "EventBridgeTapQueue": QUEUE}
    stack = SimpleNamespace(
        info=info,
        resources=SimpleNamespace(names=names),
        replayed=None,
        restored=None,
        state_dir=None,
        info_file=Path(".pik/local.json"),
        lambda_log_path=Path(".pik/lambda.log"),
    )
    lines = _summary(stack).splitlines()
    assert sum(QUEUE in line for line in lines) == 1
    assert "  event_bridge_tap_bus_name  shop" in lines
    rows = lines[1:-1]
    assert len(rows) == 8
    column = len("  event_bridge_tap_bus_name  ")  # the longest label sets where every value starts
    assert [line[column - 1 : column + 1].startswith(" ") and line[column] != " " for line in rows] == [True] * 8
