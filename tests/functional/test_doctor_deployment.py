"""``pik_nb.doctor``'s checks of a deployed stack's own resources (layer, event source mappings,
alarms) against moto's Lambda and CloudWatch: ok lines, and failures with their exact fix."""

from __future__ import annotations

import io
import zipfile

import boto3
import pytest
from moto import mock_aws

from pik_nb.investigate import doctor
from pik_nb.read.stack import Resources, Stack

REGION = "us-east-1"


@pytest.fixture
def aws():
    with mock_aws():
        session = boto3.session.Session(region_name=REGION)
        role = session.client("iam").create_role(RoleName="fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("h.py", "def h(event, context):\n    return None\n")
        lam = session.client("lambda")
        layer = lam.publish_layer_version(LayerName="AWSSDKPandas", Content={"ZipFile": code.getvalue()})[
            "LayerVersionArn"
        ]
        lam.create_function(
            FunctionName="pik-compact",
            Runtime="python3.12",
            Role=role,
            Handler="h.h",
            Code={"ZipFile": code.getvalue()},
            Layers=[layer],
        )
        queue = session.client("sqs").create_queue(QueueName="orders")["QueueUrl"]
        arn = session.client("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        mapping = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="pik-compact", BatchSize=10)
        resources = Resources(
            "b",
            "e",
            "a",
            "r",
            "q",
            "dlq",
            "https://api",
            extra={"stack_name": "pik-prod", "compaction_function_name": "pik-compact"},
        )
        yield Stack(session, resources), mapping["UUID"], layer


def test_the_layer_and_an_enabled_mapping_are_ok(aws):
    stack, uuid, layer = aws
    assert doctor.layer(stack) == (f"pik-compact: {layer}", "")
    [check] = doctor.event_source_mappings(
        stack, [{"PhysicalResourceId": uuid, "LogicalResourceId": "SqsTapFunctionCaptured"}]
    )
    assert (check.status, check.detail) == ("ok", "orders -> pik-compact: Enabled")


def test_a_disabled_mapping_fails_with_the_command_that_enables_it(aws):
    stack, uuid, _ = aws
    stack.client("lambda").update_event_source_mapping(UUID=uuid, Enabled=False)
    [check] = doctor.event_source_mappings(
        stack, [{"PhysicalResourceId": uuid, "LogicalResourceId": "SqsTapFunctionCaptured"}]
    )
    assert (check.name, check.status, check.detail) == (
        "mapping SqsTapFunctionCaptured",
        "FAIL",
        "orders is Disabled",
    )
    assert check.fix.startswith(f"aws lambda update-event-source-mapping --uuid {uuid} --enabled")


def test_a_missing_layer_version_fails_naming_the_fix(aws):
    stack, _, layer = aws
    stack.client("lambda").delete_layer_version(LayerName="AWSSDKPandas", VersionNumber=int(layer.rsplit(":", 1)[1]))
    check = doctor._guard("layer", lambda: doctor.layer(stack))
    assert check.status == "FAIL" and "ResourceNotFoundException" in check.detail
    assert check.fix == doctor.FALLBACK["layer"]


def test_alarms_present_missing_and_firing(aws):
    stack, _, _ = aws
    cloudwatch = stack.client("cloudwatch")
    for name in ("pik-prod-ConflictAlarm-1", "pik-prod-LagAlarm-2"):
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            MetricName="m",
            Namespace="Pik",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=0,
            ComparisonOperator="GreaterThanThreshold",
        )
    cloudwatch.set_alarm_state(AlarmName="pik-prod-LagAlarm-2", StateValue="ALARM", StateReason="test")
    present = [{"PhysicalResourceId": n} for n in ("pik-prod-ConflictAlarm-1", "pik-prod-LagAlarm-2")]
    assert doctor.alarms(stack, present) == ("2 present, in ALARM: pik-prod-LagAlarm-2", "")
    check = doctor.alarms(stack, [*present, {"PhysicalResourceId": "pik-prod-DlqAlarm-3"}])
    assert (check.status, check.detail, check.fix) == (
        "FAIL",
        "missing: pik-prod-DlqAlarm-3",
        "redeploy the stack (`sam deploy`)",
    )


def test_access_denied_names_the_policy_to_grant():
    from botocore.exceptions import ClientError

    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetObject")
    assert "s3:ListBucket" in doctor.fix_for("missing key", denied)
    assert "HealthInvestigatorPolicy" in doctor.fix_for("metrics", denied)
