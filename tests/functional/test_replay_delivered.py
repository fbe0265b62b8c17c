"""Already delivered (issue 19, finding 10): a replay to an external target knows which of its events
that target already got, from which runs and when; a dry run says so, an execution skips them
unless ``resend``, and skipped is its own count. Through the real handler and adapters on moto; what
each target received is read from moto's queue itself; a crash is injected with a botocore hook."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from pik.aws import clients
from pik.aws.dynamodb import DeliveryRecords
from pik.core.deliveries import delivery_item
from pik.core.errors import StorageError
from pik.handlers import replay
from tests.support.lambdas import call
from tests.support.replays import Killed, replay_id_of, run_service, seed, stored, window
from tests.support.targets import read_queue


def received(url: str) -> Counter:
    """Event ids the consumer queue holds now (drained), by count; the replay envelope names them."""
    return Counter(json.loads(m["Body"])["replay"]["event_id"] for m in read_queue(url))


@pytest.fixture
def consumer(allowed):
    return boto3.client("sqs").create_queue(QueueName="consumer")["QueueUrl"]


def execute(target: dict, **scope) -> dict:
    status, run = call(replay, "/replay", {**scope, "dry_run": False, "target": target})
    assert status == 200, run
    return run


def test_a_preview_says_which_events_the_target_already_got_by_which_runs_and_when(consumer):
    ids = seed(count=5)
    target = {"sqs": consumer, "raw": False}
    first = execute(target, event_ids=ids[:2])
    second = execute(target, event_ids=ids[2:3])
    assert received(consumer) == Counter(ids[:3])
    _, preview = call(replay, "/replay", window(entity_id="customer-42", target={"sqs": consumer}))  # raw: same target
    assert (preview["dry_run"], preview["matched"], preview["sent"], preview["skipped"]) == (True, 5, 0, 0)
    seen = preview["already_delivered"]
    assert seen["count"] == 3
    assert [(r["replay_id"], r["count"]) for r in seen["runs"]] == [(first["replay_id"], 2), (second["replay_id"], 1)]
    created = {r["replay_id"]: r["created_at"] for r in (first, second)}
    assert all(r["first_at"] >= created[r["replay_id"]] and r["last_at"] >= r["first_at"] for r in seen["runs"])
    other = boto3.client("sqs").create_queue(QueueName="elsewhere")["QueueUrl"]
    _, elsewhere = call(replay, "/replay", window(entity_id="customer-42", target={"sqs": other}))
    assert elsewhere["already_delivered"] == {"count": 0, "runs": []}
    _, to_processor = call(replay, "/replay", window(entity_id="customer-42"))  # the stack's queue: not tracked
    assert to_processor["already_delivered"] is None


def test_executing_skips_what_the_target_already_got_and_counts_it_skipped_not_failed(consumer):
    ids = seed(count=5)
    target = {"sqs": consumer, "raw": False}
    earlier = execute(target, event_ids=ids[:3])
    received(consumer)
    run = execute(target, **window(entity_id="customer-42"))
    assert (run["status"], run["matched"], run["sent"], run["skipped"], run["failed"]) == ("COMPLETED", 5, 2, 3, 0)
    assert run["failed_event_ids"] == [] and run["target_counts"][run["target"]]["skipped"] == 3
    assert [(r["replay_id"], r["count"]) for r in run["already_delivered"]["runs"]] == [(earlier["replay_id"], 3)]
    assert received(consumer) == Counter(ids[3:])  # only the two it had not got
    again = execute(target, **window(entity_id="customer-42"))
    assert (again["sent"], again["skipped"]) == (0, 5) and received(consumer) == Counter()


def test_resend_sends_them_again_and_the_next_preview_names_the_resending_run(consumer):
    ids = seed(count=4)
    target = {"sqs": consumer, "raw": False}
    execute(target, **window(entity_id="customer-42"))
    received(consumer)
    resent = execute(target, **window(entity_id="customer-42", resend=True))
    assert (resent["sent"], resent["skipped"], resent["already_delivered"]["count"]) == (4, 0, 4)
    assert resent["request"]["resend"] is True and received(consumer) == Counter(ids)
    _, preview = call(replay, "/replay", window(entity_id="customer-42", target=target))
    assert [(r["replay_id"], r["count"]) for r in preview["already_delivered"]["runs"]] == [(resent["replay_id"], 4)]


def test_an_http_target_is_one_target_however_its_url_is_spelled(allowed, receiver):
    ids = seed(count=2)
    hook = receiver([])
    base = hook.url.rsplit("/", 1)[0]
    execute({"http": f"{base}/x/../hook"}, event_ids=ids[:1])
    run = execute({"http": hook.url}, **window(entity_id="customer-42"))
    assert (run["sent"], run["skipped"]) == (1, 1)
    assert [event_id for _, _, event_id, _ in hook.got] == ids  # each once


def test_a_batch_recorded_before_a_crash_is_counted_sent_by_its_run_not_skipped_or_sent_again(allowed, consumer):
    ids = seed(count=15, step=timedelta(minutes=1))
    request = window(
        entity_id="customer-42", dry_run=False, client_token="crash-1", target={"sqs": consumer, "raw": False}
    )
    writes = []

    def killed_after_the_second_record(**_):
        writes.append(1)
        if len(writes) == 2:
            raise Killed()  # the Lambda stopped: the batch went and was recorded, the run's counts were not saved

    dynamodb = clients.client("dynamodb")
    dynamodb.meta.events.register("after-call.dynamodb.BatchWriteItem", killed_after_the_second_record)
    try:
        with pytest.raises(Killed):
            run_service(request)
    finally:
        dynamodb.meta.events.unregister("after-call.dynamodb.BatchWriteItem", killed_after_the_second_record)
    assert (stored(allowed, replay_id_of(request))["sent"], sum(received(consumer).values())) == (10, 15)
    later = datetime.now(UTC) + timedelta(seconds=31)  # past the killed call's deadline
    run = run_service(request, clock=lambda: later)
    assert (run["status"], run["matched"], run["sent"], run["skipped"], run["failed"]) == ("COMPLETED", 15, 15, 0, 0)
    assert received(consumer) == Counter()  # the recorded batch was not sent again
    assert len(ids) == 15


@pytest.mark.parametrize(
    "body, rule",
    [
        ({"resend": True}, "with_target"),
        ({"resend": "yes", "target": {"sqs": "https://sqs.us-east-1.amazonaws.com/123456789012/consumer"}}, "type"),
    ],
)
def test_resend_is_a_boolean_for_an_external_target(allowed, body, rule):
    status, answer = call(replay, "/replay", window(entity_id="customer-42", dry_run=False, **body))
    assert status == 400 and (answer["details"][0]["field"], answer["details"][0]["rule"]) == ("resend", rule)


# --- the adapter: BatchGetItem / BatchWriteItem answer part of a request as unprocessed -----------
def test_unprocessed_keys_and_items_are_sent_again_until_done_then_a_storage_error(allowed, monkeypatch):
    monkeypatch.setattr("pik.aws.dynamodb.TRANSACT_BACKOFF_S", 0.0)
    log = DeliveryRecords(allowed.outputs["replays_table_name"])
    items = [delivery_item("t" * 32, "sqs:q", f"{i:064x}", "rp-a", "2026-11-24T08:00:00.000000Z") for i in range(30)]
    calls: list[tuple[str, int]] = []
    asked: dict = {}

    def remember(params, model, **_):
        asked[model.name] = params["body"] if "body" in params else params

    def leave_two_unprocessed(parsed, model, **_):
        sent = json.loads(asked[model.name])["RequestItems"][log.table.name]
        calls.append((model.name, len(sent if model.name == "BatchWriteItem" else sent["Keys"])))
        if len(calls) in (1, 3) or always:  # the first write and the first read leave their last two over
            if model.name == "BatchWriteItem":
                parsed["UnprocessedItems"] = {log.table.name: sent[-2:]}
            else:
                parsed["UnprocessedKeys"] = {log.table.name: {**sent, "Keys": sent["Keys"][-2:]}}
                kept = {json.dumps(k, sort_keys=True) for k in sent["Keys"][:-2]}
                answered = parsed["Responses"][log.table.name]
                parsed["Responses"][log.table.name] = [
                    i for i in answered if json.dumps({"pk": i["pk"], "sk": i["sk"]}, sort_keys=True) in kept
                ]

    always = False
    client = clients.client("dynamodb")
    for name in ("BatchWriteItem", "BatchGetItem"):
        client.meta.events.register(f"before-call.dynamodb.{name}", remember)
        client.meta.events.register(f"after-call.dynamodb.{name}", leave_two_unprocessed)
    try:
        log.record(items[:25])
        found = log.delivered("t" * 32, [item["event_id"] for item in items])
        assert calls == [("BatchWriteItem", 25), ("BatchWriteItem", 2), ("BatchGetItem", 30), ("BatchGetItem", 2)]
        assert sorted(found) == sorted(item["event_id"] for item in items[:25])  # the 5 never written: absent
        always = True
        with pytest.raises(StorageError, match="still unprocessed after 8 attempts"):
            log.delivered("t" * 32, [items[0]["event_id"]])
    finally:
        for name in ("BatchWriteItem", "BatchGetItem"):
            client.meta.events.unregister(f"before-call.dynamodb.{name}", remember)
            client.meta.events.unregister(f"after-call.dynamodb.{name}", leave_two_unprocessed)
