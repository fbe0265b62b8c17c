"""Tap handlers (SQS, Kinesis, EventBridge via its queue) through the ingest service, against moto."""

from __future__ import annotations

import json
import time
from datetime import datetime

import boto3
import pytest
from botocore.exceptions import ClientError

from pik.aws import clients
from pik.core.mapping import MappingError
from pik.core.timefmt import UTC
from pik.handlers import tap
from tests.support.events import kinesis_event, make_event, tap_sqs_event
from tests.support.lambdas import LambdaContext
from tests.support.stored import items, items_of, raw_keys, rejected

EVENTBRIDGE = {
    "version": "0",
    "id": "0d7e1c27-5f7a-4b1e-9b69-3c7c1e9e6d11",
    "detail-type": "OrderPlaced",
    "source": "shop.orders",
    "account": "123456789012",
    "region": "us-east-1",
    "resources": [],
    "detail": {"entity_id": "customer-7", "amount": 30},
}


def test_sqs_records_are_ingested_rejected_ones_quarantined_and_the_batch_goes_on(stack):
    event = make_event(entity_id="sqs-1")
    notification = {
        "Type": "Notification",
        "MessageId": "m",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:orders",
        "Message": json.dumps(make_event(entity_id="sns-1")),
    }
    bodies = [
        json.dumps(event),
        json.dumps(notification),
        "not json at all",
        json.dumps(make_event(entity_id="sqs-2", event_time="2026-11-20T10:00:00")),
        json.dumps(event),
    ]
    sent = int(time.time() * 1000) - 5000
    assert tap.sqs_handler(tap_sqs_event(bodies, sent), LambdaContext()) == {"batchItemFailures": []}
    assert len(raw_keys(stack, "raw/")) == 2
    quarantined = sorted(rejected(stack), key=lambda doc: doc["request_id"])
    assert [doc["request_id"] for doc in quarantined] == ["msg-2", "msg-3"]
    assert quarantined[0]["body"] == "not json at all"
    assert quarantined[0]["errors"][0]["field"] == "record" and quarantined[0]["errors"][0]["rule"] == "json"
    assert quarantined[1]["errors"][0]["rule"] == "offset_required"
    attempts = [r for r in items_of(stack, event) if r["sk"].startswith("ATT#")]
    assert sorted((a["status"], a["request_id"]) for a in attempts) == [("ACCEPTED", "msg-0"), ("DUPLICATE", "msg-4")]
    arrival = datetime.fromtimestamp(sent / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    assert all(a["ingest_time"].startswith(arrival) for a in attempts)  # arrival = when SQS got the message


def fault_on(entity_id: str) -> None:
    def unavailable(params, **_):
        if f'"entity_id":"{entity_id}"'.encode() in params["Body"]:
            raise ClientError({"Error": {"Code": "InternalError", "Message": "down"}}, "PutObject")

    clients.client("s3").meta.events.register("before-parameter-build.s3.PutObject", unavailable, unique_id="fault")


@pytest.fixture
def no_fault():
    yield
    clients.client("s3").meta.events.unregister("before-parameter-build.s3.PutObject", unique_id="fault")


def test_only_sqs_records_whose_storage_failed_are_reported(stack, no_fault):
    fault_on("fails")
    bodies = [json.dumps(make_event(entity_id=name)) for name in ("ok-1", "fails", "ok-2")] + ["bad"]
    assert tap.sqs_handler(tap_sqs_event(bodies), LambdaContext()) == {
        "batchItemFailures": [{"itemIdentifier": "msg-1"}]
    }
    assert len(raw_keys(stack, "raw/")) == 2 and len(raw_keys(stack, "rejected/")) == 1


def test_kinesis_records_report_failures_by_sequence_number(stack, no_fault):
    fault_on("k-fails")
    datas = [json.dumps(make_event(entity_id=name)).encode() for name in ("k-1", "k-fails", "k-2")] + [b"\xff\xfe"]
    assert tap.kinesis_handler(kinesis_event(datas), LambdaContext()) == {
        "batchItemFailures": [{"itemIdentifier": "49590001"}]
    }
    assert len(raw_keys(stack, "raw/")) == 2
    [quarantined] = rejected(stack)
    assert (
        quarantined["request_id"] == "shardId-000000000000:49590003" and quarantined["errors"][0]["field"] == "record"
    )


def test_eventbridge_events_are_mapped_and_a_redelivery_is_a_duplicate(stack, monkeypatch):
    monkeypatch.setenv("EVENTBRIDGE_TAP_MAPPING", '{"event_type": {"value": "order_placed"}}')
    sent = {**EVENTBRIDGE, "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    result = tap.eventbridge_handler(tap_sqs_event([json.dumps(sent), json.dumps(sent)]), LambdaContext())
    assert result == {"batchItemFailures": []}
    [key] = raw_keys(stack, "raw/")
    assert key.startswith("raw/source=shop.orders/event_type=order_placed/")
    stored = json.loads(boto3.client("s3").get_object(Bucket=stack.outputs["raw_bucket_name"], Key=key)["Body"].read())
    assert stored["event"] == {
        "source": "shop.orders",
        "event_type": "order_placed",
        "entity_id": "customer-7",
        "event_time": sent["time"],
        "payload": sent["detail"],
        "idempotency_key": sent["id"],
    }
    attempts = [r for r in items(stack, stored["envelope"]["event_id"]) if r["sk"].startswith("ATT#")]
    assert sorted(a["status"] for a in attempts) == ["ACCEPTED", "DUPLICATE"]


def test_a_broken_mapping_fails_the_whole_invocation_naming_it(stack, monkeypatch):
    monkeypatch.setenv("SQS_TAP_MAPPING", '{"entity_id": "customer"}')
    with pytest.raises(MappingError, match="SqsTapMapping: entity_id: path 'customer' is not valid"):
        tap.sqs_handler(tap_sqs_event([json.dumps(make_event())]), LambdaContext())
    assert raw_keys(stack) == []
