"""Order under injected faults (botocore hooks), by AWS's rules for each pipe:

- Kinesis (and a standard queue): once a record of an entity fails, that entity's later records of
  the batch are reported failed, not ingested, so the retry brings them after it (Lambda resumes a
  Kinesis batch at the lowest failed sequence number).
- SQS FIFO: once a message of a group fails, every later message of that group is reported failed,
  not ingested (powertools' ``SqsFifoPartialProcessor`` with ``skip_group_on_error``).
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from pik.aws import clients
from pik.handlers import tap
from tests.support.events import EVENTS, kinesis_event, make_event, tap_sqs_event
from tests.support.lambdas import LambdaContext
from tests.support.stored import items_of, raw_keys

HOOK = "before-parameter-build.s3.PutObject"


@pytest.fixture
def fail_once():
    """``fail_once(marker)``: the first raw PutObject whose body holds ``marker`` answers 500."""
    armed: set[bytes] = set()

    def unavailable(params, **_):
        for marker in list(armed):
            if marker in params["Body"] and params["Key"].startswith("raw/"):
                armed.discard(marker)
                raise ClientError({"Error": {"Code": "InternalError", "Message": "down"}}, "PutObject")

    clients.client("s3").meta.events.register(HOOK, unavailable, unique_id="fail-once")
    yield lambda marker: armed.add(marker.encode())
    clients.client("s3").meta.events.unregister(HOOK, unique_id="fail-once")


def statuses(stack, body: dict) -> list[str]:
    """The event's attempt statuses in the order they were made: the gate's first attempt, then by request
    id (a record read twice from one shard position carries one request id, and equal arrival times leave
    the items' own order to their random attempt ids)."""
    items = items_of(stack, body)
    [first] = {r["first_attempt_id"] for r in items if "first_attempt_id" in r}
    attempts = sorted(
        (r for r in items if r["sk"].startswith("ATT#")), key=lambda a: (a["attempt_id"] != first, a["request_id"])
    )
    return [a["status"] for a in attempts]


def test_a_kinesis_retry_keeps_an_entitys_versions_in_order(stack, fail_once):
    v1 = make_event(entity_id="k-order", idempotency_key="order-1", payload={"version": 1})
    v2 = make_event(entity_id="k-order", idempotency_key="order-1", payload={"version": 2})
    other = make_event(entity_id="k-other")
    fail_once('"version":1')
    batch = kinesis_event([json.dumps(e).encode() for e in (v1, other, v2)])
    result = tap.kinesis_handler(batch, LambdaContext())
    assert result == {"batchItemFailures": [{"itemIdentifier": "49590000"}, {"itemIdentifier": "49590002"}]}
    assert len(raw_keys(stack, "raw/")) == 1  # only the other entity's record: v2 waited for v1
    # Lambda resumes the shard at the lowest failed sequence number: v1, other (again), v2
    assert tap.kinesis_handler(batch, LambdaContext()) == {"batchItemFailures": []}
    [key] = [k for k in raw_keys(stack, "raw/") if "k-other" not in _body(stack, k)]
    assert json.loads(_body(stack, key))["event"]["payload"] == {"version": 1}  # the first version won
    assert statuses(stack, v1) == ["ACCEPTED", "CONFLICT"]  # shardId...:0 then ...:2
    assert statuses(stack, other) == ["ACCEPTED", "DUPLICATE"]


def test_a_standard_queue_holds_back_an_entitys_later_messages_after_a_failure(stack, fail_once):
    first, second = (
        make_event(entity_id="q-1", payload={"n": 1}),
        make_event(entity_id="q-1", payload={"n": 2}),
    )
    fail_once('"n":1')
    result = tap.sqs_handler(
        tap_sqs_event([json.dumps(first), json.dumps(make_event(entity_id="q-2")), json.dumps(second)]), LambdaContext()
    )
    assert result == {"batchItemFailures": [{"itemIdentifier": "msg-0"}, {"itemIdentifier": "msg-2"}]}
    assert [k for k in raw_keys(stack, "raw/") if "q-1" in _body(stack, k)] == []


def test_a_fifo_group_stops_at_its_first_failure_other_groups_go_on(stack, fail_once):
    event = json.loads((EVENTS / "sqs_fifo_batch.json").read_text())  # g1: c-1, c-2, c-1; g2: c-3
    fail_once('"n":1')  # the second message of g1 (entity c-2)
    result = tap.sqs_handler(event, LambdaContext())
    ids = [r["messageId"] for r in event["Records"]]
    assert result == {"batchItemFailures": [{"itemIdentifier": ids[1]}, {"itemIdentifier": ids[2]}]}
    stored = sorted(json.loads(_body(stack, k))["event"]["payload"]["n"] for k in raw_keys(stack, "raw/"))
    assert stored == [0, 3]  # g1's third message (another entity than the failed one) was not ingested
    assert raw_keys(stack, "rejected/") == []


def test_a_fifo_batch_that_succeeds_reports_nothing(stack):
    event = json.loads((EVENTS / "sqs_fifo_batch.json").read_text())
    assert tap.sqs_handler(event, LambdaContext()) == {"batchItemFailures": []}
    assert len(raw_keys(stack, "raw/")) == 4


def _body(stack, key: str) -> str:
    return boto3.client("s3").get_object(Bucket=stack.outputs["raw_bucket_name"], Key=key)["Body"].read().decode()
