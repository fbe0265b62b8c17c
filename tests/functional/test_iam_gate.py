"""The IAM gate itself (tests/support/iam.py): it records what handlers and the kit call, and refuses
what AWS would refuse — shown on the template as it was before issue 17 (findings 3 and 7) and on S3's
rule that a missing key reads as 403 without ``s3:ListBucket``."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta

import boto3
import pytest

from pik.core.timefmt import UTC
from pik.handlers import ingest, replay
from pik_local import template
from tests.support import iam, sam
from tests.support.events import make_event
from tests.support.iam_stack import iam_stack
from tests.support.lambdas import call
from tests.support.replays import seed, window

ACCOUNT = "123456789012"


@pytest.fixture
def recorder(stack, monkeypatch):
    """A second recorder beside the stack's own, read by the test instead of at teardown."""
    own = iam.Recorder(iam.handlers_of(iam_stack(stack)))
    own.install(monkeypatch)
    return own


def _before_issue_17(**edits) -> dict:
    """template.yaml with a piece of issue 17 undone."""
    source = copy.deepcopy(template.load())
    if edits.get("caller_credentials"):
        del source["Resources"]["PikApi"]["Properties"]["Auth"]["InvokeRole"]
    if edits.get("replay_reads_raw_only"):
        for statement in source["Resources"]["ReplayFunction"]["Properties"]["Policies"][0]["Statement"]:
            if statement.get("Action") == ["s3:GetObject"] and isinstance(statement.get("Resource"), list):
                statement["Resource"] = [r for r in statement["Resource"] if "conflicts" not in str(r)]
    return source


def _stack_of(source: dict, stack) -> sam.Stack:
    base = iam_stack(stack)
    return sam.Stack(sam.translate(source=source), parameters=base.parameters, names=base.names)


def test_the_gate_records_each_authorization_a_handler_needs(recorder, stack):
    status, answer = call(ingest, "/ingest", make_event())
    assert status == 200 and answer["status"] == "ACCEPTED"
    bucket, table = stack.names["RawBucket"], stack.names["EventsTable"]
    calls = {
        (c.principal, c.action, c.resource.split("/")[0] if c.action.startswith("s3") else c.resource)
        for c in recorder.calls
    }
    assert ("IngestFunction", "s3:PutObject", f"arn:aws:s3:::{bucket}") in calls
    table_arn = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{table}"
    assert ("IngestFunction", "dynamodb:PutItem", table_arn) in calls
    [put] = [c for c in recorder.calls if c.action == "s3:PutObject"]
    assert dict(put.context) == {"s3:if-none-match": "*"}  # the bucket policy denies a put without it
    assert recorder.denied(iam_stack(stack)) == []


def test_a_put_without_if_none_match_is_denied_by_the_bucket_policy(recorder, stack):
    bucket = stack.names["RawBucket"]
    call_ = iam.Call("IngestFunction", "s3:PutObject", f"arn:aws:s3:::{bucket}/raw/x.json")
    recorder.calls.append(call_)
    assert recorder.denied(iam_stack(stack)) == [f"denied: {call_.describe()}"]


def test_finding_3_caller_credentials_make_the_investigators_replay_a_denied_invoke(recorder, stack):
    seed(count=2)
    status, _ = call(replay, "/replay", window(entity_id="customer-42"))
    assert status == 200
    assert recorder.denied(iam_stack(stack)) == []  # InvokeRole: NONE
    problems = recorder.denied(_stack_of(_before_issue_17(caller_credentials=True), stack))
    function_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:"
    denied_invoke = f"denied: Investigator: lambda:InvokeFunction on {function_arn}"
    assert len(problems) == 1 and problems[0].startswith(denied_invoke), problems


def test_finding_7_a_conflict_replayed_to_a_target_reads_conflicts(recorder, stack, monkeypatch):
    monkeypatch.setenv("REPLAY_TARGET_QUEUES", f"arn:aws:sqs:*:{ACCOUNT}:*")
    first = make_event(idempotency_key="order-1", payload={"amount": 1})
    assert call(ingest, "/ingest", first)[1]["status"] == "ACCEPTED"
    assert call(ingest, "/ingest", {**first, "payload": {"amount": 2}})[1]["status"] == "CONFLICT"
    url = boto3.client("sqs").create_queue(QueueName="consumer")["QueueUrl"]
    now = datetime.now(UTC)
    scope = {
        "entity_id": first["entity_id"],
        "start_time": (now - timedelta(days=1)).isoformat(),
        "end_time": now.isoformat(),
    }
    request = {**scope, "statuses": ["CONFLICT"], "dry_run": False, "target": {"sqs": url}}
    status, run = call(replay, "/replay", request)
    assert status == 200 and run["sent"] == 1, run
    reads = [c for c in recorder.calls if c.principal == "ReplayFunction" and c.action == "s3:GetObject"]
    assert [c.resource.split("/", 2)[1] for c in reads] == ["conflicts"]
    assert recorder.denied(iam_stack(stack)) == []
    problems = recorder.denied(_stack_of(_before_issue_17(replay_reads_raw_only=True), stack))
    assert [p.split(" on ")[0] for p in problems] == ["denied: ReplayFunction: s3:GetObject"], problems


def test_a_missing_key_reads_as_403_without_list_bucket(recorder, stack):
    bucket = stack.names["RawBucket"]
    key = f"arn:aws:s3:::{bucket}/raw/missing.json"
    missing = iam.Call("ProcessorFunction", "s3:GetObject", key, status=404)
    recorder.calls.append(missing)
    processor_policies = iam_stack(stack).role_policies("ProcessorFunction")
    lists = any("s3:ListBucket" in str(document) for document in processor_policies)
    refusal = f"403 not 404 (no s3:ListBucket on arn:aws:s3:::{bucket}): {missing.describe()}"
    expected = [] if lists else [refusal]
    assert recorder.denied(iam_stack(stack)) == expected
    investigator = iam.Call(iam.INVESTIGATOR, "s3:GetObject", key, status=404)
    recorder.calls[:] = [investigator]
    assert recorder.denied(iam_stack(stack)) == []  # InvestigatorPolicy lists the bucket: 404 stays 404
