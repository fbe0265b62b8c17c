"""Shared fixtures: moto (in-process) with resources created from template.yaml itself."""

from __future__ import annotations

import copy
import functools
import json
import os
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from moto import mock_aws

from pik.aws import clients
from pik.core.timefmt import UTC
from pik_local import moto_patches, template
from tests.support import iam as iam_gate
from tests.support import sam

EVENTS = Path(__file__).parent / "events"
REGION = "us-east-1"


@pytest.fixture(autouse=True)
def _fake_credentials(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "DRY_RUN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def stack(monkeypatch, request):
    """Bucket, tables and queues from template.yaml under mock_aws; env set as Lambda sees it.

    Every AWS call a handler or the kit makes meanwhile is evaluated against the translated template's
    policies at the end (tests/support/iam.py): a call AWS would deny fails the test.
    """
    moto_patches.install()  # isolated transactions, as DynamoDB's (see the module)
    with mock_aws():
        clients.reset()
        resources = template.create(clients.session(region_name=REGION), prefix="test")
        for name, value in resources.environment.items():
            monkeypatch.setenv(name, value)
        recorder = iam_gate.Recorder(iam_gate.handlers_of(iam_stack(resources)))
        recorder.install(monkeypatch)
        yield resources
        if "no_iam_gate" not in request.keywords:  # @pytest.mark.no_iam_gate: a test of a refused call
            problems = recorder.denied(iam_stack(resources))
            assert not problems, "AWS would refuse these calls:\n" + "\n".join(problems)
    clients.reset()


# The options the tests exercise, all on, so every function and policy exists in the translation.
IAM_GATE_PARAMETERS = {"EnableAthena": "true", "EventBridgeTapBusName": "default",
                       "SqsTapQueueArn": f"arn:aws:sqs:{REGION}:123456789012:tap-source",
                       "KinesisTapStreamArn": f"arn:aws:kinesis:{REGION}:123456789012:stream/tap-source"}


@functools.lru_cache(maxsize=1)
def _translated() -> dict:
    return sam.translate()


def iam_stack(resources: template.LocalResources) -> sam.Stack:
    """The translated template with the test's physical names and the parameters its environment says
    (``REPLAY_TARGET_QUEUES`` -> ``ReplayTargetQueueArns`` ...), as the deployed stack would have them."""
    variables = template.load()["Globals"]["Function"]["Environment"]["Variables"]
    parameters = dict(IAM_GATE_PARAMETERS)
    for variable, value in variables.items():
        if isinstance(value, dict) and value.get("Ref") in _translated()["Parameters"] and variable in os.environ:
            parameters[value["Ref"]] = os.environ[variable]
    return sam.Stack(_translated(), parameters=parameters, names=dict(resources.names),
                     stack_name=resources.names.get("AWS::StackName", "test"))


class LambdaContext:
    """The attributes powertools reads from a Lambda context object."""

    function_name = "pik-test"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:pik-test"
    aws_request_id = "test-request"

    def __init__(self, remaining_ms: int = 30_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def api_event(path: str, body: str | dict, request_id: str | None = None, arrived_ms: int | None = None) -> dict:
    """A real-shaped API Gateway REST proxy event (tests/events/apigw_post.json) for ``path``,
    received now (or at ``arrived_ms``, epoch milliseconds)."""
    event = copy.deepcopy(json.loads((EVENTS / "apigw_post.json").read_text()))
    event["requestContext"]["requestTimeEpoch"] = arrived_ms or int(time.time() * 1000)
    event["path"] = event["resource"] = event["requestContext"]["resourcePath"] = path
    event["body"] = body if isinstance(body, str) else json.dumps(body)
    event["requestContext"]["requestId"] = request_id or str(uuid.uuid4())
    return event


def sqs_event(bodies: list[str]) -> dict:
    template_record = json.loads((EVENTS / "sqs_batch.json").read_text())["Records"][0]
    records = []
    for i, body in enumerate(bodies):
        record = copy.deepcopy(template_record)
        record["messageId"], record["body"] = f"msg-{i}", body
        records.append(record)
    return {"Records": records}


def drain_queue(sqs, url: str) -> list[dict]:
    """Receive and delete every message in the queue at ``url`` (all attributes), in receive order."""
    messages = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages", [])
        if not got:
            return messages
        for message in got:
            messages.append(message)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def make_event(**overrides) -> dict:
    """A valid ingest body, one hour old unless told otherwise."""
    event = {
        "source": "checkout",
        "event_type": "order_placed",
        "entity_id": "customer-42",
        "event_time": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "payload": {"amount": 12.5, "items": 2},
    }
    event.update(overrides)
    return event


def call(handler_module, path: str, body, request_id: str | None = None, remaining_ms: int = 30_000) -> tuple[int, dict]:
    response = handler_module.handler(api_event(path, body, request_id), LambdaContext(remaining_ms))
    return response["statusCode"], json.loads(response["body"])
