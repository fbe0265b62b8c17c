"""What CloudFormation receives: template.yaml after the SAM translator, resolved for given parameters.

The source template can look right and translate wrong (an ``Enabled: !Equals`` that becomes ENABLED, an
``AWS_IAM`` authorizer that invokes with the caller's credentials): each test reads the translated form.
The AWS rules are quoted in docs/deploy.md ("AWS rules the template relies on") and ``pik.core.limits``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from moto.events.models import EventPattern

from pik.core import limits
from tests.support import sam

ROOT = Path(__file__).resolve().parents[2]
# Every option on, each free-text parameter at its MaxLength: the worst case for sizes.
EVERY_OPTION = {
    "EnableAthena": "true",
    "EnableApiAccessLogs": "true",
    "EventBridgeTapBusName": "default",
    "SqsTapQueueArn": "arn:aws:sqs:us-east-1:123456789012:orders",
    "KinesisTapStreamArn": "arn:aws:kinesis:us-east-1:123456789012:stream/orders",
    "AlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:t",
    "RawRetentionDays": "36500",
    "ReservedConcurrency": "5",
    "LogLevel": "WARNING",
    "AthenaDatabaseName": "",
}
INIT_ALLOWANCE_S = 8  # a cold start's init (Lambda allows 10 s); API Gateway's 29 s include it


@pytest.fixture(scope="module")
def translated() -> dict:
    return sam.translate()


def _stack(translated: dict, **parameters: str) -> sam.Stack:
    return sam.Stack(translated, parameters=parameters)


def _worst_case(translated: dict) -> sam.Stack:
    parameters = dict(EVERY_OPTION)
    for name, spec in translated["Parameters"].items():
        if "MaxLength" in spec and name not in parameters:
            parameters[name] = "x" * int(spec["MaxLength"])
    return sam.Stack(translated, parameters=parameters, stack_name="S" * 128, region="ap-southeast-4")


def _of_type(stack: sam.Stack, kind: str) -> dict[str, dict]:
    return {name: r for name, r in stack.resources.items() if r["Type"] == kind}


def test_api_methods_are_iam_authorized_and_invoke_with_the_apis_own_permission(translated):
    stack = _stack(translated)
    paths = stack.resolve(stack.resources["PikApi"]["Properties"]["Body"]["paths"])
    methods = {(path, verb): spec for path, verbs in paths.items() for verb, spec in verbs.items()}
    assert set(methods) == {("/ingest", "post"), ("/replay", "post"), ("/replay/{replay_id}", "post")}
    for method, spec in methods.items():
        assert spec["security"] == [{"AWS_IAM": []}], method
        # CALLER_CREDENTIALS would be "arn:aws:iam::*:user/*": the caller would need lambda:InvokeFunction
        assert "credentials" not in spec["x-amazon-apigateway-integration"], method
    permissions = _of_type(stack, "AWS::Lambda::Permission")
    principals = {stack.resolve(p["Properties"]["Principal"]) for p in permissions.values()}
    assert "apigateway.amazonaws.com" in principals


def test_the_api_has_one_stage_v1(translated):
    stack = _stack(translated)
    stages = _of_type(stack, "AWS::ApiGateway::Stage").values()
    assert [stack.resolve(s["Properties"]["StageName"]) for s in stages] == ["v1"]
    for deployment in _of_type(stack, "AWS::ApiGateway::Deployment").values():
        assert "StageName" not in deployment["Properties"]  # SAM's extra "Stage" stage


@pytest.mark.parametrize("enabled, state", [("true", "ENABLED"), ("false", "DISABLED")])
def test_the_compaction_schedule_state_follows_its_parameter(translated, enabled, state):
    stack = _stack(translated, CompactionScheduleEnabled=enabled)
    [rule] = [r for name, r in _of_type(stack, "AWS::Events::Rule").items() if name.startswith("Compaction")]
    assert stack.resolve(rule["Properties"]["State"]) == state


def test_the_pandas_layer_is_the_public_parameter_without_a_region(translated):
    stack = _stack(translated, PandasLayerSdkVersion="3.16.1")
    [layer] = stack.resolve(stack.resources["CompactionFunction"]["Properties"]["Layers"])
    assert layer == "{{resolve:ssm:/aws/service/aws-sdk-pandas/3.16.1/py3.12/arm64/layer-arn}}"


def test_regions_without_the_layer_are_refused_with_a_message_the_docs_list(translated):
    rule = translated["Rules"]["CompactionNeedsThePandasLayer"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "EnableCompaction"}, "true"]}
    [assertion] = rule["Assertions"]
    regions, region = assertion["Assert"]["Fn::Contains"]
    assert region == {"Ref": "AWS::Region"} and "us-east-1" in regions and "me-south-1" not in regions
    assert "EnableCompaction=false" in assertion["AssertDescription"]
    documented = re.search(
        r"<!-- pandas-layer-regions -->(.*?)<!-- /pandas-layer-regions -->",
        (ROOT / "docs" / "deploy.md").read_text(),
        re.S,
    )
    assert documented
    assert sorted(re.findall(r"`([a-z]{2}-[a-z]+-\d)`", documented.group(1))) == sorted(regions)


@pytest.mark.parametrize("stack_name", ["pik", "My-Pik-Stack", "a" * 128])
def test_the_glue_database_name_is_valid_and_is_the_one_the_policies_name(translated, stack_name):
    stack = sam.Stack(translated, parameters={"EnableAthena": "true"}, stack_name=stack_name)
    name = stack.resolve(stack.resources["RawDatabase"]["Properties"]["DatabaseInput"]["Name"])
    assert re.fullmatch(r"[a-z][a-z0-9_]{0,254}", name), name  # Glue lowercases; Athena takes [a-z0-9_]
    stack.names["RawDatabase"] = name  # Ref of a Glue database is its name
    policy = stack.resolve(stack.resources["AthenaInvestigatorPolicy"]["Properties"]["PolicyDocument"])
    [catalog] = [s for s in policy["Statement"] if s["Sid"] == "ReadTheArchiveCatalog"]
    assert f"arn:aws:glue:us-east-1:{sam.ACCOUNT}:database/{name}" in catalog["Resource"]
    named = sam.Stack(translated, parameters={"EnableAthena": "true", "AthenaDatabaseName": "pik_orders"})
    database = named.resources["RawDatabase"]["Properties"]["DatabaseInput"]["Name"]
    assert named.resolve(database) == "pik_orders"


def test_the_dashboard_name_holds_the_region(translated):
    stack = sam.Stack(translated, stack_name="pik", region="eu-west-1")
    name = stack.resources["HealthDashboard"]["Properties"]["DashboardName"]
    assert stack.resolve(name) == "pik-eu-west-1-health"


def test_sam_delete_leaves_buckets_that_hold_objects(translated):
    """CloudFormation cannot delete a non-empty bucket: such buckets are retained, so the stack deletes."""
    stack = _stack(translated, **EVERY_OPTION)
    for name, bucket in _of_type(stack, "AWS::S3::Bucket").items():
        assert bucket.get("DeletionPolicy") == "Retain" == bucket.get("UpdateReplacePolicy"), name


def test_every_function_environment_fits_lambdas_4_kb_with_every_option_on(translated):
    stack = _worst_case(translated)
    functions = _of_type(stack, "AWS::Lambda::Function")
    assert len(functions) == 7
    for name in functions:
        environment = stack.function_environment(name)
        size = sum(len(key.encode()) + len(value.encode()) for key, value in environment.items())
        limits.LAMBDA_ENVIRONMENT.check(size, what=f"{name}'s environment")
        assert size > 3000, (name, size)  # the worst case really is filled in


@pytest.mark.parametrize("url", ["", "https://marquez.example.com/api/v1/lineage"])
def test_only_the_replay_and_processor_functions_get_the_lineage_endpoint(translated, url):
    """``OpenLineageUrl`` (docs/lineage.md) reaches the two functions that emit, and nothing else: no other
    function's 4 KB environment pays for it, no IAM statement is added (a POST leaves Lambda like any HTTPS call)."""
    stack = _stack(translated, OpenLineageUrl=url)
    functions = _of_type(stack, "AWS::Lambda::Function")
    having = {name for name in functions if "LINEAGE_URL" in stack.function_environment(name)}
    assert having == {"ReplayFunction", "ProcessorFunction"}
    assert {stack.function_environment(name)["LINEAGE_URL"] for name in having} == {url}
    assert stack.function_environment("ReplayFunction")["REPLAY_QUEUE_URL"]  # merged with Globals', not replacing
    assert stack.condition("LineageEnabled") is bool(url)
    outputs = translated["Outputs"]["OpenLineageUrl"]
    assert outputs["Condition"] == "LineageEnabled" and stack.resolve(outputs["Value"]) == url
    assert _stack(translated).role_policies("ReplayFunction") == _stack(
        translated, OpenLineageUrl="https://x.example/l"
    ).role_policies("ReplayFunction")
    assert re.fullmatch(translated["Parameters"]["OpenLineageUrl"]["AllowedPattern"], url)
    assert not re.fullmatch(translated["Parameters"]["OpenLineageUrl"]["AllowedPattern"], "file:///etc/passwd")


def test_api_facing_functions_answer_before_api_gateway_gives_up(translated):
    stack = _stack(translated)
    integrated = {
        uri.split("function:")[1].split("/")[0]
        for uri in re.findall(
            r'"uri": "([^"]+)"', json.dumps(stack.resolve(stack.resources["PikApi"]["Properties"]["Body"]))
        )
    }
    functions = {
        name: r for name, r in _of_type(stack, "AWS::Lambda::Function").items() if stack.ref(name) in integrated
    }
    assert set(functions) == {"IngestFunction", "ReplayFunction"}
    for name, function in functions.items():
        timeout = function["Properties"]["Timeout"]
        limits.API_GATEWAY_INTEGRATION_TIMEOUT.check(timeout + INIT_ALLOWANCE_S, what=f"{name}'s timeout + init")


def test_no_function_needs_reserved_concurrency_by_default(translated):
    """A new account (concurrency 10) cannot reserve any: Lambda keeps 100 unreserved. The compaction
    function's own one-at-a-time reservation is replaced by a lease (issue 17, finding 2; issue 18,
    finding 11)."""
    stack = _stack(translated)
    reserved = {
        name
        for name, r in _of_type(stack, "AWS::Lambda::Function").items()
        if "ReservedConcurrentExecutions" in stack.resolve(r["Properties"])
    }
    assert reserved == set()  # the compaction function too: one run at a time is its lease's job
    assert translated["Parameters"]["ReservedConcurrency"]["Default"] == ""


def test_queue_fed_functions_are_capped_by_their_mapping_and_redrive_late(translated):
    stack = _stack(translated, **EVERY_OPTION)
    functions = _of_type(stack, "AWS::Lambda::Function")
    queues = {
        stack.attribute(name, "Arn"): stack.resolve(q["Properties"])
        for name, q in _of_type(stack, "AWS::SQS::Queue").items()
    }
    mappings = [stack.resolve(m["Properties"]) for m in _of_type(stack, "AWS::Lambda::EventSourceMapping").values()]
    sqs = [m for m in mappings if ":sqs:" in m["EventSourceArn"]]
    assert len(sqs) == 3
    for mapping in sqs:
        limits.SQS_MAXIMUM_CONCURRENCY.check(
            int(mapping["ScalingConfig"]["MaximumConcurrency"]), what="MaximumConcurrency"
        )
        queue = queues.get(mapping["EventSourceArn"])
        if queue is None:
            continue  # the SQS tap's queue is the user's own (docs/capture.md says what it needs)
        [function] = [f for name, f in functions.items() if stack.ref(name) == mapping["FunctionName"]]
        ratio = queue["VisibilityTimeout"] / function["Properties"]["Timeout"]
        limits.SQS_VISIBILITY_PER_TIMEOUT.check(ratio, what=f"{mapping['EventSourceArn']}'s visibility / timeout")
        limits.SQS_MAX_RECEIVE_COUNT.check(queue["RedrivePolicy"]["maxReceiveCount"], what="maxReceiveCount")
    for function in functions.values():
        limits.LAMBDA_TIMEOUT.check(function["Properties"]["Timeout"], what="a function's timeout")


@pytest.mark.parametrize("source, captured", [("shop.orders", True), ("aws.s3", False), ("aws.ec2", False)])
def test_the_default_eventbridge_tap_pattern_leaves_aws_service_events_out(translated, source, captured):
    stack = _stack(translated, EventBridgeTapBusName="default")
    [rule] = [r for name, r in _of_type(stack, "AWS::Events::Rule").items() if name == "EventBridgeTapRule"]
    pattern = EventPattern.load(stack.resolve(rule["Properties"]["EventPattern"]))
    detail_type = "Object Created" if source.startswith("aws.") else "order.placed"
    event = {"source": source, "detail-type": detail_type, "detail": {}}
    assert pattern.matches_event(event) is captured
