"""Taps read real-shaped events (tests/events/) with powertools: SNS in SQS, gzip CloudWatch Logs in
Kinesis; a mapping reads the envelope; unknown fields are REJECTED as ``POST /ingest`` rejects them;
a constant the contract refuses stops the tap, naming the template parameter."""

from __future__ import annotations

import base64
import json
import time

import boto3
import pytest

from pik.core.mapping import MappingError
from pik.handlers import ingest as ingest_handler
from pik.handlers import tap
from tests.support.events import EVENTS, make_event, tap_sqs_event
from tests.support.lambdas import LambdaContext, call
from tests.support.stored import raw_keys, rejected


def stored(stack, prefix: str = "raw/") -> list[dict]:
    s3 = boto3.client("s3")
    return [
        json.loads(s3.get_object(Bucket=stack.outputs["raw_bucket_name"], Key=k)["Body"].read())
        for k in raw_keys(stack, prefix)
    ]


def test_an_sns_notification_without_a_time_takes_the_sns_timestamp(stack, monkeypatch):
    monkeypatch.setenv(
        "SQS_TAP_MAPPING",
        json.dumps(
            {
                "event_time": {"path": ["$.event_time", "$envelope.sns.timestamp", "$envelope.arrival_time"]},
                "idempotency_key": "$envelope.sns.message_id",
            }
        ),
    )
    event = json.loads((EVENTS / "sqs_sns_notification.json").read_text())
    assert tap.sqs_handler(event, LambdaContext()) == {"batchItemFailures": []}
    [document] = stored(stack)
    assert document["event"]["event_time"] == "2026-11-20T10:00:00.000Z"
    assert document["event"]["idempotency_key"] == "95df01b4-ee98-5cb9-9903-4c221d41eb5e"
    assert document["envelope"]["ingest_time"].startswith("2026-11-26T10:00:00.123")  # SentTimestamp


def test_sqs_attributes_and_arrival_are_in_the_envelope(stack, monkeypatch):
    monkeypatch.setenv(
        "SQS_TAP_MAPPING",
        json.dumps(
            {
                "event_time": {"path": ["$.event_time", "$envelope.arrival_time"]},
                "source": {"path": "$envelope.message_attributes.origin", "default": "unknown"},
            }
        ),
    )
    event = tap_sqs_event(
        [json.dumps({k: v for k, v in make_event(entity_id="env-1").items() if k not in ("event_time", "source")})],
        sent_ms=1795687200123,
    )
    event["Records"][0]["messageAttributes"] = {
        "origin": {
            "stringValue": "shop",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        }
    }
    assert tap.sqs_handler(event, LambdaContext()) == {"batchItemFailures": []}
    [document] = stored(stack)
    assert (document["event"]["source"], document["event"]["event_time"]) == (
        "shop",
        "2026-11-26T10:00:00.123Z",
    )


def test_a_gzip_cloudwatch_logs_record_is_inflated_and_mapped(stack, monkeypatch):
    monkeypatch.setenv(
        "KINESIS_TAP_MAPPING",
        json.dumps(
            {
                "source": {"value": "cloudwatch.logs"},
                "event_type": {"value": "log_batch"},
                "entity_id": "$.logGroup",
                "event_time": "$envelope.arrival_time",
                "payload": "$.logEvents",
                "idempotency_key": "$envelope.sequence_number",
            }
        ),
    )
    event = json.loads((EVENTS / "kinesis_cloudwatch_logs.json").read_text())
    assert tap.kinesis_handler(event, LambdaContext()) == {"batchItemFailures": []}
    [document] = stored(stack)
    assert document["event"]["entity_id"] == "/aws/lambda/checkout"
    assert [e["message"] for e in document["event"]["payload"]] == ["order placed c-1", "order placed c-2"]
    assert document["event"]["event_time"] == "2026-11-26T10:00:01.250Z"


def test_a_kinesis_partition_key_can_be_the_entity(stack, monkeypatch):
    monkeypatch.setenv("KINESIS_TAP_MAPPING", '{"entity_id": "$envelope.partition_key"}')
    event = json.loads((EVENTS / "kinesis_batch.json").read_text())
    body = {k: v for k, v in make_event().items() if k != "entity_id"}
    event["Records"][0]["kinesis"]["data"] = base64.b64encode(json.dumps(body).encode()).decode()
    event["Records"][0]["kinesis"]["approximateArrivalTimestamp"] = time.time()
    assert tap.kinesis_handler(event, LambdaContext()) == {"batchItemFailures": []}
    assert [d["event"]["entity_id"] for d in stored(stack)] == ["customer-42"]


def test_an_unknown_field_is_rejected_exactly_as_post_ingest_rejects_it(stack):
    typo = {**make_event(entity_id="typo-1"), "idempotency_kye": "k-1"}
    assert tap.sqs_handler(tap_sqs_event([json.dumps(typo)]), LambdaContext()) == {"batchItemFailures": []}
    assert raw_keys(stack, "raw/") == []
    [quarantined] = rejected(stack)
    status, answer = call(ingest_handler, "/ingest", typo)
    assert status == 400
    assert (
        quarantined["errors"]
        == answer["details"]
        == [
            {
                "field": "idempotency_kye",
                "rule": "unknown_field",
                "message": "unknown field 'idempotency_kye'",
            }
        ]
    )


@pytest.mark.parametrize(
    "variable,spec,message",
    [
        (
            "SQS_TAP_MAPPING",
            '{"event_type": {"value": "Order Placed"}}',
            'SqsTapMapping: event_type: the constant or default "Order Placed" breaks the event contract',
        ),
        (
            "EVENTBRIDGE_TAP_MAPPING",
            '{"source": {"path": "$.x", "default": ""}}',
            'EventBridgeTapMapping: source: the constant or default "" breaks the event contract',
        ),
        (
            "KINESIS_TAP_MAPPING",
            '{"entity_id": "customer"}',
            "KinesisTapMapping: entity_id: path 'customer' is not valid",
        ),
    ],
)
def test_a_mapping_mistake_fails_the_invocation_naming_the_template_parameter(
    stack, monkeypatch, variable, spec, message
):
    monkeypatch.setenv(variable, spec)
    handler = {
        "SQS_TAP_MAPPING": tap.sqs_handler,
        "EVENTBRIDGE_TAP_MAPPING": tap.eventbridge_handler,
        "KINESIS_TAP_MAPPING": tap.kinesis_handler,
    }[variable]
    event = json.loads((EVENTS / ("kinesis_batch.json" if "KINESIS" in variable else "sqs_batch.json")).read_text())
    with pytest.raises(MappingError, match=message.replace("(", r"\(")):
        handler(event, LambdaContext())
    assert raw_keys(stack) == []
