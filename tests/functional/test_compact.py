"""The compaction handler under moto: Parquet parts, manifests, watermark, idempotence, late events."""

from __future__ import annotations

import io
import json

import boto3
import pyarrow.parquet as pq
import pytest

from pik.core import curated
from tests.support.compaction import DAY, at, objects, run, send
from tests.support.events import make_event


def raw_objects(stack) -> dict[str, str]:
    s3, bucket = boto3.client("s3"), stack.outputs["raw_bucket_name"]
    return {o["Key"]: o["ETag"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="raw/").get("Contents", [])}


def part(store, layout: str, event_date: str = DAY):
    prefix = curated.partition_prefix(layout, curated.Partition("checkout", "order_placed", event_date))
    [(key, (_, body))] = [(k, v) for k, v in store.items() if k.startswith(prefix)]
    return key, pq.read_table(io.BytesIO(body))


@pytest.fixture
def seeded(stack):
    first = [
        send(make_event(entity_id=f"c-{i}", event_time=at(i), payload={"amount": 10 * i, "country": "DE"}))
        for i in range(3)
    ]
    send(make_event(entity_id="c-0", event_time=at(0), payload={"amount": 0, "country": "DE"}))  # a duplicate
    return first


def test_compaction_writes_every_attempt_and_each_accepted_event_once(stack, seeded):
    raw_before = raw_objects(stack)
    result = run()
    assert {k: result[k] for k in ("partitions", "written", "unchanged", "attempts", "events")} == {
        "partitions": 1,
        "written": 1,
        "unchanged": 0,
        "attempts": 4,
        "events": 3,
    }
    store = objects(stack)
    key, attempts = part(store, "attempts")
    assert key.startswith(f"curated/attempts/source=checkout/event_type=order_placed/event_date={DAY}/part-")
    assert sorted(attempts.column("status").to_pylist()) == ["ACCEPTED"] * 3 + ["DUPLICATE"]
    assert "source" not in attempts.column_names  # partition columns live in the path
    assert str(attempts.schema.field("ingest_time").type) == "timestamp[us, tz=UTC]"
    _, events = part(store, "events")
    assert events.column("event_id").to_pylist() == [a["event_id"] for a in seeded]
    assert events.column("amount").to_pylist() == [0, 10, 20]
    assert json.loads(events.column("payload")[1].as_py()) == {"amount": 10, "country": "DE"}
    manifest = json.loads(store[curated.manifest_key(curated.Partition("checkout", "order_placed", DAY))][1])
    events_key = part(store, "events")[0]
    assert manifest["files"] == {"attempts": [key], "events": [events_key]}
    assert manifest["ids"][events_key] == sorted(a["event_id"] for a in seeded) and len(manifest["ids"][key]) == 4
    assert manifest["columns"]["events"]["amount"] == "int" and manifest["columns"]["events"]["country"] == "text"
    watermark = json.loads(store[curated.WATERMARK_KEY][1])
    assert watermark["recorded_at"] == result["watermark"]
    assert raw_objects(stack) == raw_before  # raw/ is read, never rewritten


def test_a_second_run_changes_no_byte(stack, seeded):
    run()
    before = {k: v for k, v in objects(stack).items() if k != curated.WATERMARK_KEY}
    again = run()
    assert (again["written"], again["unchanged"]) == (0, 1)  # the watermark is older than these arrivals
    after = {k: v for k, v in objects(stack).items() if k != curated.WATERMARK_KEY}
    assert after == before


def raw_gets(client) -> list[str]:
    """Record the raw/ keys ``client`` GETs from now on."""
    seen: list[str] = []

    def record(params, **_):
        if params.get("Key", "").startswith("raw/"):
            seen.append(params["Key"])

    client.meta.events.register("provide-client-params.s3.GetObject", record)
    return seen


def test_a_late_event_for_a_compacted_day_is_added_by_the_next_run_without_duplicating_a_row(stack, seeded):
    from pik.aws import clients

    run()
    old_events_key, _ = part(objects(stack), "events")
    late = send(make_event(entity_id="c-9", event_time=at(23), payload={"amount": 7.5, "country": "FR"}))
    gets = raw_gets(clients.client("s3"))
    result = run()
    assert gets == [late["s3_key"]]  # the compacted events' payloads come from their part, not from raw/
    assert (result["written"], result["events"], result["attempts"]) == (1, 4, 5)
    store = objects(stack)
    key, events = part(store, "events")  # exactly one part: the old one was deleted after the switch
    assert key != old_events_key and old_events_key not in store
    ids = events.column("event_id").to_pylist()
    assert len(ids) == len(set(ids)) == 4 and ids[-1] == late["event_id"]
    assert events.column("amount").to_pylist() == [0.0, 10.0, 20.0, 7.5]  # int + float widened to double
    assert str(events.schema.field("amount").type) == "double"
    incremental = {k: v for k, v in store.items() if k.endswith(".parquet")}
    s3, bucket = boto3.client("s3"), stack.outputs["raw_bucket_name"]
    for key in store:
        s3.delete_object(Bucket=bucket, Key=key)
    run()  # from scratch, every payload from raw/: the very same parts
    assert {k: v for k, v in objects(stack).items() if k.endswith(".parquet")} == incremental


def test_the_same_rows_give_the_same_bytes_and_key(stack, seeded):
    run()
    first = objects(stack)
    s3, bucket = boto3.client("s3"), stack.outputs["raw_bucket_name"]
    for key in [k for k in first if k != curated.WATERMARK_KEY]:
        s3.delete_object(Bucket=bucket, Key=key)
    s3.delete_object(Bucket=bucket, Key=curated.WATERMARK_KEY)  # the next run starts from scratch
    run()
    second = objects(stack)
    parts = [k for k in first if k.endswith(".parquet")]
    assert len(parts) == 2 and sorted(parts) == sorted(k for k in second if k.endswith(".parquet"))
    assert {k: second[k] for k in parts} == {k: first[k] for k in parts}  # same ETags, same bytes

    def manifest(store):
        [document] = [json.loads(v[1]) for k, v in store.items() if k.startswith(curated.MANIFEST_PREFIX)]
        return {k: v for k, v in document.items() if k != "compacted_at"}

    assert manifest(second) == manifest(first)


def test_a_failed_switch_leaves_the_previous_parts_readable(stack, seeded):
    """The manifest write fails after the new parts are written: the old manifest still lists
    parts that exist (nothing was deleted), and the next run completes the switch."""
    run()
    send(make_event(entity_id="c-8", event_time=at(22)))
    from pik.aws import clients

    client = clients.client("s3")

    def refuse_manifests(params, **_):
        if params.get("Key", "").startswith(curated.MANIFEST_PREFIX):
            raise RuntimeError("injected: manifest write failed")

    client.meta.events.register("provide-client-params.s3.PutObject", refuse_manifests)
    try:
        with pytest.raises(RuntimeError, match="injected"):
            run()
    finally:
        client.meta.events.unregister("provide-client-params.s3.PutObject", refuse_manifests)
    store = objects(stack)
    manifest = json.loads(store[curated.manifest_key(curated.Partition("checkout", "order_placed", DAY))][1])
    assert all(key in store for layout in curated.LAYOUTS for key in manifest["files"][layout])
    assert [len(manifest["ids"][k]) for k in manifest["files"]["events"]] == [3]
    result = run()
    assert (result["written"], result["events"]) == (1, 4)
    store = objects(stack)
    parts = [k for k in store if k.startswith("curated/events/")]
    assert len(parts) == 1  # the orphan part of the failed run is the new manifest's (same bytes, same key)
