"""The SQS processor through the real handler: recompute from raw, versions, partial failures."""

from __future__ import annotations

import json
from datetime import timedelta

import boto3
import pytest

from pik.core import identity
from pik.handlers import processor, replay
from tests.support.events import sqs_event
from tests.support.lambdas import LambdaContext, call
from tests.support.replays import DAY, drain, process_queue, seed, window


def versions(stack, metric="count"):
    table = boto3.resource("dynamodb").Table(stack.outputs["aggregates_table_name"])
    items = table.query(KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": "AGG#customer-42"})["Items"]
    return sorted((i for i in items if i["metric"] == metric), key=lambda i: i["version"])


def replay_all(**extra):
    status, run = call(replay, "/replay", window(entity_id="customer-42", dry_run=False, **extra))
    assert status == 200
    return run


@pytest.fixture
def fields(monkeypatch):
    monkeypatch.setenv("AGGREGATE_FIELDS", "amount")


def test_twenty_five_events_in_batches_of_ten_count_twenty_five_and_replay_again_adds_no_version(stack, fields):
    ids = seed(count=25, step=timedelta(minutes=30))
    run = replay_all()
    bodies, responses = process_queue(stack)
    assert len(bodies) == 25 and [r["batchItemFailures"] for r in responses] == [[], [], []]
    [v1] = versions(stack)
    assert (v1["version"], v1["value"], v1["input_count"]) == (1, 25, 25)
    assert v1["inputs_hash"] == identity.inputs_hash(ids) and v1["replay_id"] == run["replay_id"]
    assert versions(stack, "sum.amount")[0]["value"] == sum(range(25))
    assert versions(stack, "max.amount")[0]["value"] == 24
    manifest = json.loads(
        boto3.client("s3").get_object(Bucket=stack.outputs["raw_bucket_name"], Key=v1["manifest_key"])["Body"].read()
    )
    assert sorted(row["event_id"] for row in manifest["inputs"]) == sorted(ids)

    replay_all()
    process_queue(stack)
    assert [v["version"] for v in versions(stack)] == [1]


def test_a_late_event_makes_version_two_naming_the_new_input(stack):
    seed(count=3)
    replay_all()
    process_queue(stack)
    [late] = seed(count=1, start=DAY + timedelta(hours=20))
    replay_all()
    process_queue(stack)
    v1, v2 = versions(stack)
    assert (v1["value"], v2["value"], v2["version"]) == (3, 4, 2)
    s3 = boto3.client("s3")
    old, new = (
        {
            row["event_id"]
            for row in json.loads(
                s3.get_object(Bucket=stack.outputs["raw_bucket_name"], Key=v["manifest_key"])["Body"].read()
            )["inputs"]
        }
        for v in (v1, v2)
    )
    assert new - old == {late} and old - new == set()


def test_a_code_version_change_makes_a_new_version_with_the_same_inputs(stack, monkeypatch):
    seed(count=2)
    replay_all()
    process_queue(stack)
    monkeypatch.setenv("AGGREGATOR", "tests.functional.custom_aggregator:doubled")
    replay_all()
    process_queue(stack)
    v1, v2 = versions(stack)
    assert v1["inputs_hash"] == v2["inputs_hash"]
    assert (v2["value"], v2["code_version"]) == (4, "doubled-v1")


def test_a_poison_message_is_reported_alone_and_the_rest_succeeds(stack):
    seed(count=4)
    replay_all()
    bodies = [json.dumps(b) for b in drain(stack)]
    event = sqs_event(bodies[:2] + ["not json at all"] + bodies[2:])
    response = processor.handler(event, LambdaContext())
    assert response["batchItemFailures"] == [{"itemIdentifier": "msg-2"}]
    assert versions(stack)[0]["value"] == 4


def test_a_tampered_raw_object_fails_its_group_only(stack):
    seed(count=2)
    seed(entity="other", count=2)
    replay_all()
    call(replay, "/replay", window(entity_id="other", dry_run=False))
    bodies = [json.dumps(b) for b in drain(stack)]
    s3, bucket = boto3.client("s3"), stack.outputs["raw_bucket_name"]
    victim = json.loads(bodies[0])
    document = json.loads(s3.get_object(Bucket=bucket, Key=victim["s3_key"])["Body"].read())
    document["event"]["payload"] = {"amount": 999}
    s3.put_object(Bucket=bucket, Key=victim["s3_key"], Body=json.dumps(document))
    response = processor.handler(sqs_event(bodies), LambdaContext())
    failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
    assert failed == {f"msg-{i}" for i, b in enumerate(bodies) if json.loads(b)["entity_id"] == "customer-42"}
    assert versions(stack) == []


def test_dry_run_computes_but_writes_no_version_and_no_manifest(stack, monkeypatch):
    seed(count=2)
    replay_all()
    monkeypatch.setenv("DRY_RUN", "true")
    process_queue(stack)
    assert versions(stack) == []
    assert (
        boto3.client("s3").list_objects_v2(Bucket=stack.outputs["raw_bucket_name"], Prefix="manifests/")["KeyCount"]
        == 0
    )


def test_racing_processors_write_each_version_exactly_once(stack):
    from concurrent.futures import ThreadPoolExecutor

    from pik.handlers.processor import recomputer
    from pik.settings import Settings

    seed(count=3)
    day = DAY.date().isoformat()
    workers = [recomputer(Settings.from_env()) for _ in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda w: w.recompute("customer-42", day, replay_id="race"), workers))
    assert [v["version"] for v in versions(stack)] == [1]
    assert sum(len(r["written"]) for r in results) == 1


@pytest.mark.parametrize(
    "amounts",
    [
        [10**130 * 1.0],  # beyond DynamoDB's largest number (1e126)
        [10**45 + 1, 7],  # 46 significant digits
        [1e-200, 3],  # below its smallest (1e-130)
        [1.5e-205, 2.25],
        [1e308, 1e308],  # a float sum would be infinity
        [0.1, 0.2, -0.3],  # a float sum would be 5.55e-17
    ],
)
def test_extreme_amounts_give_whole_exact_versions_never_a_poisoned_entity_day(stack, fields, amounts):
    """Valid JSON numbers never make the processor fail: every metric of the version is written,
    sums exact (as decimal text where DynamoDB's number range or 38 digits cannot hold them)."""
    from decimal import Decimal

    from pik.handlers import ingest
    from tests.support.events import make_event

    for i, amount in enumerate(amounts):
        body = make_event(
            entity_id="customer-42", event_time=(DAY + timedelta(minutes=i)).isoformat(), payload={"amount": amount}
        )
        assert call(ingest, "/ingest", body)[0] == 200
    replay_all()
    _, responses = process_queue(stack)
    assert [r["batchItemFailures"] for r in responses] == [[]]
    from decimal import localcontext

    from pik.core.metrics import EXACT, as_decimal

    with localcontext(EXACT):  # the test's own arithmetic must not round either
        exact = sum((as_decimal(a) for a in amounts), Decimal(0))
    stored = {metric: versions(stack, metric) for metric in ("count", "sum.amount", "min.amount", "max.amount")}
    assert {metric: [v["version"] for v in found] for metric, found in stored.items()} == {
        "count": [1],
        "sum.amount": [1],
        "min.amount": [1],
        "max.amount": [1],
    }
    assert Decimal(str(stored["sum.amount"][0]["value"])) == exact
    assert Decimal(str(stored["min.amount"][0]["value"])) == min(as_decimal(a) for a in amounts)
    assert Decimal(str(stored["max.amount"][0]["value"])) == max(as_decimal(a) for a in amounts)
