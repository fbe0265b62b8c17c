"""The widget's rules, through ReplayFlow, against the local stack over HTTP."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta

import pytest
from click.testing import CliRunner

import pik_nb
from pik.core.timefmt import UTC
from pik_api import ApiError, count_statuses, ingest_events
from pik_cli import cli
from pik_cli import investigate as cli_investigate
from pik_nb.replay.flow import FlowError
from tests.support.queues import drain_queue
from tests.support.waits import wait_for


@pytest.fixture
def seeded(start_stack):
    """A local stack with three ACCEPTED events of ``flow-user`` yesterday; ``(stack, scope)``."""
    stack = start_stack()
    day = (datetime.now(UTC) - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    bodies = [
        {
            "source": "web",
            "event_type": "click",
            "entity_id": "flow-user",
            "event_time": (day + timedelta(hours=i)).isoformat(),
            "payload": {"n": i},
        }
        for i in range(3)
    ]
    assert count_statuses(ingest_events(stack.info.api_url, bodies, progress=False)) == {"ACCEPTED": 3}
    scope = pik_nb.Scope(start=day.isoformat(), end=(day + timedelta(days=1)).isoformat(), entity_id="flow-user")
    return stack, scope


@pytest.fixture
def flow_kit(seeded):
    stack, scope = seeded
    return pik_nb.connect(path=stack.info_file), scope


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
    progress = wait_for(
        lambda: (p := flow.progress()).drained and p.processed == 3 and p,
        timeout_s=60,
        what="the processor to drain the replay",
    )
    assert progress.dead_lettered == 0
    [diff] = flow.diffs()
    assert (diff.new["version"], diff.new["value"], diff.new["replay_id"]) == (1, 3, run["replay_id"])
    # the same scope replayed again: the processor finds the same inputs and writes no version, so there
    # is no diff of this run (before, the widget showed version 1's diff as if this replay had made it)
    flow.preview(scope)
    second = flow.replay(scope, confirmed=True)
    assert second["replay_id"] != run["replay_id"] and second["sent"] == 3
    wait_for(
        lambda: (p := flow.progress()).drained and p.processed == 3 and p,
        timeout_s=60,
        what="the processor to drain the second replay",
    )
    assert flow.diffs() == []


def test_a_preview_that_matched_nothing_keeps_replay_disabled(flow_kit):
    kit, scope = flow_kit
    flow = pik_nb.ReplayFlow(kit)
    nobody = pik_nb.Scope(start=scope.start, end=scope.end, entity_id="nobody")
    assert flow.preview(nobody)["matched"] == 0
    assert not flow.can_replay(nobody)
    with pytest.raises(FlowError, match="The preview matched nothing"):
        flow.replay(nobody, confirmed=True)


def test_pik_replay_run_executes_the_reviewed_dry_run_and_a_second_execute_of_a_scope_asks(seeded, monkeypatch):
    stack, scope = seeded
    runner, where = CliRunner(), ["--local-file", str(stack.info_file)]
    window = ["--entity", "flow-user", "--start", scope.start, "--end", scope.end]
    preview = json.loads(runner.invoke(cli, ["replay", *window, "--json", *where]).output)
    assert (preview["dry_run"], preview["matched"]) == (True, 3)
    executed = runner.invoke(cli, ["replay", "--run", preview["replay_id"], "--execute", *where])
    assert executed.exit_code == 0, executed.output
    assert "EXECUTED  COMPLETED" in executed.output and "matched 3  sent 3" in executed.output
    repeated = runner.invoke(cli, ["replay", "--run", preview["replay_id"], "--execute", "--json", *where])
    kit = pik_nb.connect(path=stack.info_file)
    runs = kit.replays()
    assert json.loads(repeated.output)["sent"] == 3 and (~runs["dry_run"]).sum() == 1  # the same execution run
    [execution] = runs.loc[~runs["dry_run"], "replay_id"]
    refused = runner.invoke(cli, ["replay", *window, "--execute", *where])  # not a terminal: refuses
    assert refused.exit_code == 2, refused.output
    assert f"already executed by {execution}" in refused.output and "add --yes" in refused.output
    monkeypatch.setattr(cli_investigate, "_interactive", lambda: True)
    declined = runner.invoke(cli, ["replay", *window, "--execute", *where], input="n\n")
    assert declined.exit_code == 1 and "execute it again? [y/N]" in declined.output
    assert (~kit.replays()["dry_run"]).sum() == 1  # nothing executed by the refusals
    meant = runner.invoke(cli, ["replay", *window, "--execute", "--yes", *where])
    assert meant.exit_code == 0 and "matched 3  sent 3" in meant.output, meant.output
    assert (~kit.replays()["dry_run"]).sum() == 2
    outside = runner.invoke(
        cli,
        [
            "replay",
            "--run",
            preview["replay_id"],
            "--execute",
            "--target",
            "sqs=https://sqs.eu-west-1.amazonaws.com/1/q",
            *where,
        ],
    )
    assert outside.exit_code == 2 and "exactly its scope" in outside.output


def test_pik_replay_to_a_target_says_what_it_already_got_and_skips_it_unless_resend(seeded):
    stack, scope = seeded
    queue = stack.client("sqs").create_queue(QueueName="flow-consumer")["QueueUrl"]
    runner, where = CliRunner(), ["--local-file", str(stack.info_file)]
    to_queue = [
        "replay",
        "--entity",
        "flow-user",
        "--start",
        scope.start,
        "--end",
        scope.end,
        "--target",
        f"sqs={queue}",
        *where,
    ]
    first = json.loads(runner.invoke(cli, [*to_queue, "--execute", "--json"]).output)
    assert (first["sent"], first["skipped"], first["already_delivered"]) == (3, 0, {"count": 0, "runs": []})
    preview = runner.invoke(cli, to_queue)
    assert preview.exit_code == 0, preview.output
    last_at = json.loads(runner.invoke(cli, [*to_queue, "--json"]).output)["already_delivered"]["runs"][0]["last_at"]
    assert (
        f"already delivered to sqs:{queue}: 3 of the 3 selected events, by {first['replay_id']} "
        f"(3, last at {last_at})\nexecuting skips them; --resend sends them again"
    ) in preview.output
    skipped = runner.invoke(cli, [*to_queue, "--execute"])  # nothing would go twice: no question asked
    assert skipped.exit_code == 0 and "matched 3  sent 0  failed 0  retried 0  skipped 3" in skipped.output
    resent = runner.invoke(cli, [*to_queue, "--execute", "--yes", "--resend"])
    assert resent.exit_code == 0 and "matched 3  sent 3  failed 0" in resent.output, resent.output
    assert "sent again (resend)" in resent.output
    bodies = Counter(m["Body"] for m in drain_queue(stack.client("sqs"), queue))
    assert sorted(bodies.values()) == [2, 2, 2]  # the first run and the resend; none from the skipping run


def test_kit_replay_run_executes_exactly_the_reviewed_dry_run_once_and_names_an_unknown_run(seeded):
    """Issue 19 finding 11 at the kit's level (the CLI's ``--run`` is tested above): ``kit.replay(run=...)``
    sends what the dry run matched, to its target, with its envelope, and not an event of its scope that
    arrived after the review (before, it sent 4 where the review showed 3); the same id again answers the
    same execution run and sends nothing; an id no run has is a 404 naming it."""
    stack, scope = seeded
    sqs = stack.client("sqs")
    kit, queue = pik_nb.connect(path=stack.info_file), sqs.create_queue(QueueName="reviewed")["QueueUrl"]
    others = [
        {"source": "web", "event_type": "click", "entity_id": "other-user", "event_time": scope.start, "payload": {}}
    ]  # in the window, not in the scope
    assert count_statuses(ingest_events(stack.info.api_url, others, progress=False)) == {"ACCEPTED": 1}
    reviewed = kit.replay(
        entity_id="flow-user", start=scope.start, end=scope.end, target={"sqs": queue}, envelope="pik"
    )
    assert (reviewed["dry_run"], reviewed["matched"], reviewed["sent"]) == (True, 3, 0)
    assert drain_queue(sqs, queue) == []  # a dry run sends nothing
    late = {**others[0], "entity_id": "flow-user", "payload": {"late": True}}  # arrives after the review
    assert count_statuses(ingest_events(stack.info.api_url, [late], progress=False)) == {"ACCEPTED": 1}
    executed = kit.replay(run=reviewed["replay_id"])
    assert (executed["dry_run"], executed["status"], executed["matched"], executed["sent"]) == (
        False,
        "COMPLETED",
        3,
        3,
    )
    assert executed["replay_id"] != reviewed["replay_id"] and executed["target"] == f"sqs:{queue}"
    bodies = [json.loads(m["Body"]) for m in drain_queue(sqs, queue)]
    assert sorted(b["replay"]["event_id"] for b in bodies) == sorted(reviewed["sample_event_ids"])
    assert {b["replay"]["replay_id"] for b in bodies} == {executed["replay_id"]}
    assert {b["event"]["entity_id"] for b in bodies} == {"flow-user"}
    assert executed["scanned"] == 4  # the late event was read, and left out: it was not reviewed
    again = kit.replay(run=reviewed["replay_id"])
    assert (again["replay_id"], again["status"], again["sent"]) == (executed["replay_id"], "COMPLETED", 3)
    assert drain_queue(sqs, queue) == []  # not sent again
    runs = kit.replays()
    assert sorted(runs["replay_id"]) == sorted([reviewed["replay_id"], executed["replay_id"]])
    unknown = "rp-" + "0" * 32
    with pytest.raises(ApiError) as refused:
        kit.replay(run=unknown)
    assert (refused.value.status, str(refused.value)) == (404, f"POST /replay answered 404: no replay run {unknown}")
    with pytest.raises(ApiError) as malformed:
        kit.replay(run=unknown + "\n")  # a trailing newline is not an id either
    assert malformed.value.status == 400
    assert [(d["field"], d["rule"]) for d in malformed.value.body["details"]] == [("run", "pattern")]
