"""Every batch deliverable, every count true (issue 19, findings 4 and 7): batches to external
targets are cut by bytes as well as by count, an event that can never fit a target is reported
per event and the run goes on, and ``failed`` means not delivered when the run stopped.

moto enforces Kinesis's byte limits but not SQS's or EventBridge's: botocore hooks
(before-parameter-build) refuse what AWS refuses (pik.core.limits), as AWS answers it."""

from __future__ import annotations

import json

import boto3
import pytest

from pik.aws import clients
from pik.core import limits
from pik.handlers import replay
from tests.support.lambdas import call
from tests.support.limits import large, refuse_over, sqs_size
from tests.support.replays import seed, window
from tests.support.targets import read_queue


@pytest.fixture
def sqs_as_aws(allowed):
    seen: list[int] = []
    clients.client("sqs").meta.events.register(
        "before-parameter-build.sqs.SendMessageBatch",
        refuse_over(limits.SQS_BATCH, limits.SQS_MESSAGE, "BatchRequestTooLong", sqs_size, seen),
    )
    return boto3.client("sqs").create_queue(QueueName="consumer")["QueueUrl"], seen


def test_ten_events_of_110_kb_reach_an_sqs_queue_in_batches_within_256_kib(sqs_as_aws):
    url, seen = sqs_as_aws
    ids = large(10, 110_000)
    _, run = call(replay, "/replay", window(entity_id="customer-42", dry_run=False, target={"sqs": url}))
    assert (run["status"], run["sent"], run["failed"], run["failed_event_ids"]) == ("COMPLETED", 10, 0, [])
    assert len(seen) == 5 and max(seen) <= limits.SQS_BATCH.value  # two messages a request
    assert sorted(json.loads(m["Body"])["payload"]["blob"][:1] for m in read_queue(url)) == ["x"] * 10
    assert len(ids) == 10


def test_an_event_that_can_never_fit_is_reported_with_its_reason_and_the_run_goes_on(sqs_as_aws):
    url, _ = sqs_as_aws
    small = seed(count=2)
    big = large(1, 262_000)[0]  # a valid event (payload under 256 KiB) whose message is over 256 KiB
    _, run = call(replay, "/replay", window(entity_id="customer-42", dry_run=False, target={"sqs": url}))
    assert (run["status"], run["stopped"], run["sent"], run["failed"]) == ("COMPLETED", "completed", 2, 1)
    assert run["failed_event_ids"] == [big]
    assert run["failed_reasons"][big].endswith(f"bytes: an SQS message is at most 256 KiB ({limits.SQS_MESSAGE.doc})")
    assert len(read_queue(url)) == len(small)


def test_a_batch_of_large_records_reaches_kinesis_within_5_mib_per_request(allowed):
    large(100, 55_000)
    kinesis = boto3.client("kinesis")
    kinesis.create_stream(StreamName="orders", ShardCount=1)
    arn = kinesis.describe_stream(StreamName="orders")["StreamDescription"]["StreamARN"]
    _, run = call(replay, "/replay", window(entity_id="customer-42", dry_run=False, target={"kinesis": arn}))
    assert (run["status"], run["sent"], run["failed"]) == ("COMPLETED", 100, 0)


def test_eventbridge_requests_stay_within_256_kb(allowed):
    large(10, 60_000)
    events = boto3.client("events")
    events.create_event_bus(Name="orders")
    seen: list[int] = []

    def entry_size(entry: dict) -> int:
        return 14 + sum(len(entry[name].encode("utf-8")) for name in ("Source", "DetailType", "Detail"))

    clients.client("events").meta.events.register(
        "before-parameter-build.events.PutEvents",
        refuse_over(
            limits.EVENTBRIDGE_PUT_EVENTS, limits.EVENTBRIDGE_PUT_EVENTS, "ValidationException", entry_size, seen
        ),
    )
    _, run = call(replay, "/replay", window(entity_id="customer-42", dry_run=False, target={"eventbridge": "orders"}))
    assert (run["status"], run["sent"], run["failed"]) == ("COMPLETED", 10, 0)
    assert len(seen) == 3 and max(seen) <= limits.EVENTBRIDGE_PUT_EVENTS.value


def test_failed_means_not_delivered_when_the_run_stopped(allowed, receiver, monkeypatch):
    """A target that answers 500 to every try, then recovers: the first call stops with 3 failed, the
    continuation delivers all 3 and the run ends with none failed (it said ``failed 3`` before)."""
    monkeypatch.setattr("pik.aws.webhook.BACKOFF_S", 0.001)
    ids = seed(count=3)
    hook = receiver([500] * 9)  # 3 tries of each event
    request = window(entity_id="customer-42", dry_run=False, target={"http": hook.url}, client_token="flaky")
    _, first = call(replay, "/replay", request)
    assert (first["status"], first["stopped"], first["sent"], first["failed"]) == ("PARTIAL", "target_errors", 0, 3)
    assert sorted(first["failed_event_ids"]) == sorted(ids)
    _, second = call(replay, "/replay", {**request, "continuation": first["continuation"]})
    assert (second["status"], second["sent"], second["failed"], second["failed_event_ids"]) == ("COMPLETED", 3, 0, [])
    assert second["target_counts"][second["target"]]["failed"] == 0
