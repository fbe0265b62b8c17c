"""The translated template as the IAM gate (tests/support/iam.py) judges a test's calls against: the
test's physical names and the parameters its environment says, as the deployed stack would have them."""

from __future__ import annotations

import functools
import os

from pik_local import template

from . import sam
from .aws import REGION

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
