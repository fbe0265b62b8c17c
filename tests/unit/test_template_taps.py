"""What CloudFormation receives for the SQS tap's event source mapping, after the SAM translator:
a FIFO queue gets BatchSize 10 and no batching window (Lambda's rule), a standard one 100 and 1 s."""

from __future__ import annotations

import pytest

from pik.core.limits import SQS_FIFO_LAMBDA_BATCH
from pik_local import conditions, template

transform = pytest.importorskip("samtranslator.translator.transform").transform  # a dev dependency


class _NoManagedPolicies:
    def load(self) -> dict:
        return {}


@pytest.mark.parametrize(
    "queue,batch,window",
    [
        ("arn:aws:sqs:us-east-1:123456789012:orders.fifo", 10, None),
        ("arn:aws:sqs:us-east-1:123456789012:orders", 100, 1),
    ],
)
def test_the_translated_sqs_tap_mapping_respects_fifo_limits(monkeypatch, queue, batch, window):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    doc = template.load()
    for resource in doc["Resources"].values():  # sam build's job: code in S3
        if resource["Type"] == "AWS::Serverless::Function" and "CodeUri" in resource["Properties"]:
            resource["Properties"]["CodeUri"] = "s3://artifacts/code.zip"
    doc["Globals"]["Function"]["CodeUri"] = "s3://artifacts/code.zip"
    translated = transform(doc, {"SqsTapQueueArn": queue}, _NoManagedPolicies())
    received = conditions.choose(
        translated["Resources"]["SqsTapFunctionCaptured"]["Properties"],
        conditions.evaluate(translated, conditions.parameter_values(translated, {"SqsTapQueueArn": queue})),
    )
    assert (received["BatchSize"], received.get("MaximumBatchingWindowInSeconds")) == (batch, window)
    if window is None:
        assert SQS_FIFO_LAMBDA_BATCH.respected_by(received["BatchSize"])
