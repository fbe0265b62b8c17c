"""Selection by status: CONFLICT attempts' payloads to a target, and the repair path: REJECTED
requests of a window re-submitted to the ingest service after a contract fix, each one audited.
The "fix" is a deployment whose contract allows longer names (the functions' default limits)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import boto3

from pik.core import contract
from pik.core.contract import Limits
from pik.core.timefmt import UTC
from pik.handlers import ingest, replay
from pik.services import ingest as ingest_service
from tests.support.events import make_event
from tests.support.lambdas import call
from tests.support.replays import DAY, window
from tests.support.targets import read_queue

LONG_SOURCE = "s" * 70  # over today's 64-character bound on names


def test_conflict_attempts_send_the_second_payload(allowed):
    first = make_event(event_time=(DAY + timedelta(hours=1)).isoformat(), idempotency_key="k-1", payload={"amount": 1})
    _, accepted = call(ingest, "/ingest", first)
    _, conflict = call(ingest, "/ingest", {**first, "payload": {"amount": 2}})
    assert (accepted["status"], conflict["status"]) == ("ACCEPTED", "CONFLICT")
    url = boto3.client("sqs").create_queue(QueueName="conflicts")["QueueUrl"]
    _, run = call(
        replay, "/replay", window(entity_id="customer-42", statuses=["CONFLICT"], dry_run=False, target={"sqs": url})
    )
    bodies = [json.loads(m["Body"]) for m in read_queue(url)]
    assert (run["scanned"], run["matched"], run["sent"]) == (2, 1, 1)
    assert [b["payload"] for b in bodies] == [{"amount": 2}]


def test_statuses_are_validated(stack):
    status, body = call(replay, "/replay", window(entity_id="customer-42", statuses=["LOST"]))
    assert (status, body["details"][0]["field"], body["details"][0]["rule"]) == (400, "statuses", "one_of")
    status, body = call(replay, "/replay", window(statuses=["REJECTED", "ACCEPTED"]))
    assert (status, body["details"][0]["rule"]) == (400, "rejected_alone")
    status, body = call(replay, "/replay", window(entity_id="customer-42", statuses=["REJECTED"]))
    assert (status, body["details"][0]["rule"]) == (400, "rejected_alone")


def test_rejected_requests_are_re_submitted_after_a_contract_fix_and_audited(stack, monkeypatch):
    now = datetime.now(UTC)
    fixable = [
        make_event(source=LONG_SOURCE, entity_id=f"r-{i}", event_time=(now - timedelta(hours=1)).isoformat())
        for i in range(3)
    ]
    for body in fixable:
        assert call(ingest, "/ingest", body)[0] == 400
    assert call(ingest, "/ingest", "{not json")[0] == 400
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    request = {
        "statuses": ["REJECTED"],
        "start_time": today.isoformat(),
        "end_time": (today + timedelta(days=1)).isoformat(),
    }
    _, preview = call(replay, "/replay", request)
    assert (preview["dry_run"], preview["matched"], preview["sent"]) == (True, 4, 0)

    fixed = Limits(max_name_chars=128)  # the deployment after the contract fix
    monkeypatch.setitem(contract.validate.__kwdefaults__, "limits", fixed)
    monkeypatch.setitem(ingest_service.ingest.__kwdefaults__, "limits", fixed)
    _, run = call(replay, "/replay", {**request, "dry_run": False})
    assert (run["status"], run["matched"], run["sent"], run["failed"]) == ("COMPLETED", 4, 3, 1)
    assert run["last_error"].startswith("still invalid: body: json")

    table = boto3.resource("dynamodb").Table(stack.outputs["events_table_name"])
    gates = [i for i in table.scan()["Items"] if i["sk"] == "META"]
    assert sorted(g["entity_id"] for g in gates) == ["r-0", "r-1", "r-2"]
    s3 = boto3.client("s3")
    audit = s3.list_objects_v2(Bucket=stack.outputs["raw_bucket_name"], Prefix=f"replays/repairs/{run['replay_id']}/")
    records = [
        json.loads(s3.get_object(Bucket=stack.outputs["raw_bucket_name"], Key=o["Key"])["Body"].read())
        for o in audit["Contents"]
    ]
    assert sorted(r["status"] for r in records) == ["ACCEPTED", "ACCEPTED", "ACCEPTED", "REJECTED"]
    assert {r["requester"] for r in records} == {"arn:aws:iam::123456789012:user/oncall"}
    rejected = s3.list_objects_v2(Bucket=stack.outputs["raw_bucket_name"], Prefix="rejected/")["KeyCount"]
    assert rejected == 4  # the still-invalid body was not quarantined again

    _, again = call(replay, "/replay", {**request, "dry_run": False})  # a second repair: now DUPLICATEs
    assert (again["sent"], again["failed"]) == (3, 1)
    assert len([i for i in table.scan()["Items"] if i["sk"] == "META"]) == 3
