"""`pik local up --state-dir`: stop, restart, and every object, item and queued message is back."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from pik_api import ingest_events
from pik_local.stack import LocalStack
from tests.support.events import example_event
from tests.support.waits import wait_for


def snapshot(stack):
    """Everything the stack holds, read through boto3."""
    s3, ddb, out = stack.client("s3"), stack.client("dynamodb"), stack.info.outputs
    objects = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=out["raw_bucket_name"]):
        for obj in page.get("Contents", []):
            objects[obj["Key"]] = s3.get_object(Bucket=out["raw_bucket_name"], Key=obj["Key"])["Body"].read()
    tables = {}
    for name in ("events_table_name", "aggregates_table_name", "replays_table_name"):
        items = [i for p in ddb.get_paginator("scan").paginate(TableName=out[name]) for i in p["Items"]]
        tables[name] = sorted(json.dumps(i, sort_keys=True) for i in items)
    return objects, tables


def dead_letters(stack):
    sqs = stack.client("sqs")
    messages = sqs.receive_message(
        QueueUrl=stack.info.outputs["replay_dead_letter_queue_url"],
        MaxNumberOfMessages=10,
        MessageAttributeNames=["All"],
    )["Messages"]
    return sorted((m["Body"], json.dumps(m.get("MessageAttributes", {}), sort_keys=True)) for m in messages)


def test_state_dir_keeps_objects_items_and_messages_across_a_restart(start_stack, tmp_path):
    state = tmp_path / "state"
    first = start_stack("--state-dir", str(state), name="first")
    answers = ingest_events(
        first.info.api_url, [example_event(), example_event(entity_id="user_456"), "not json"], progress=False
    )
    assert [a.status for a in answers] == ["ACCEPTED", "ACCEPTED", "REJECTED"]
    first.client("sqs").send_message(
        QueueUrl=first.info.outputs["replay_dead_letter_queue_url"],
        MessageBody="poison-1",
        MessageAttributes={"why": {"DataType": "String", "StringValue": "test"}},
    )
    before = snapshot(first)
    assert len(before[0]) == 3 and len(before[1]["events_table_name"]) == 4
    assert first.stop() == 0
    assert json.loads((state / "snapshot" / "manifest.json").read_text())["counts"] == {
        "RawBucket": 3,
        "EventsTable": 4,
        "AggregatesTable": 0,
        "ReplaysTable": 0,
        "ReplayQueue": 0,
        "ReplayDeadLetterQueue": 1,
    }

    second = start_stack("--state-dir", str(state), name="second")
    assert "restored 8 records" in second.output()
    assert snapshot(second) == before
    assert dead_letters(second) == [("poison-1", json.dumps({"why": {"DataType": "String", "StringValue": "test"}}))]
    repeat = ingest_events(
        second.info.api_url, [json.loads(before[0][answers[0].body["s3_key"]])["event"]], progress=False
    )
    assert repeat[0].status == "DUPLICATE"  # the dedup gate survived the restart


def test_without_state_dir_a_restart_starts_empty(start_stack):
    first = start_stack(name="first")
    ingest_events(first.info.api_url, [example_event()], progress=False)
    assert first.stop() == 0
    second = start_stack(name="second")
    assert "memory only" in second.output()
    assert snapshot(second) == ({}, {"events_table_name": [], "aggregates_table_name": [], "replays_table_name": []})


def test_a_crash_between_the_snapshot_renames_keeps_the_previous_snapshot(tmp_path):
    state = tmp_path / "state"
    with LocalStack(info_file=tmp_path / "a" / "local.json", state_dir=state) as first:
        ingest_events(first.info.api_url, [example_event()], progress=False)
    (state / "snapshot").rename(state / "snapshot.old")  # as if killed between the two renames
    with LocalStack(info_file=tmp_path / "b" / "local.json", state_dir=state) as second:
        assert second.restored == {
            "RawBucket": 1,
            "EventsTable": 2,
            "AggregatesTable": 0,
            "ReplaysTable": 0,
            "ReplayQueue": 0,
            "ReplayDeadLetterQueue": 0,
        }
    assert sorted(p.name for p in state.iterdir()) == ["journal", "snapshot"]
    assert [p.name for p in (state / "journal").iterdir()] == ["locks"]  # the snapshot covers every journal


def test_every_ingest_acknowledged_before_a_stop_is_in_the_snapshot(tmp_path):
    state = tmp_path / "state"
    events = [example_event(entity_id=f"user_{i:04d}") for i in range(600)]  # more than arrive before the stop
    with LocalStack(info_file=tmp_path / "a" / "local.json", state_dir=state) as stack:
        with ThreadPoolExecutor(1) as pool:
            sending = pool.submit(ingest_events, stack.info.api_url, events, workers=16, progress=False)
            wait_for(
                lambda: (
                    stack.session()
                    .client("s3")
                    .list_objects_v2(Bucket=stack.info.outputs["raw_bucket_name"])
                    .get("KeyCount", 0)
                    >= 20
                ),
                what="some ingests",
            )
            stack.stop()  # while ingests are still arriving
            answers = sending.result()
    accepted = {a.body["s3_key"] for a in answers if a.status == "ACCEPTED"}
    refused = [a.http_status for a in answers if a.status != "ACCEPTED"]
    assert 20 <= len(accepted) < 600 and set(refused) <= {503, 0}  # refused while stopping, or after
    saved = {
        json.loads(line)["key"] for line in (state / "snapshot" / "s3" / "RawBucket.jsonl").read_text().splitlines()
    }
    assert accepted <= saved
