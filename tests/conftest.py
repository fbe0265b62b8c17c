"""Shared fixtures: moto (in-process) with resources created from template.yaml itself (helpers: tests/support)."""

from __future__ import annotations

import functools
import os

import pytest
from moto import mock_aws

from pik.aws import clients
from pik_local import moto_patches, template
from tests.support import iam as iam_gate
from tests.support import sam
from tests.support.aws import REGION  # noqa: F401 (older imports of it)
from tests.support.events import EVENTS, api_event, make_event, sqs_event  # noqa: F401 (older imports of them)
from tests.support.lambdas import LambdaContext, call  # noqa: F401
from tests.support.queues import drain_queue  # noqa: F401


@pytest.fixture(autouse=True)
def _fake_credentials(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
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
IAM_GATE_PARAMETERS = {
    "EnableAthena": "true",
    "EventBridgeTapBusName": "default",
    "SqsTapQueueArn": f"arn:aws:sqs:{REGION}:123456789012:tap-source",
    "KinesisTapStreamArn": f"arn:aws:kinesis:{REGION}:123456789012:stream/tap-source",
}


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
    return sam.Stack(
        _translated(),
        parameters=parameters,
        names=dict(resources.names),
        stack_name=resources.names.get("AWS::StackName", "test"),
    )
