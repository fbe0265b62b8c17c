"""The SQS poller behaves like Lambda's event source mapping: partial failures, redrive, timeouts."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta

import pytest

from pik.core import keys
from pik.core.timefmt import UTC
from pik_api import ingest_events
from pik_local.poller import failed_ids
from pik_local.runtime import LocalFunction
from pik_local.stack import LocalStack
from tests.support.events import example_event
from tests.support.waits import wait_for

DAY = (datetime.now(UTC) - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


@pytest.fixture
def stack(tmp_path):
    with LocalStack(info_file=tmp_path / "local.json") as running:
        yield running


def queue_depth(sqs, url):
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_a_poison_message_reaches_the_dlq_and_the_rest_of_its_batch_is_processed(stack):
    entities = [f"user_{i}" for i in range(9)]
    events = [example_event(entity_id=e, event_time=(DAY + timedelta(hours=3)).isoformat()) for e in entities]
    answers = ingest_events(stack.info.api_url, events, progress=False)
    assert {a.status for a in answers} == {"ACCEPTED"}
    sqs, out = stack.session().client("sqs"), stack.info.outputs
    bodies = [
        json.dumps(
            {
                "replay_id": "rp-poison-test",
                "entity_id": e,
                "event_date": DAY.date().isoformat(),
                "event_id": a.body["event_id"],
            }
        )
        for e, a in zip(entities, answers, strict=True)
    ]
    entries = [{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies + ["{not a replay message"])]
    assert sqs.send_message_batch(QueueUrl=out["replay_queue_url"], Entries=entries).get("Failed", []) == []

    dead = wait_for(
        lambda: sqs.receive_message(
            QueueUrl=out["replay_dead_letter_queue_url"], AttributeNames=["All"], MaxNumberOfMessages=10
        ).get("Messages"),
        timeout_s=30,
        what="the DLQ",
    )
    assert [m["Body"] for m in dead] == ["{not a replay message"]
    assert int(dead[0]["Attributes"]["ApproximateReceiveCount"]) >= 3  # maxReceiveCount in template.yaml
    wait_for(lambda: queue_depth(sqs, out["replay_queue_url"]) == 0, timeout_s=30, what="an empty replay queue")
    ddb = stack.session().client("dynamodb")
    versions = [
        ddb.query(
            TableName=out["aggregates_table_name"],
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": keys.aggregate_pk(e)}},
        )["Items"]
        for e in entities
    ]
    assert [[(i["version"]["N"], i["value"]["N"], i["replay_id"]["S"]) for i in v] for v in versions] == [
        [("1", "1", "rp-poison-test")]
    ] * 9


def test_failure_rules_follow_lambda():
    ids = ["a", "b", "c"]
    assert failed_ids(True, {"batchItemFailures": [{"itemIdentifier": "b"}]}, ids, True) == {"b"}
    assert failed_ids(True, {"batchItemFailures": []}, ids, True) == set()
    assert failed_ids(False, None, ids, True) == set(ids)  # handler error or timeout
    assert failed_ids(True, {"batchItemFailures": [{"itemIdentifier": "zz"}]}, ids, True) == set(ids)
    assert failed_ids(True, {"batchItemFailures": [{"id": "b"}]}, ids, True) == set(ids)  # malformed
    assert failed_ids(True, {"batchItemFailures": [{"itemIdentifier": "b"}]}, ids, False) == set()


def test_an_invocation_over_its_timeout_is_a_failure_and_the_context_counts_down():
    seen = []

    def slow(event, context):
        seen.append(context.get_remaining_time_in_millis())
        finish = time.monotonic() + 0.3
        while time.monotonic() < finish:  # work for longer than the 0.2 s timeout
            pass
        return {"batchItemFailures": []}

    outcome = LocalFunction("Slow", slow, timeout_s=0.2).invoke({"Records": []})
    assert outcome.timed_out and not outcome.ok and outcome.result is None
    assert 0 < seen[0] <= 200
    quick = LocalFunction("Quick", lambda event, context: {"ok": context.function_name}, timeout_s=1).invoke({})
    assert quick.ok and quick.result == {"ok": "Quick"}
