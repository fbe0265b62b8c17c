"""The impact preview end to end on the local stack: ``kit.replay`` answers it as a DataFrame, ``pik replay``
prints it (and ``--json`` carries it), and the executed replay's aggregate diff is the preview, value for value."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from click.testing import CliRunner

import pik_nb
from pik.core.timefmt import UTC
from pik_api import count_statuses, ingest_events
from pik_cli import cli
from tests.support.waits import wait_for


def _events(day: datetime, hours: range) -> list[dict]:
    return [
        {
            "source": "web",
            "event_type": "click",
            "entity_id": "impact-user",
            "event_time": (day + timedelta(hours=h)).isoformat(),
            "payload": {"n": h},
        }
        for h in hours
    ]


def _replayed(flow: pik_nb.ReplayFlow, scope: pik_nb.Scope, events: int) -> dict:
    flow.preview(scope)
    run = flow.replay(scope, confirmed=True)
    wait_for(
        lambda: (p := flow.progress()).drained and p.processed == events and p,
        timeout_s=60,
        what="the processor to drain the replay",
    )
    return run


def test_the_preview_shows_what_the_replay_then_changes(start_stack):
    stack = start_stack()
    day = (datetime.now(UTC) - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    assert count_statuses(ingest_events(stack.info.api_url, _events(day, range(3)), progress=False)) == {"ACCEPTED": 3}
    kit = pik_nb.connect(path=stack.info_file)
    scope = pik_nb.Scope(start=day.isoformat(), end=(day + timedelta(days=1)).isoformat(), entity_id="impact-user")
    flow = pik_nb.ReplayFlow(kit)
    _replayed(flow, scope, 3)
    [late] = ingest_events(stack.info.api_url, _events(day, range(20, 21)), progress=False)

    preview = kit.replay(**scope.request())
    impact, events = preview["impact"], preview["impact_events"]
    [count] = impact[impact["metric"] == "count"].to_dict(orient="records")
    assert (count["now"], count["after"], count["delta"], count["version_now"], count["version_after"]) == (
        3.0,
        4.0,
        1.0,
        1,
        2,
    )
    assert (count["changed"], count["inputs_now"], count["inputs_after"], count["entering"]) == (True, 3, 4, 1)
    assert events.to_dict(orient="records") == [
        {
            "entity_id": "impact-user",
            "day": day.date().isoformat(),
            "event_id": late.body["event_id"],
            "change": "enters",
        }
    ]
    assert impact.attrs["complete"] and impact.attrs["entity_days"] == 1

    runner, where = CliRunner(), ["--local-file", str(stack.info_file)]
    window = ["--entity", "impact-user", "--start", scope.start, "--end", scope.end]
    printed = runner.invoke(cli, ["replay", *window, *where])
    assert printed.exit_code == 0, printed.output
    assert (
        "impact on aggregates (the processor's recompute): metric values changed 1 (in 1 of 1 entity-days), "
        "events entering or leaving 1"
    ) in printed.output
    assert f"  impact-user  {day.date().isoformat()}  count: 3 -> 4 (+1)  v1 -> v2, 1 event enters" in printed.output
    as_json = json.loads(runner.invoke(cli, ["replay", *window, "--json", *where]).output)
    assert [(r["metric"], r["now"], r["after"]) for r in as_json["impact"]["rows"]] == [("count", 3, 4)]
    assert as_json["impact"]["events"][0]["event_id"] == late.body["event_id"]

    run = _replayed(flow, scope, 4)
    diff = kit.diff("impact-user", day.date().isoformat())
    assert (diff.old["value"], diff.new["value"], diff.value_delta) == (count["now"], count["after"], count["delta"])
    assert (diff.old["version"], diff.new["version"], diff.new["replay_id"]) == (1, 2, run["replay_id"])
    assert list(diff.added["event_id"]) == list(events["event_id"]) and diff.removed.empty
