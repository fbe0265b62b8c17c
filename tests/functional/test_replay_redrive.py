"""Redrive of the replay queue's DLQ as a replay run (``{"dead_letters": true}``): what was dead-lettered
goes back to the replay queue (or to a target) and leaves the DLQ, with a run record; a dry run
counts without touching the DLQ; a run stopped at its limit leaves the rest visible for its continuation."""

from __future__ import annotations

import json

import boto3

from pik.handlers import replay
from tests.support.lambdas import call
from tests.support.replays import drain, seed, window
from tests.support.targets import read_queue


def dead_letter(stack, count: int) -> list[str]:
    """Replay ``count`` events, then move their messages to the DLQ as the processor's failures would."""
    ids = seed(count=count)
    call(replay, "/replay", window(entity_id="customer-42", dry_run=False))
    sqs = boto3.client("sqs")
    for body in drain(stack):
        sqs.send_message(QueueUrl=stack.outputs["replay_dead_letter_queue_url"], MessageBody=json.dumps(body))
    return ids


def dlq_bodies(stack) -> list[str]:
    return [m["Body"] for m in read_queue(stack.outputs["replay_dead_letter_queue_url"])]


def test_a_redrive_moves_the_dlq_back_to_the_replay_queue_with_a_run_record(stack):
    ids = dead_letter(stack, 12)
    boto3.client("sqs").send_message(QueueUrl=stack.outputs["replay_dead_letter_queue_url"], MessageBody="not json")
    _, preview = call(replay, "/replay", {"dead_letters": True})
    assert (preview["dry_run"], preview["matched"], preview["sent"]) == (True, 13, 0)
    _, run = call(replay, "/replay", {"dead_letters": True, "dry_run": False, "client_token": "redrive-1"})
    assert (run["status"], run["scanned"], run["matched"], run["sent"]) == ("COMPLETED", 13, 12, 12)
    redriven = drain(stack)
    assert sorted(b["event_id"] for b in redriven) == sorted(ids)
    assert {b["replay_id"] for b in redriven} == {run["replay_id"]}
    assert dlq_bodies(stack) == ["not json"]  # what is not a replay message stays, visible again


def test_a_redrive_can_go_to_a_target(allowed):
    dead_letter(allowed, 3)
    url = boto3.client("sqs").create_queue(QueueName="consumer")["QueueUrl"]
    _, run = call(replay, "/replay", {"dead_letters": True, "dry_run": False, "target": {"sqs": url}})
    assert (run["sent"], run["target"]) == (3, f"sqs:{url}")
    assert sorted(json.loads(m["Body"])["payload"]["amount"] for m in read_queue(url)) == [0, 1, 2]
    assert dlq_bodies(allowed) == []


def test_a_redrive_stopped_at_its_limit_leaves_the_rest_for_its_continuation(stack):
    ids = dead_letter(stack, 7)
    request = {"dead_letters": True, "dry_run": False, "limit": 5, "client_token": "redrive-2"}
    _, first = call(replay, "/replay", request)
    assert (first["status"], first["stopped"], first["sent"]) == ("PARTIAL", "limit", 5)
    _, second = call(replay, "/replay", {**request, "continuation": first["continuation"]})
    assert (second["status"], second["sent"]) == ("COMPLETED", 7)
    assert sorted(b["event_id"] for b in drain(stack)) == sorted(ids)


def test_dead_letters_stands_alone(stack):
    status, body = call(replay, "/replay", {"dead_letters": True, "entity_id": "customer-42"})
    assert (status, body["details"][0]["field"], body["details"][0]["rule"]) == (400, "dead_letters", "alone")
