"""The widget's rules, through ReplayFlow, against the local stack over HTTP."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

import pik_nb
from pik.core.timefmt import UTC
from pik_api import count_statuses, ingest_events
from pik_nb.replay.flow import FlowError
from tests.support.waits import wait_for


@pytest.fixture
def flow_kit(start_stack):
    stack = start_stack()
    day = (datetime.now(UTC) - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    bodies = [{"source": "web", "event_type": "click", "entity_id": "flow-user",
               "event_time": (day + timedelta(hours=i)).isoformat(), "payload": {"n": i}} for i in range(3)]
    assert count_statuses(ingest_events(stack.info.api_url, bodies, progress=False)) == {"ACCEPTED": 3}
    kit = pik_nb.connect(path=stack.info_file)
    scope = pik_nb.Scope(start=day.isoformat(), end=(day + timedelta(days=1)).isoformat(), entity_id="flow-user")
    return kit, scope


def test_replay_needs_a_preview_of_the_same_scope_and_confirmation_above_the_threshold(flow_kit):
    kit, scope = flow_kit
    flow = pik_nb.ReplayFlow(kit, confirm_above=2)
    with pytest.raises(FlowError, match="Preview this scope first"):
        flow.replay(scope)
    preview = flow.preview(scope)
    assert (preview["dry_run"], preview["matched"], preview["sent"]) == (True, 3, 0)
    other = pik_nb.Scope(start=scope.start, end=scope.end, entity_id="someone-else")
    assert not flow.can_replay(other)
    with pytest.raises(FlowError, match="Preview this scope first"):
        flow.replay(other)
    assert flow.needs_confirmation()
    with pytest.raises(FlowError, match="3 events exceed 2"):
        flow.replay(scope)
    run = flow.replay(scope, confirmed=True)
    again = flow.replay(scope, confirmed=True)  # a double click
    assert again["replay_id"] == run["replay_id"] and (run["dry_run"], run["sent"]) == (False, 3)
    runs = kit.replays()
    assert (~runs["dry_run"]).sum() == 1 and int(runs.loc[~runs["dry_run"], "sent"].iloc[0]) == 3
    progress = wait_for(lambda: (p := flow.progress()).drained and p.processed == 3 and p, timeout_s=60,
                        what="the processor to drain the replay")
    assert progress.dead_lettered == 0
    [diff] = flow.diffs()
    assert (diff.new["version"], diff.new["value"], diff.new["replay_id"]) == (1, 3, run["replay_id"])
