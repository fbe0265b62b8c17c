"""Every batch deliverable, every count true (issue 19, findings 4 and 7): batches to external
targets are cut by bytes as well as by count, an event that can never fit a target is reported
per event and the run goes on, and ``failed`` means not delivered when the run stopped.

moto enforces Kinesis's byte limits but not SQS's or EventBridge's: botocore hooks
(before-parameter-build) refuse what AWS refuses (pik.core.limits), as AWS answers it."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import boto3
import pytest

from pik.aws import clients
from pik.aws.eventbridge import entry_bytes
from pik.bootstrap import adapters
from pik.core import limits
from pik.core.contract import Limits
from pik.core.targets import encoded
from pik.core.timefmt import UTC
from pik.handlers import replay
from pik.services import ingest as ingest_service
from pik.settings import Settings
from tests.support.events import make_event
from tests.support.lambdas import call
from tests.support.limits import large, refuse_over, sqs_size
from tests.support.replays import DAY, seed, window
from tests.support.targets import read_queue, tapped_bus


@pytest.fixture
def sqs_as_aws(allowed):
    seen: list[int] = []
    clients.target_client("sqs").meta.events.register(
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
    assert run["last_error"] == f"1 event too large for this target: {run['failed_reasons'][big]}"  # not "1 event(s)"
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

    clients.target_client("events").meta.events.register(
        "before-parameter-build.events.PutEvents",
        refuse_over(
            limits.EVENTBRIDGE_PUT_EVENTS, limits.EVENTBRIDGE_PUT_EVENTS, "ValidationException", entry_size, seen
        ),
    )
    _, run = call(replay, "/replay", window(entity_id="customer-42", dry_run=False, target={"eventbridge": "orders"}))
    assert (run["status"], run["sent"], run["failed"]) == ("COMPLETED", 10, 0)
    assert len(seen) == 3 and max(seen) <= limits.EVENTBRIDGE_PUT_EVENTS.value


def _archived_wider(payload_bytes: int) -> tuple[str, dict]:
    """One event of customer-42 on DAY (after ``seed``'s) stored by the ingest service with a payload bound
    wider than the API's: pik's own contract keeps a payload to 256 KiB, so a Kinesis record over 1 MiB
    comes only from an archive written under other limits (another deployment, an older pik). Its id and
    the body as its producer sent it."""
    settings, body = (
        Settings.from_env(),
        make_event(
            event_time=(DAY + timedelta(hours=20)).isoformat(), payload={"amount": 99, "blob": "x" * payload_bytes}
        ),
    )
    wired, wide = adapters(settings), Limits(max_body_bytes=4 * limits.MiB, max_payload_bytes=4 * limits.MiB)
    outcome = ingest_service.ingest(
        json.dumps(body).encode("utf-8"),
        request_id="wider-archive",
        now=datetime.now(UTC),
        store=wired.documents,
        index=wired.events,
        settings=settings,
        limits=wide,
    )
    assert outcome.status == "ACCEPTED", outcome.body
    return outcome.body["event_id"], body


def _records(kinesis, stream: str) -> list[dict]:
    shard = kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    return kinesis.get_records(ShardIterator=iterator["ShardIterator"])["Records"]


def test_a_record_over_1_mib_is_reported_with_its_reason_and_the_rest_reach_kinesis(allowed):
    small = seed(count=3)
    big, sent_as = _archived_wider(1_100_000)
    kinesis = boto3.client("kinesis")
    kinesis.create_stream(StreamName="orders", ShardCount=1)
    arn = kinesis.describe_stream(StreamName="orders")["StreamDescription"]["StreamARN"]
    _, run = call(replay, "/replay", window(entity_id="customer-42", dry_run=False, target={"kinesis": arn}))
    assert (run["status"], run["stopped"], run["matched"], run["sent"], run["failed"]) == (
        "COMPLETED",
        "completed",
        4,
        3,
        1,
    )
    assert run["failed_event_ids"] == [big]
    size = len(encoded(sent_as).encode("utf-8")) + len("customer-42")  # data and partition key, as Kinesis counts
    assert size > limits.KINESIS_RECORD.value
    assert run["failed_reasons"] == {
        big: f"{size} bytes: a Kinesis record (data and partition key) is at most 1 MiB ({limits.KINESIS_RECORD.doc})"
    }
    assert sorted(json.loads(r["Data"])["payload"]["amount"] for r in _records(kinesis, "orders")) == [0, 1, 2]
    assert len(small) == 3


def test_an_entry_over_256_kb_is_reported_with_its_reason_and_the_rest_reach_eventbridge(allowed):
    """moto's PutEvents takes any size: a hook refuses what AWS refuses, so a run that sent the big entry
    would stall on a refused batch instead of completing."""
    seed(count=2)
    big = large(1, 262_100)[0]  # a valid payload (262,124 bytes, under 256 KiB) whose entry is over 256 KB
    bus, url = tapped_bus()
    seen: list[int] = []
    clients.target_client("events").meta.events.register(
        "before-parameter-build.events.PutEvents",
        refuse_over(
            limits.EVENTBRIDGE_PUT_EVENTS, limits.EVENTBRIDGE_PUT_EVENTS, "ValidationException", entry_bytes, seen
        ),
    )
    _, run = call(replay, "/replay", window(entity_id="customer-42", dry_run=False, target={"eventbridge": "orders"}))
    assert (run["status"], run["stopped"], run["matched"], run["sent"], run["failed"]) == (
        "COMPLETED",
        "completed",
        3,
        2,
        1,
    )
    assert run["failed_event_ids"] == [big]
    sent_as = make_event(event_time=DAY.isoformat(), payload={"amount": 0, "blob": "x" * 262_100})  # _large's
    size = entry_bytes({"Source": "checkout", "DetailType": "order_placed", "Detail": encoded(sent_as)})
    assert size > limits.EVENTBRIDGE_PUT_EVENTS.value
    assert run["failed_reasons"] == {
        big: f"{size} bytes: a PutEvents request's entries total at most 256 KB ({limits.EVENTBRIDGE_PUT_EVENTS.doc})"
    }
    assert seen and max(seen) <= limits.EVENTBRIDGE_PUT_EVENTS.value  # the big entry was never put
    assert sorted(json.loads(m["Body"])["detail"]["payload"]["amount"] for m in read_queue(url)) == [0, 1]


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
