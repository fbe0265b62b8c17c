"""Every batch deliverable, every count true (issue 19, findings 4 and 7): batches to external
targets are cut by bytes as well as by count, an event that can never fit a target is reported
per event and the run goes on, and ``failed`` means not delivered when the run stopped.

moto enforces Kinesis's byte limits but not SQS's or EventBridge's: botocore hooks
(before-parameter-build) refuse what AWS refuses (pik.core.limits), as AWS answers it."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError

from pik.aws import clients, delivery
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
from tests.support.limits import calls_of, large, queue_of, refuse_over, sqs_size
from tests.support.replays import DAY, seed, window
from tests.support.targets import read_queue, tapped_bus


@pytest.fixture
def sqs_as_aws(allowed):
    """A hook refusing what AWS refuses (a batch over 1 MiB, a message over 1 MiB), every SendMessageBatch's
    entries, and every GetQueueAttributes of the target client: ``(sizes, sends, reads)``."""
    seen: list[int] = []
    target = clients.target_client("sqs")
    target.meta.events.register(
        "before-parameter-build.sqs.SendMessageBatch",
        refuse_over(limits.SQS_BATCH, limits.SQS_MESSAGE, "BatchRequestTooLong", sqs_size, seen),
    )
    return seen, calls_of(target, "SendMessageBatch"), calls_of(target, "GetQueueAttributes")


def test_a_batch_over_1_mib_is_split_by_bytes(sqs_as_aws):
    """Ten messages of about 110 KB: nine fit in 1 MiB (they took five requests under the old 256 KiB)."""
    seen, sends, reads = sqs_as_aws
    url = queue_of(limits.MiB)
    ids = large(10, 110_000)
    _, run = call(replay, "/replay", window(entity_id="customer-42", dry_run=False, target={"sqs": url}))
    assert (run["status"], run["sent"], run["failed"], run["failed_event_ids"]) == ("COMPLETED", 10, 0, [])
    assert [len(send["Entries"]) for send in sends] == [9, 1]
    assert 9 * 110_000 < seen[0] <= limits.SQS_BATCH.value < seen[0] + seen[1]
    assert [read["AttributeNames"] for read in reads] == [["MaximumMessageSize"]]  # once for the call
    assert sorted(json.loads(m["Body"])["payload"]["amount"] for m in read_queue(url)) == list(range(10))
    assert len(ids) == 10


def test_a_queue_of_1_mib_takes_a_600_kib_event(sqs_as_aws):
    """Refused as too large for this target while pik capped every message at 256 KiB."""
    seen, sends, _ = sqs_as_aws
    small = seed(count=2)
    big, sent_as = _archived_wider(600 * limits.KiB)
    url = queue_of(limits.MiB)
    _, run = call(replay, "/replay", window(entity_id="customer-42", dry_run=False, target={"sqs": url}))
    assert (run["status"], run["sent"], run["failed"], run["failed_reasons"]) == ("COMPLETED", 3, 0, None)
    size = sqs_size({"MessageBody": encoded(sent_as)})
    assert 600 * limits.KiB < size <= limits.MiB and seen == [sum(sqs_size(e) for e in sends[0]["Entries"])]
    assert sorted(json.loads(m["Body"])["payload"]["amount"] for m in read_queue(url)) == [0, 1, 99]
    assert len(small) == 2 and big


def test_a_message_over_the_queues_own_limit_is_reported_and_the_others_are_delivered(sqs_as_aws):
    """A queue configured at 64 KiB and an event of 100 KiB: moto (5.2) refuses a batch holding a message
    longer than the queue's MaximumMessageSize whole, as AWS does, so a run that sent it would stop."""
    _, sends, _ = sqs_as_aws
    small = seed(count=3)
    big = large(1, 100 * limits.KiB)[0]
    url = queue_of(64 * limits.KiB)
    _, run = call(replay, "/replay", window(entity_id="customer-42", dry_run=False, target={"sqs": url}))
    assert (run["status"], run["stopped"], run["sent"], run["failed"]) == ("COMPLETED", "completed", 3, 1)
    size = sqs_size({"MessageBody": encoded(_large_event(0, 100 * limits.KiB))})
    reason = f"{size} bytes: this queue's MaximumMessageSize is 65536 bytes ({limits.SQS_MESSAGE.doc})"
    assert (run["failed_event_ids"], run["failed_reasons"]) == ([big], {big: reason})
    assert run["last_error"] == f"1 event too large for this target: {reason}"  # not "1 event(s)"
    assert [len(send["Entries"]) for send in sends] == [3]
    assert sorted(json.loads(m["Body"])["payload"]["amount"] for m in read_queue(url)) == [0, 1, 2]
    assert len(small) == 3


def test_a_change_of_the_queues_limit_is_seen_by_the_next_call(sqs_as_aws):
    """Read once per call, never kept longer: raised to 1 MiB, the queue takes the event the last call refused."""
    _, _, reads = sqs_as_aws
    seed(count=12)  # two batches, one read
    big = large(1, 100 * limits.KiB)[0]
    url = queue_of(64 * limits.KiB)
    request = window(entity_id="customer-42", dry_run=False, target={"sqs": url})
    _, first = call(replay, "/replay", request)
    assert (first["sent"], first["failed_event_ids"], len(reads)) == (12, [big], 1)
    boto3.client("sqs").set_queue_attributes(QueueUrl=url, Attributes={"MaximumMessageSize": str(limits.MiB)})
    _, second = call(replay, "/replay", window(event_ids=[big], dry_run=False, target={"sqs": url}))
    assert (second["status"], second["sent"], second["failed"], len(reads)) == ("COMPLETED", 1, 0, 2)
    assert len(read_queue(url)) == 13


class _Lines(logging.Handler):
    """The messages a logger handled, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.mark.parametrize("code", ["AccessDenied", "InternalError"])
def test_a_queue_whose_limit_cannot_be_read_is_kept_to_256_kib_and_the_log_says_why(sqs_as_aws, monkeypatch, code):
    """SQS answers GetQueueAttributes with an error (injected by a hook, as AWS answers a role without
    sqs:GetQueueAttributes): the call goes on with 256 KiB a message, never a 5xx, and says why."""
    _, sends, reads = sqs_as_aws
    message = {
        "AccessDenied": "User: arn:aws:sts::123456789012:assumed-role/replay/fn is not authorized to perform: "
        "sqs:getqueueattributes on resource: arn:aws:sqs:us-east-1:123456789012:consumer",
        "InternalError": "We encountered an internal error. Please try again.",
    }[code]

    def refuse(**_):
        raise ClientError({"Error": {"Code": code, "Message": message}}, "GetQueueAttributes")

    clients.target_client("sqs").meta.events.register("before-call.sqs.GetQueueAttributes", refuse)
    # caplog's handler sits on the root logger, which pik's lines reach or not depending on what ran before
    # in this process (powertools' "pik" logger, the local stack's routing): read the adapter's own logger
    lines = _Lines()
    monkeypatch.setattr(logging.getLogger("pik.aws.sqs"), "handlers", [lines])
    seed(count=2)
    big = large(1, 262_000)[0]  # a valid event (payload under 256 KiB) whose message is over 256 KiB
    url = queue_of(limits.MiB)
    status, run = call(replay, "/replay", window(entity_id="customer-42", dry_run=False, target={"sqs": url}))
    assert (status, run["status"], run["sent"], run["failed"], len(reads)) == (200, "COMPLETED", 2, 1, 1)
    why = f"An error occurred ({code}) when calling the GetQueueAttributes operation: {message}"
    size = sqs_size({"MessageBody": encoded(_large_event(0, 262_000))})
    assert run["failed_reasons"] == {
        big: f"{size} bytes: {limits.SQS_MESSAGE_UNREAD.rule} (GetQueueAttributes: {why}) ({limits.SQS_MESSAGE.doc})"
    }
    assert [len(send["Entries"]) for send in sends] == [2]
    assert lines.messages == [f"sqs target {url}: MaximumMessageSize unreadable ({why}); messages kept to 262144 bytes"]


def test_reading_the_queues_limit_is_the_batchs_first_request(sqs_as_aws, monkeypatch):
    """With no time for a further request (``FURTHER_REQUESTS_S`` 0), the read leaves none for the send:
    the batch is not sent (a batch still takes at most ``worst_batch_s``) and the continuation sends it."""
    _, sends, reads = sqs_as_aws
    monkeypatch.setattr(delivery, "FURTHER_REQUESTS_S", 0.0)
    seed(count=3)
    url = queue_of(limits.MiB)
    request = window(entity_id="customer-42", dry_run=False, target={"sqs": url}, client_token="bound")
    _, first = call(replay, "/replay", request)
    assert (first["status"], first["stopped"], first["sent"], len(reads), sends) == (
        "PARTIAL",
        "target_errors",
        0,
        1,
        [],
    )
    assert first["last_error"] == "no time for another request in this batch: one starts only within 0 s of the first"
    monkeypatch.setattr(delivery, "FURTHER_REQUESTS_S", 1.0)
    _, second = call(replay, "/replay", {**request, "continuation": first["continuation"]})
    assert (second["status"], second["sent"], len(reads), len(read_queue(url))) == ("COMPLETED", 3, 2, 3)


def _large_event(i: int, payload_bytes: int) -> dict:
    """The body ``large`` ingests as its ``i``-th event (what a raw replay sends)."""
    return make_event(
        event_time=(DAY + timedelta(minutes=i)).isoformat(), payload={"amount": i, "blob": "x" * payload_bytes}
    )


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
