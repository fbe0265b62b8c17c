"""Every tap on the local stack, switched on with `pik local up --param`, and the Kinesis mapping's
retry rules against moto's Kinesis."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

import pik_nb
from pik.core.timefmt import UTC
from pik_api import ApiClient
from pik_local.runtime import LocalFunction
from pik_local.stack import LocalStack
from pik_local.stream_poller import StreamMapping, StreamPoller
from tests.support.events import example_event
from tests.support.waits import wait_for

ACCOUNT = "123456789012"
PARAMS = [
    "--param",
    f"SqsTapQueueArn=arn:aws:sqs:us-east-1:{ACCOUNT}:orders",
    "--param",
    f"KinesisTapStreamArn=arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/clicks",
    "--param",
    "KinesisTapStartingPosition=TRIM_HORIZON",
    "--param",
    "EventBridgeTapBusName=shop",
    "--param",
    'EventBridgeTapPattern={"source": [{"prefix": "shop."}]}',
    "--param",
    'EventBridgeTapMapping={"entity_id": "$.detail.customer", "event_type": {"value": "order_placed"}}',
]


def keys(s3, bucket: str, prefix: str) -> list[str]:
    return sorted(
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for o in page.get("Contents", [])
    )


def test_each_tap_feeds_the_same_ingest_service(start_stack):
    stack = start_stack(*PARAMS)
    out = stack.info.outputs
    assert out["sqs_tap_queue_url"].endswith(f"/{ACCOUNT}/orders")
    assert out["kinesis_tap_stream_arn"] == f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/clicks"
    assert (out["event_bridge_tap_bus_name"], out["event_bridge_tap_rule_name"]) == ("shop", "pik-EventBridgeTapRule")
    assert "event_bridge_tap_dead_letter_queue_url" in out and "kinesis_tap_failure_queue_url" in out
    assert "SqsTapQueueArn" not in stack.output() and "sqs_tap_queue_url" in stack.output()  # the summary lists them

    shared = example_event(entity_id="tapped-1")
    send_through_every_tap(stack, shared)

    s3, bucket = stack.client("s3"), out["raw_bucket_name"]
    wait_for(
        lambda: len(keys(s3, bucket, "raw/")) == 4 and len(keys(s3, bucket, "rejected/")) == 2,
        timeout_s=60,
        what="4 raw objects and 2 rejected records",
    )
    with ApiClient(stack.info.api_url) as api:  # a batch through the API, into the same store
        results = api.ingest_batches([shared, example_event(entity_id="tapped-5")], progress=False)
    assert [r.status for r in results] == ["DUPLICATE", "ACCEPTED"]

    raw = keys(s3, bucket, "raw/")
    assert len(raw) == 5 and sum("/source=shop.orders/event_type=order_placed/" in k for k in raw) == 1
    documents = [json.loads(s3.get_object(Bucket=bucket, Key=k)["Body"].read()) for k in raw]
    by_entity = {d["event"]["entity_id"]: d for d in documents}
    assert sorted(by_entity) == ["tapped-1", "tapped-2", "tapped-3", "tapped-4", "tapped-5"]
    assert by_entity["tapped-1"]["event"] == shared
    assert by_entity["tapped-4"]["event"]["payload"] == {"customer": "tapped-4", "amount": 3}
    rejected = [json.loads(s3.get_object(Bucket=bucket, Key=k)["Body"].read()) for k in keys(s3, bucket, "rejected/")]
    assert sorted(doc["body"] for doc in rejected) == ["[1, 2]", "{broken"]
    first = by_entity["tapped-1"]["envelope"]["event_id"]
    attempts = stack.client("dynamodb").query(
        TableName=out["events_table_name"],
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": f"EVT#{first}"}},
    )["Items"]
    statuses = sorted(a["status"]["S"] for a in attempts if a["sk"]["S"].startswith("ATT#"))
    assert statuses == ["ACCEPTED", "DUPLICATE", "DUPLICATE"]  # SQS, Kinesis and the API: one event
    assert metric_totals(stack, at_least=9) == {
        "IngestRequestCount": 9,
        "IngestCount": 5,
        "DuplicateCount": 2,
        "RejectedCount": 2,
        "IngestErrorCount": 0,
    }


def send_through_every_tap(stack: LocalStack, shared: dict) -> None:
    """Three SQS messages (an event, one in an SNS envelope, a broken one), three Kinesis records (the
    same event again, another, a non-object) and two EventBridge events (one the rule's pattern drops)."""
    out = stack.info.outputs
    sqs, kinesis, events = (stack.client(name) for name in ("sqs", "kinesis", "events"))
    sns = {
        "Type": "Notification",
        "TopicArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:orders",
        "MessageId": "n-1",
        "Message": json.dumps(example_event(entity_id="tapped-2")),
    }
    for body in (json.dumps(shared), json.dumps(sns), "{broken"):
        sqs.send_message(QueueUrl=out["sqs_tap_queue_url"], MessageBody=body)
    for data in (json.dumps(shared), json.dumps(example_event(entity_id="tapped-3")), "[1, 2]"):
        kinesis.put_record(StreamName="clicks", Data=data.encode(), PartitionKey="p")
    entries = [
        {
            "Source": "shop.orders",
            "DetailType": "OrderPlaced",
            "EventBusName": "shop",
            "Detail": json.dumps({"customer": "tapped-4", "amount": 3}),
        },
        {"Source": "billing", "DetailType": "Invoice", "EventBusName": "shop", "Detail": json.dumps({"customer": "x"})},
    ]
    assert events.put_events(Entries=entries)["FailedEntryCount"] == 0


def metric_totals(stack: LocalStack, *, at_least: int) -> dict[str, int]:
    """The ingest metrics' totals of the last hour, once ``at_least`` requests are counted (every
    function's EMF lines, in the stack's lambda.log)."""
    kit = pik_nb.connect(path=stack.info_file)
    now = datetime.now(UTC)

    def totals() -> dict[str, int] | None:
        frame = kit.metrics(now - timedelta(hours=1), now + timedelta(hours=1), "60min")
        counts = {
            name: int(frame[name].sum())
            for name in ("IngestRequestCount", "IngestCount", "DuplicateCount", "RejectedCount", "IngestErrorCount")
        }
        seen.append(counts)
        return counts if counts["IngestRequestCount"] >= at_least else None

    seen: list[dict[str, int]] = []
    # the EMF lines are written when each invocation ends, after the writes the test waited for: on a loaded
    # machine the last tap poll can take a while; the failure says what was counted by then
    return wait_for(totals, timeout_s=120, what=lambda: f"the metrics of {at_least} records (counted: {seen[-1:]})")


@pytest.fixture
def kinesis_stack(tmp_path):
    with LocalStack(
        info_file=tmp_path / "local.json",
        api_workers=0,
        log_level="ERROR",
        parameters={"KinesisTapStreamArn": f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/retries"},
    ) as stack:
        yield stack


def records_of(event: dict) -> list[str]:
    import base64

    return [base64.b64decode(r["kinesis"]["data"]).decode() for r in event["Records"]]


def test_kinesis_retries_from_the_failed_record_then_describes_the_batch_to_the_failure_queue(kinesis_stack):
    session = kinesis_stack.session()
    kinesis, sqs = session.client("kinesis"), session.client("sqs")
    failure_url = kinesis_stack.info.outputs["kinesis_tap_failure_queue_url"]
    for name in "abcd":
        kinesis.put_record(StreamName="retries", Data=name.encode(), PartitionKey="p")
    calls: list[list[str]] = []

    def handler(event, context):  # "c" always fails
        calls.append(records_of(event))
        return {
            "batchItemFailures": [
                {"itemIdentifier": r["kinesis"]["sequenceNumber"]}
                for r in event["Records"]
                if records_of({"Records": [r]}) == ["c"]
            ]
        }

    arn = kinesis_stack.info.outputs["kinesis_tap_stream_arn"]
    poller = StreamPoller(
        kinesis,
        sqs,
        StreamMapping(arn, "TRIM_HORIZON", 10, True, True, 2, failure_url),
        LocalFunction("T", handler),
        "us-east-1",
    )
    assert poller.poll_once() == 4
    assert calls == [["a", "b", "c", "d"], ["c", "d"], ["c", "d"]]
    [message] = sqs.receive_message(QueueUrl=failure_url, MaxNumberOfMessages=10)["Messages"]
    info = json.loads(message["Body"])
    assert info["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert (info["KinesisBatchInfo"]["batchSize"], info["KinesisBatchInfo"]["streamArn"]) == (2, arn)
    assert poller.poll_once() == 0  # the shard moved on


def test_a_function_error_bisects_the_batch_until_the_poison_record_is_alone(kinesis_stack):
    session = kinesis_stack.session()
    kinesis, sqs = session.client("kinesis"), session.client("sqs")
    for name in "abcd":
        kinesis.put_record(StreamName="retries", Data=name.encode(), PartitionKey="p")
    calls: list[list[str]] = []

    def handler(event, context):
        calls.append(records_of(event))
        if "b" in calls[-1]:
            raise RuntimeError("poison")
        return {"batchItemFailures": []}

    arn = kinesis_stack.info.outputs["kinesis_tap_stream_arn"]
    poller = StreamPoller(
        kinesis,
        sqs,
        StreamMapping(arn, "TRIM_HORIZON", 10, True, True, 0, None),
        LocalFunction("T", handler),
        "us-east-1",
    )
    poller.poll_once()
    assert calls == [["a", "b", "c", "d"], ["a", "b"], ["a"], ["b"], ["c", "d"]]


def test_a_stack_with_taps_saves_and_restores_the_tap_queues(tmp_path):
    parameters = {"EventBridgeTapBusName": "shop"}
    with LocalStack(
        info_file=tmp_path / "a" / "local.json",
        state_dir=tmp_path / "state",
        api_workers=0,
        parameters={**parameters, "EnableProcessor": "false"},
    ) as stack:
        sqs = stack.session().client("sqs")
        sqs.send_message(QueueUrl=stack.info.outputs["event_bridge_tap_dead_letter_queue_url"], MessageBody="failed")
        assert "ProcessorFunction" not in [p.function.name for p in stack._pollers]
    saved = json.loads((tmp_path / "state" / "snapshot" / "manifest.json").read_text())["counts"]
    assert saved["EventBridgeTapDeadLetterQueue"] == 1 and saved["EventBridgeTapQueue"] == 0
    with LocalStack(
        info_file=tmp_path / "b" / "local.json", state_dir=tmp_path / "state", api_workers=0, parameters=parameters
    ) as stack:
        assert stack.restored["EventBridgeTapDeadLetterQueue"] == 1
        body = (
            stack.session()
            .client("sqs")
            .receive_message(QueueUrl=stack.info.outputs["event_bridge_tap_dead_letter_queue_url"])["Messages"][0][
                "Body"
            ]
        )
        assert body == "failed"


def test_a_fifo_queue_tap_ingests_every_group(start_stack):
    stack = start_stack("--param", f"SqsTapQueueArn=arn:aws:sqs:us-east-1:{ACCOUNT}:orders.fifo")
    out = stack.info.outputs
    assert out["sqs_tap_queue_url"].endswith("/orders.fifo")
    sqs, s3 = stack.client("sqs"), stack.client("s3")
    for index in range(12):  # more than one batch of 10; two groups
        event = example_event(entity_id=f"fifo-{index % 3}", payload={"n": index})
        sqs.send_message(
            QueueUrl=out["sqs_tap_queue_url"],
            MessageBody=json.dumps(event),
            MessageGroupId=f"g{index % 2}",
            MessageDeduplicationId=f"d-{index}",
        )
    bucket = out["raw_bucket_name"]
    wait_for(lambda: len(keys(s3, bucket, "raw/")) == 12, timeout_s=60, what="12 raw objects from the FIFO tap")
    assert keys(s3, bucket, "rejected/") == []
    with open(out["lambda_log_file"], encoding="utf-8") as log:  # the tap's EMF lines
        lines = [json.loads(line) for line in log if line.startswith('{"_aws"')]
    batches = [int(sum(line["IngestRequestCount"])) for line in lines if "IngestRequestCount" in line]  # one a batch
    assert sum(batches) == 12 and max(batches) <= 10  # (a FIFO receive also stops at a group in flight)
