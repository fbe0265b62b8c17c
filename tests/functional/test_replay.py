"""POST /replay through the real handler against moto: paging, batching, safety and idempotency."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import boto3
import pytest

from pik.aws.sqs import ReplayQueue
from pik.bootstrap import replay_wiring
from pik.core.timefmt import UTC
from pik.handlers import ingest, replay
from pik.services import replay as replay_service
from pik.settings import Settings
from tests.support.events import make_event
from tests.support.lambdas import call
from tests.support.replays import DAY, drain, seed, window


def test_dry_run_is_the_default_counts_by_day_and_sends_nothing(stack):
    ids = seed(count=4)
    status, run = call(replay, "/replay", window(entity_id="customer-42"))
    assert status == 200
    assert run["dry_run"] is True and run["status"] == "COMPLETED"
    assert (run["scanned"], run["matched"], run["sent"]) == (4, 4, 0)
    assert run["by_day"] == {DAY.date().isoformat(): 4}
    assert run["sample_event_ids"] == ids
    assert run["requester"] == "arn:aws:iam::123456789012:user/oncall"
    assert drain(stack) == []


def test_replay_follows_every_page_and_sends_every_event_once(stack):
    ids = seed(count=23)
    settings = Settings.from_env()
    run = replay_service.replay(
        window(entity_id="customer-42", dry_run=False),
        requester="tester",
        now=datetime.now(UTC),
        remaining_ms=lambda: 30_000,
        settings=settings,
        wiring=dataclasses.replace(replay_wiring(settings), page_size=4),
    )
    assert (run["matched"], run["sent"]) == (23, 23)
    bodies = drain(stack)
    assert sorted(b["event_id"] for b in bodies) == sorted(ids)
    assert {b["replay_id"] for b in bodies} == {run["replay_id"]}


def test_duplicates_are_skipped_unless_asked(stack):
    body = make_event(event_time=(DAY + timedelta(hours=1)).isoformat())
    call(ingest, "/ingest", body)
    call(ingest, "/ingest", body)
    _, plain = call(replay, "/replay", window(entity_id="customer-42"))
    _, with_dups = call(replay, "/replay", window(entity_id="customer-42", include_duplicates=True))
    assert (plain["scanned"], plain["matched"]) == (2, 1)
    assert (with_dups["scanned"], with_dups["matched"]) == (2, 2)


def test_the_same_client_token_enqueues_once_and_returns_the_same_run(stack):
    seed(count=3)
    request = window(entity_id="customer-42", dry_run=False, client_token="click-1")
    _, first = call(replay, "/replay", request)
    _, second = call(replay, "/replay", request)
    assert second == first and first["sent"] == 3
    assert len(drain(stack)) == 3
    status, clash = call(replay, "/replay", {**request, "limit": 1})
    assert status == 409 and "client_token" in clash["error"]


def test_source_and_type_scope_spans_days_and_filters_the_window(stack):
    seed(entity="a", count=3, source="web", start=DAY - timedelta(hours=2), step=timedelta(hours=1))
    seed(entity="b", count=2, source="web", start=DAY + timedelta(hours=5))
    seed(entity="c", count=2, source="mobile", start=DAY + timedelta(hours=5))
    _, run = call(
        replay,
        "/replay",
        {
            "source": "web",
            "event_type": "order_placed",
            "start_time": (DAY - timedelta(hours=1)).isoformat(),
            "end_time": (DAY + timedelta(hours=6)).isoformat(),
        },
    )
    assert run["matched"] == 4  # a at -1h and 0h, then b at +5h and +5h07
    assert run["by_day"] == {(DAY - timedelta(days=1)).date().isoformat(): 1, DAY.date().isoformat(): 3}


def test_limit_stops_with_a_continuation_that_resumes_the_same_run(stack):
    ids = seed(count=7)
    request = window(entity_id="customer-42", dry_run=False, limit=3)
    _, part = call(replay, "/replay", request)
    assert (part["status"], part["sent"], part["matched"]) == ("PARTIAL", 3, 3)
    sent = drain(stack)
    while part["continuation"]:
        _, part = call(replay, "/replay", {**request, "continuation": part["continuation"]})
        sent += drain(stack)
    assert part["status"] == "COMPLETED" and part["sent"] == 7
    assert sorted(b["event_id"] for b in sent) == sorted(ids)


def test_low_remaining_time_returns_a_continuation_instead_of_timing_out(stack):
    seed(count=4)
    status, run = call(replay, "/replay", window(entity_id="customer-42", dry_run=False), remaining_ms=1_000)
    assert status == 200 and run["status"] == "PARTIAL" and run["sent"] == 0 and run["continuation"]
    _, done = call(replay, "/replay", window(entity_id="customer-42", dry_run=False, continuation=run["continuation"]))
    assert done["status"] == "COMPLETED" and done["sent"] == 4


def test_every_run_is_recorded_with_requester_and_counts(stack):
    seed(count=2)
    _, run = call(replay, "/replay", window(entity_id="customer-42"))
    item = (
        boto3.resource("dynamodb")
        .Table(stack.outputs["replays_table_name"])
        .get_item(Key={"pk": f"RUN#{run['replay_id']}", "sk": "RUN"})["Item"]
    )
    assert item["requester"] == "arn:aws:iam::123456789012:user/oncall"
    assert (item["status"], item["matched"], item["dry_run"]) == ("COMPLETED", 2, True)


def test_dry_run_environment_records_nothing(stack, monkeypatch):
    seed(count=2)
    monkeypatch.setenv("DRY_RUN", "true")
    _, run = call(replay, "/replay", window(entity_id="customer-42", dry_run=False))
    assert run["dry_run"] is True and run["matched"] == 2 and run["sent"] == 0
    assert boto3.client("dynamodb").scan(TableName=stack.outputs["replays_table_name"])["Count"] == 0


@pytest.mark.parametrize(
    "body,field,rule",
    [
        ({"start_time": "2026-01-01T00:00:00Z", "end_time": "2026-01-02T00:00:00Z"}, "scope", "one_of"),
        (window(entity_id="x", source="web", event_type="t"), "scope", "one_of"),
        (window(source="web"), "scope", "one_of"),
        (window(entity_id="x", dry_run="false"), "dry_run", "type"),
        (window(entity_id="x", limit=0), "limit", "range"),
        (window(entity_id="x", limit=True), "limit", "range"),
        (
            {"entity_id": "x", "start_time": "2026-01-02T00:00:00Z", "end_time": "2026-01-01T00:00:00Z"},
            "end_time",
            "after_start",
        ),
        (
            {"entity_id": "x", "start_time": "2026-01-01T00:00:00", "end_time": "2026-01-02T00:00:00Z"},
            "start_time",
            "iso8601",
        ),
        (
            {"entity_id": "x", "start_time": "2025-01-01T00:00:00Z", "end_time": "2026-01-02T00:00:00Z"},
            "end_time",
            "max_window",
        ),
        (window(entity_id="x", client_token="a b"), "client_token", "pattern"),
        (window(entity_id="x", continuation="garbage!"), "continuation", "format"),
        (window(entity_id="x", bogus=1), "bogus", "unknown_field"),
        (
            window(entity_id="x", client_token="tok\n"),
            "client_token",
            "pattern",
        ),  # ``$`` matched before a final newline
        ({"event_ids": ["a" * 64 + "\n"]}, "event_ids", "pattern"),
        ({"replay_id": "rp-" + "0" * 32 + "\n"}, "replay_id", "pattern"),
    ],
)
def test_bad_replay_requests_name_field_and_rule(stack, body, field, rule):
    status, answer = call(replay, "/replay", body)
    assert status == 400
    assert {"field": field, "rule": rule} in [{"field": d["field"], "rule": d["rule"]} for d in answer["details"]]
    assert drain(stack) == []


def test_invalid_json_body_is_a_400(stack):
    status, answer = call(replay, "/replay", "{nope")
    assert status == 400 and answer["details"][0]["rule"] == "json"


def test_a_body_nested_too_deep_is_a_400_not_a_502(stack):
    status, answer = call(replay, "/replay", "[" * 2000 + "]" * 2000)
    assert (status, answer["details"][0]["field"], answer["details"][0]["rule"]) == (400, "body", "depth")


def test_entries_sqs_reports_as_failed_are_sent_again_and_only_those(stack):
    from pik.aws import clients

    client = clients.client("sqs")
    calls = []

    def record(params, **_):
        calls.append([entry["Id"] for entry in params["Entries"]])

    def fail_one_entry_once(parsed, **_):
        if len(calls) == 1:  # as AWS may: HTTP 200 with a failed entry
            parsed["Failed"] = [{"Id": "1", "SenderFault": False, "Code": "InternalError"}]
            parsed["Successful"] = [s for s in parsed["Successful"] if s["Id"] != "1"]

    client.meta.events.register("before-parameter-build.sqs.SendMessageBatch", record)
    client.meta.events.register("after-call.sqs.SendMessageBatch", fail_one_entry_once)
    sent = ReplayQueue(stack.outputs["replay_queue_url"]).send([{"n": i} for i in range(3)])
    assert sent == 3 and calls == [["0", "1", "2"], ["1"]]
