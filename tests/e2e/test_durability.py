"""Acknowledged means durable: `pik local up --state-dir` killed with SIGKILL (the stack, moto and
the API workers at once) at a point chosen by the count of acknowledged ingests, and again while
it saves its snapshot; after each restart every acknowledged event is whole."""

from __future__ import annotations

import json
import os
import random
import signal
import threading
from pathlib import Path

from pik.core import keys
from pik_api import ApiClient
from tests.support.events import example_event
from tests.support.waits import wait_for

EVENTS = 1000
SENDERS = 4


def kill_stack(pid: int) -> None:
    """SIGKILL the stack's process and its children (moto, API workers), by pid, nothing in between."""
    children = [
        int(child) for task in Path(f"/proc/{pid}/task").iterdir() for child in (task / "children").read_text().split()
    ]
    for target in (*children, pid):
        os.kill(target, signal.SIGKILL)


def send_until_killed(stack, events: list[dict], kill_after: int) -> dict[str, dict]:
    """Ingest ``events`` from ``SENDERS`` threads; SIGKILL the stack once ``kill_after`` answers were
    200 ACCEPTED. Returns the acknowledged events by event id (answers received before the kill)."""
    acknowledged: dict[str, dict] = {}
    lock, reached = threading.Lock(), threading.Event()
    pending = iter(events)

    def sender() -> None:
        with ApiClient(stack.info.api_url, workers=1, timeout_s=30) as api:
            while True:
                with lock:
                    event = next(pending, None)
                if event is None:
                    return
                try:
                    status, answer = api.send("/ingest", json.dumps(event))
                except Exception:  # the stack is gone: no answer, not acknowledged
                    return
                if status == 200 and answer["status"] == "ACCEPTED":
                    with lock:
                        acknowledged[answer["event_id"]] = event
                        if len(acknowledged) >= kill_after:
                            reached.set()

    threads = [threading.Thread(target=sender) for _ in range(SENDERS)]
    for thread in threads:
        thread.start()
    assert reached.wait(timeout=120), f"only {len(acknowledged)} acknowledged"
    kill_stack(stack.process.pid)
    for thread in threads:
        thread.join(timeout=60)
    with lock:
        return dict(acknowledged)


def stored(stack) -> tuple[dict[str, dict], list[dict], set[str]]:
    """Gates by event id, attempt items, and raw object keys, as the stack holds them now."""
    s3, ddb, out = stack.client("s3"), stack.client("dynamodb"), stack.info.outputs
    items = [
        item
        for page in ddb.get_paginator("scan").paginate(TableName=out["events_table_name"], ConsistentRead=True)
        for item in page["Items"]
    ]
    raw_keys = {
        obj["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=out["raw_bucket_name"], Prefix="raw/")
        for obj in page.get("Contents", [])
    }
    gates = {item["event_id"]["S"]: item for item in items if item["sk"]["S"] == keys.META_SK}
    return gates, sorted((i for i in items if i["sk"]["S"] != keys.META_SK), key=lambda i: i["sk"]["S"]), raw_keys


def assert_whole(stack, acknowledged: dict[str, dict]) -> list[str]:
    """Every acknowledged event has its gate and its raw object holding exactly what was sent; no
    gate without its raw object, no attempt without its gate. Returns the raw keys without a gate:
    ingest's own crash state (raw first, then the transaction) of a request that got no answer."""
    gates, attempts, raw_keys = stored(stack)
    assert set(acknowledged) <= set(gates), f"lost {len(set(acknowledged) - set(gates))} acknowledged events"
    gate_keys = {gate["s3_key"]["S"] for gate in gates.values()}
    assert gate_keys <= raw_keys
    assert {item["event_id"]["S"] for item in attempts} == set(gates)
    s3, bucket = stack.client("s3"), stack.info.outputs["raw_bucket_name"]
    for event_id, sent in acknowledged.items():
        document = json.loads(s3.get_object(Bucket=bucket, Key=gates[event_id]["s3_key"]["S"])["Body"].read())
        assert document["event"] == sent and document["envelope"]["event_id"] == event_id
    return sorted(raw_keys - gate_keys)


def test_every_acknowledged_ingest_survives_sigkill_mid_stream_and_mid_snapshot(start_stack, tmp_path):
    state = tmp_path / "state"
    events = [
        example_event(entity_id=f"user_{i:04d}", payload={"steps": i, "note": 'é\u2028"x"'}) for i in range(EVENTS)
    ]
    kill_after = random.Random(9).randint(100, 500)  # SIGKILL once this many were acknowledged

    first = start_stack("--state-dir", str(state), name="first")
    acknowledged = send_until_killed(first, events, kill_after)
    assert len(acknowledged) >= kill_after
    assert not (state / "snapshot").exists()  # nothing was saved: only the journal holds them

    second = start_stack("--state-dir", str(state), name="second")
    assert "replayed" in second.output() and "refused" not in second.output()  # every journaled write applied again
    half = assert_whole(second, acknowledged)
    assert len(half) <= SENDERS  # at most the requests in flight at the kill
    # their producer retries them (they got no answer): each completes, nothing is left half-written;
    # the stored bytes came first, so their request is the ACCEPTED attempt and the retry a DUPLICATE
    s3, bucket = second.client("s3"), second.info.outputs["raw_bucket_name"]
    retried = [json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())["event"] for key in half]
    with ApiClient(second.info.api_url) as api:
        assert [result.status for result in api.ingest(retried, progress=False)] == ["DUPLICATE"] * len(half)
    before = stored(second)
    assert {gate["s3_key"]["S"] for gate in before[0].values()} == before[2]  # no raw object without its gate now

    os.kill(second.process.pid, signal.SIGTERM)  # a clean stop saves a snapshot ...
    wait_for(lambda: (state / "snapshot.tmp" / "s3" / "RawBucket.jsonl").exists(), every_s=0.005, what="the snapshot")
    kill_stack(second.process.pid)  # ... killed while it is being written
    assert not (state / "snapshot" / "manifest.json").exists() and (state / "snapshot.tmp").exists()

    third = start_stack("--state-dir", str(state), name="third")
    assert stored(third) == before  # the same items and objects, from the journals alone
    assert third.stop() == 0  # a clean stop: the snapshot is whole and the journals it covers are gone
    manifest = json.loads((state / "snapshot" / "manifest.json").read_text())
    assert manifest["counts"]["RawBucket"] == len(before[2]) and manifest["journal_through"] == 3
    assert list((state / "journal").glob("*.log")) == []


def test_an_executed_replay_run_and_its_aggregates_survive_sigkill(start_stack, tmp_path):
    """The run record and its SQS sends are journaled; the aggregate versions (written by the
    processor in the stack's own process) are not, so after the kill the re-sent messages make
    the processor write the same version again: one version, same value, same run."""
    from datetime import datetime, timedelta

    from pik.core.timefmt import UTC

    state = tmp_path / "state"
    day = (datetime.now(UTC) - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    bodies = [
        example_event(entity_id="durable-user", event_time=(day + timedelta(hours=i)).isoformat()) for i in range(3)
    ]
    first = start_stack("--state-dir", str(state), name="first")
    with ApiClient(first.info.api_url) as api:
        assert [r.status for r in api.ingest(bodies, progress=False)] == ["ACCEPTED"] * 3
        run = api.replay(
            {
                "entity_id": "durable-user",
                "start_time": day.isoformat(),
                "end_time": (day + timedelta(days=1)).isoformat(),
                "dry_run": False,
            }
        )
    assert (run["status"], run["sent"]) == ("COMPLETED", 3)

    def versions(stack):
        table = stack.info.outputs["aggregates_table_name"]
        items = stack.client("dynamodb").query(
            TableName=table,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": keys.aggregate_pk("durable-user")}},
        )["Items"]
        return sorted((i["metric"]["S"], i["version"]["N"], i["value"]["N"], i["replay_id"]["S"]) for i in items)

    def runs(stack):
        ddb, table = stack.client("dynamodb"), stack.info.outputs["replays_table_name"]
        return sorted(
            json.dumps(i, sort_keys=True)
            for p in ddb.get_paginator("scan").paginate(TableName=table)
            for i in p["Items"]
        )

    expected = [("count", "1", "3", run["replay_id"])]
    wait_for(lambda: versions(first) == expected, timeout_s=60, what="the processor")
    before = runs(first)
    kill_stack(first.process.pid)

    second = start_stack("--state-dir", str(state), name="second")
    assert runs(second) == before  # the run record, exactly (status, counts, cursor, step)
    wait_for(lambda: versions(second) == expected, timeout_s=60, what="the processor, again")
