"""``envelope: "cloudevents"`` (issue 23, item 1) through the real handler and adapters against moto,
judged by the CloudEvents Python SDK as the receiver: each SQS message, Kinesis record and
EventBridge detail parses as a CloudEvents 1.0 structured event, each HTTP POST as a binary (or
structured) one, with the original event id, its source, type and time, and the replay in extension
attributes. The Standard Webhooks signature covers the body actually sent, and batches are cut by the
enveloped size (near SQS's 256 KiB); the old ``raw`` spelling records runs as before."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import boto3
import pytest
from cloudevents.core.bindings.http import HTTPMessage, from_http
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from pik.aws import clients
from pik.core import limits
from pik.core.replay import parse_request
from pik.handlers import ingest, replay
from tests.support.events import make_event
from tests.support.lambdas import call
from tests.support.limits import calls_of, large, refuse_over, sqs_size
from tests.support.replays import DAY, seed, window
from tests.support.targets import read_queue

FORMAT = JSONFormat()


def structured(text: str | bytes) -> CloudEvent:
    """What a consumer of a queue or stream does with a message: the SDK's JSON event format reader."""
    event = FORMAT.read(CloudEvent, text)
    assert isinstance(event, CloudEvent)
    return event


def expected_attributes(event: CloudEvent, event_id: str, amount: int, replay_id: str, attempt: int = 1) -> None:
    """``event`` is the seeded event ``event_id`` (payload ``{"amount": amount}``) replayed by ``replay_id``."""
    assert (event.get_specversion(), event.get_id(), event.get_source(), event.get_type()) == (
        "1.0",
        event_id,
        "checkout",
        "order_placed",
    )
    assert event.get_subject() == "customer-42" and event.get_datacontenttype() == "application/json"
    assert event.get_time() == DAY + amount * timedelta(minutes=7)  # seed's event times, as datetimes
    assert event.get_data() == {"amount": amount}
    assert event.get_extension("pikreplayid") == replay_id
    assert str(event.get_extension("pikattempt")) == str(attempt)
    assert datetime.fromisoformat(event.get_extension("pikingesttime").replace("Z", "+00:00")) > event.get_time()


def test_an_sqs_queue_gets_structured_cloudevents_with_the_original_event_ids(allowed):
    ids = seed(count=3)
    url = boto3.client("sqs").create_queue(QueueName="consumer")["QueueUrl"]
    status, run = call(
        replay, "/replay", window(entity_id="customer-42", dry_run=False, target={"sqs": url}, envelope="cloudevents")
    )
    assert (status, run["status"], run["sent"]) == (200, "COMPLETED", 3), run
    events = sorted((structured(m["Body"]) for m in read_queue(url)), key=lambda e: e.get_data()["amount"])
    for amount, event in enumerate(events):
        expected_attributes(event, ids[amount], amount, run["replay_id"])
    assert read_queue(url) == []  # each event once
    assert run["target"] == f"sqs:{url}"


def test_kinesis_records_are_structured_cloudevents(allowed):
    ids = seed(count=2)
    kinesis = boto3.client("kinesis")
    kinesis.create_stream(StreamName="orders", ShardCount=1)
    arn = kinesis.describe_stream(StreamName="orders")["StreamDescription"]["StreamARN"]
    _, run = call(
        replay,
        "/replay",
        window(entity_id="customer-42", dry_run=False, target={"kinesis": arn}, envelope="cloudevents"),
    )
    shard = kinesis.list_shards(StreamName="orders")["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName="orders", ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = kinesis.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    assert (run["sent"], [r["PartitionKey"] for r in records]) == (2, ["customer-42"] * 2)
    for record in records:
        event = structured(record["Data"])
        amount = event.get_data()["amount"]
        expected_attributes(event, ids[amount], amount, run["replay_id"])


def test_eventbridge_detail_is_a_structured_cloudevent(allowed):
    ids = seed(count=2)
    events, sqs = boto3.client("events"), boto3.client("sqs")
    events.create_event_bus(Name="orders")
    url = sqs.create_queue(QueueName="bus-tap")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(
        Name="replays", EventBusName="orders", EventPattern=json.dumps({"detail": {"pikreplayid": [{"exists": True}]}})
    )
    events.put_targets(Rule="replays", EventBusName="orders", Targets=[{"Id": "tap", "Arn": arn}])
    _, run = call(
        replay,
        "/replay",
        window(entity_id="customer-42", dry_run=False, target={"eventbridge": "orders"}, envelope="cloudevents"),
    )
    delivered = [json.loads(m["Body"]) for m in read_queue(url)]
    assert run["sent"] == 2 and len(delivered) == 2
    assert {(d["source"], d["detail-type"]) for d in delivered} == {("checkout", "order_placed")}
    for envelope in delivered:
        event = structured(json.dumps(envelope["detail"]))
        amount = event.get_data()["amount"]
        expected_attributes(event, ids[amount], amount, run["replay_id"])
        assert envelope["time"] == event.get_time().strftime("%Y-%m-%dT%H:%M:%SZ")  # Time = the event time


def test_http_binary_mode_puts_the_attributes_in_ce_headers_and_signs_the_body_sent(
    allowed,
    receiver,
    monkeypatch,
):
    monkeypatch.setattr("pik.aws.webhook.BACKOFF_S", 0.001)
    ids = seed(count=1)
    hook = receiver([503])  # the first try fails: the re-send is attempt 2
    _, run = call(
        replay,
        "/replay",
        window(entity_id="customer-42", dry_run=False, target={"http": hook.url}, envelope="cloudevents"),
    )
    assert (run["status"], run["sent"], run["retried"]) == ("COMPLETED", 1, 1)
    assert [(status, valid) for status, valid, _, _ in hook.got] == [(503, True), (200, True)]  # signatures verify
    for attempt, (headers, (*_, body)) in enumerate(zip(hook.headers, hook.got, strict=True), start=1):
        assert headers["Content-Type"] == "application/json" and body == {"amount": 0}  # the body is the data
        event = from_http(HTTPMessage(headers, json.dumps(body).encode()), FORMAT, CloudEvent)
        expected_attributes(event, ids[0], 0, run["replay_id"], attempt=attempt)
        assert headers["ce-id"] == headers["X-Pik-Event-Id"] == ids[0]


def test_http_structured_mode_sends_the_whole_event_as_the_signed_body(allowed, receiver):
    ids = seed(count=2)
    hook = receiver([])
    target = {"http": hook.url, "envelope": "cloudevents", "content_mode": "structured"}
    _, run = call(replay, "/replay", window(entity_id="customer-42", dry_run=False, target=target))
    assert (run["sent"], [valid for _, valid, _, _ in hook.got]) == (2, [True, True])
    for headers, (*_, body) in zip(hook.headers, hook.got, strict=True):
        assert headers["Content-Type"] == "application/cloudevents+json"
        assert not [name for name in headers if name.lower().startswith("ce-")]
        event = from_http(HTTPMessage(headers, json.dumps(body).encode()), FORMAT, CloudEvent)
        expected_attributes(event, ids[event.get_data()["amount"]], event.get_data()["amount"], run["replay_id"])


def test_an_idempotency_key_travels_as_an_extension(allowed):
    event = make_event(event_time=DAY.isoformat(), payload={"amount": 0}, idempotency_key="order-7")
    status, _ = call(ingest, "/ingest", event)
    assert status == 200
    url = boto3.client("sqs").create_queue(QueueName="consumer")["QueueUrl"]
    call(replay, "/replay", window(entity_id="customer-42", dry_run=False, target={"sqs": url}, envelope="cloudevents"))
    [message] = read_queue(url)
    assert structured(message["Body"]).get_extension("pikidempotencykey") == "order-7"


def test_batches_are_cut_by_the_enveloped_size_near_the_sqs_limit(allowed):
    """Six events whose messages as sent fit four to a SendMessageBatch (1 MiB) but not as CloudEvents:
    the cloudevents run is cut three to a request, and a hook refusing what AWS refuses
    (BatchRequestTooLong) sees no request over the limit."""
    seen: list[int] = []
    target = clients.target_client("sqs")
    target.meta.events.register(
        "before-parameter-build.sqs.SendMessageBatch",
        refuse_over(limits.SQS_BATCH, limits.SQS_MESSAGE, "BatchRequestTooLong", sqs_size, seen),
    )
    sends = calls_of(target, "SendMessageBatch")
    large(6, 261_900)
    sqs = boto3.client("sqs")
    raw_url, ce_url = (sqs.create_queue(QueueName=name)["QueueUrl"] for name in ("as-sent", "as-cloudevents"))
    _, as_sent = call(replay, "/replay", window(entity_id="customer-42", dry_run=False, target={"sqs": raw_url}))
    raw_requests = [len(send["Entries"]) for send in sends]
    sends.clear()
    _, as_ce = call(
        replay,
        "/replay",
        window(entity_id="customer-42", dry_run=False, target={"sqs": ce_url}, envelope="cloudevents"),
    )
    assert (as_sent["sent"], as_ce["sent"], as_ce["failed"]) == (6, 6, 0)
    assert raw_requests == [4, 2] and max(seen) <= limits.SQS_BATCH.value  # four as sent fit
    ce_message = min(sqs_size({"MessageBody": m["Body"]}) for m in read_queue(ce_url))
    assert 4 * ce_message > limits.SQS_BATCH.value  # four CloudEvents would not
    assert [len(send["Entries"]) for send in sends] == [3, 3] and max(seen) <= limits.SQS_BATCH.value


QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/q"


@pytest.mark.parametrize(
    "extra, field, rule",
    [
        ({"envelope": "cloudevents"}, "envelope", "needs_target"),
        ({"envelope": "xml", "target": {"sqs": QUEUE}}, "envelope", "one_of"),
        ({"envelope": "cloudevents", "target": {"sqs": QUEUE, "raw": False}}, "target.raw", "conflict"),
        ({"envelope": "cloudevents", "target": {"sqs": QUEUE, "envelope": "pik"}}, "envelope", "conflict"),
        (
            {"envelope": "pik", "target": {"sqs": QUEUE, "content_mode": "binary"}},
            "target.content_mode",
            "http_cloudevents_only",
        ),
    ],
)
def test_a_bad_envelope_is_a_400_naming_field_and_rule_and_records_nothing(allowed, extra, field, rule):
    status, answer = call(replay, "/replay", window(entity_id="customer-42", dry_run=False, **extra))
    assert status == 400
    assert [(d["field"], d["rule"]) for d in answer["details"]] == [(field, rule)]
    assert boto3.client("dynamodb").scan(TableName=allowed.outputs["replays_table_name"])["Items"] == []


def test_runs_recorded_with_raw_fingerprint_as_before():
    """``raw: false`` and ``envelope: "pik"`` are one request, recorded as before envelopes had names
    (a continuation or client token of a run recorded then still matches); cloudevents is another."""
    base = {"entity_id": "u", "start_time": "2026-11-20T00:00:00Z", "end_time": "2026-11-21T00:00:00Z"}
    queue = QUEUE
    old, _, _ = parse_request({**base, "target": {"sqs": queue, "raw": False}})
    new, _, _ = parse_request({**base, "target": {"sqs": queue}, "envelope": "pik"})
    ce, _, _ = parse_request({**base, "target": {"sqs": queue}, "envelope": "cloudevents"})
    assert old.target == new.target == {"sqs": queue, "raw": False}
    assert old.fingerprint() == new.fingerprint() != ce.fingerprint()
    assert parse_request({**base, "target": {"sqs": queue}})[0].target == {"sqs": queue, "raw": True}
    assert ce.target == {"sqs": queue, "envelope": "cloudevents"}
