"""The investigator managed policy: exactly what pik_nb / pik need on a deployed stack, on this stack only.

It reads the tables and their indexes, lists and reads the raw bucket, reads the replay queues'
depths (``pik status``), describes this stack (``connect(stack=...)``) and calls ``POST /replay``.
Nothing else: no writes, no ``POST /ingest``, no ``*`` resources.
"""

from __future__ import annotations

import re
from pathlib import Path

import botocore.session
import pytest

from pik_local import template

ROOT = Path(__file__).resolve().parents[2]
PSEUDO = {"AWS::Partition", "AWS::Region", "AWS::AccountId", "AWS::URLSuffix"}

EXPECTED = {
    "ReadTablesAndIndexes": {
        "dynamodb:BatchGetItem",
        "dynamodb:DescribeTable",
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:Scan",
    },
    "ListRawBucket": {"s3:ListBucket"},
    "ReadRawObjects": {"s3:GetObject"},
    "InvokeReplayOnly": {"execute-api:Invoke"},
    "ReplayQueueDepths": {"sqs:GetQueueAttributes"},
    "FindThisStack": {"cloudformation:DescribeStacks", "cloudformation:ListStackResources"},
}


@pytest.fixture(scope="module")
def tpl() -> dict:
    return template.load()


@pytest.fixture(scope="module")
def statements(tpl) -> dict[str, dict]:
    policy = template.of_type(tpl, "AWS::IAM::ManagedPolicy")["InvestigatorPolicy"]
    return {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def test_the_policy_allows_exactly_the_investigator_actions(statements):
    assert {sid: set(_listed(s["Action"])) for sid, s in statements.items()} == EXPECTED
    assert all(
        s["Effect"] == "Allow" and set(s) == {"Sid", "Effect", "Action", "Resource"} for s in statements.values()
    )
    actions = [a for s in statements.values() for a in _listed(s["Action"])]
    assert not [a for a in actions if "*" in a], "no wildcard actions"


def _references(resource) -> tuple[str, set[str]]:
    """The ARN pattern (``${...}`` kept) and every name it refers to."""
    if "Fn::GetAtt" in resource:
        logical, attribute = resource["Fn::GetAtt"]
        assert attribute == "Arn"
        return f"${{{logical}.Arn}}", {logical}
    if "Ref" in resource:
        return f"${{{resource['Ref']}}}", {resource["Ref"]}
    pattern = resource["Fn::Sub"]
    assert isinstance(pattern, str), "Sub with a variable map hides what it refers to"
    return pattern, {
        name.split(".")[0] if not name.startswith("AWS::") else name for name in re.findall(r"\$\{([^}!]+)\}", pattern)
    }


def test_every_resource_is_this_stacks(tpl, statements):
    resources = tpl["Resources"]
    for sid, statement in statements.items():
        for resource in _listed(statement["Resource"]):
            assert isinstance(resource, dict), f"{sid}: literal resource {resource!r} (a '*' or another stack's ARN)"
            pattern, names = _references(resource)
            assert names, f"{sid}: {pattern} refers to nothing in this stack"
            assert names <= set(resources) | PSEUDO | {"AWS::StackId"}, f"{sid}: {pattern} refers outside the template"
            assert names & (set(resources) | {"AWS::StackId"}), f"{sid}: {pattern} names no resource of this stack"
            assert not pattern.startswith("*") and "*:" not in pattern, f"{sid}: {pattern} is too wide"
            # The only wildcards: every index of a table, every object of the bucket, every run id of POST /replay/{id}.
            if "*" in pattern and not pattern.endswith("/v1/POST/replay/*"):
                assert re.fullmatch(r"\$\{\w+\.Arn\}/(index/)?\*", pattern), f"{sid}: {pattern}"


def test_each_statement_targets_the_right_resource_types(tpl, statements):
    kinds = {name: r["Type"] for name, r in tpl["Resources"].items()} | {"AWS::StackId": "AWS::CloudFormation::Stack"}

    def targets(sid: str) -> set[tuple[str, str]]:
        found = set()
        for resource in _listed(statements[sid]["Resource"]):
            pattern, names = _references(resource)
            found |= {(kinds[n], pattern) for n in names if n in kinds}
        return found

    tables = template.of_type(tpl, "AWS::DynamoDB::Table")
    expected_tables = {("AWS::DynamoDB::Table", f"${{{t}.Arn}}") for t in tables}
    expected_tables |= {
        ("AWS::DynamoDB::Table", f"${{{t}.Arn}}/index/*")
        for t, r in tables.items()
        if r["Properties"].get("GlobalSecondaryIndexes")
    }
    assert targets("ReadTablesAndIndexes") == expected_tables  # every table, every table's indexes
    assert targets("ListRawBucket") == {("AWS::S3::Bucket", "${RawBucket.Arn}")}
    assert targets("ReadRawObjects") == {("AWS::S3::Bucket", "${RawBucket.Arn}/*")}
    assert targets("ReplayQueueDepths") == {
        ("AWS::SQS::Queue", "${ReplayQueue.Arn}"),
        ("AWS::SQS::Queue", "${ReplayDeadLetterQueue.Arn}"),
    }
    assert targets("FindThisStack") == {("AWS::CloudFormation::Stack", "${AWS::StackId}")}


def test_execute_api_is_post_replay_on_this_apis_stage_only(tpl, statements):
    arns = [resource["Fn::Sub"] for resource in _listed(statements["InvokeReplayOnly"]["Resource"])]
    stage = tpl["Resources"]["PikApi"]["Properties"]["StageName"]
    base = f"arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{PikApi}}/{stage}/POST/replay"
    assert arns == [base, base + "/*"]  # POST /replay and POST /replay/{replay_id} (pause, resume, cancel)
    routes = {
        (e["Properties"]["Method"].upper(), e["Properties"]["Path"])
        for f in template.of_type(tpl, "AWS::Serverless::Function").values()
        for e in f["Properties"].get("Events", {}).values()
        if e["Type"] == "Api"
    }
    assert {
        ("POST", "/replay"),
        ("POST", "/replay/{replay_id}"),
        ("POST", "/ingest"),
    } <= routes  # ingest exists and is not granted


def test_the_policy_is_output_and_attached_to_nobody(tpl):
    policy = tpl["Resources"]["InvestigatorPolicy"]
    assert not {"Roles", "Users", "Groups"} & set(policy["Properties"]), "the account owner chooses who gets it"
    assert "Condition" not in policy
    assert tpl["Outputs"]["InvestigatorPolicyArn"]["Value"] == {"Ref": "InvestigatorPolicy"}


# The kit also reads through the Lambdas' storage adapters (``pik.aws``) and its own fast reader:
# constructing one means using its read calls (the kit never calls their writes).
ADAPTER_READS = {
    "DocumentStore": {"s3:GetObject"},
    "ObjectReader": {"s3:GetObject"},  # pik_nb.read._s3: signed GETs of raw objects and manifests
    "FastReader": {"dynamodb:Query", "dynamodb:Scan"},
    "EventIndex": {"dynamodb:GetItem", "dynamodb:Query"},
    "AggregateStore": {"dynamodb:Query"},
    "Table": {"dynamodb:GetItem", "dynamodb:Query"},
}


def _iam_actions_used_by_the_kit() -> set[str]:
    """AWS operations the notebook kit and the CLI call, read from their source, as IAM actions.

    Three call shapes exist: boto3 clients (``client("sqs").get_queue_attributes(``, paginators),
    DynamoDB operations named for the kit's own signed reader (``("Query", {...})``,
    ``return "Scan", ...``), and the storage adapters of ``ADAPTER_READS``.
    """
    session = botocore.session.get_session()
    models = {name: session.get_service_model(name) for name in ("dynamodb", "s3", "sqs", "cloudformation")}
    snake = {name: {botocore.xform_name(op): op for op in model.operation_names} for name, model in models.items()}
    s3_iam = {"ListObjectsV2": "ListBucket", "ListObjects": "ListBucket", "HeadObject": "GetObject"}
    used = set()
    sources = [p for d in ("pik_nb", "pik_cli") for p in (ROOT / d).rglob("*.py")]
    for path in sources:
        text = path.read_text()
        for service, ops in snake.items():
            calls = re.findall(rf'client\("{service}"\)\.(\w+)\(', text)
            calls += re.findall(rf'client\("{service}"\)\.get_paginator\("(\w+)"\)', text)
            for call in calls:
                if call in ops:
                    op = ops[call]
                    used.add(f"{service}:{s3_iam.get(op, op) if service == 's3' else op}")
        for op in re.findall(r'"([A-Z][A-Za-z]+)"\s*,', text):
            if op in models["dynamodb"].operation_names:
                used.add(f"dynamodb:{op}")
        for adapter in re.findall(r"(?<![\w.])(" + "|".join(ADAPTER_READS) + r")\(", text):
            used |= ADAPTER_READS[adapter]
    return used


def test_the_policy_covers_what_the_kit_calls(statements):
    used = _iam_actions_used_by_the_kit()
    assert {"dynamodb:Query", "s3:GetObject", "sqs:GetQueueAttributes", "cloudformation:DescribeStacks"} <= used
    granted = set().union(*EXPECTED.values())
    assert used <= granted, (
        f"pik_nb/pik call {sorted(used - granted)}: grant them in InvestigatorPolicy "
        "(template.yaml) and docs/deploy.md, or use a call the policy already allows"
    )


def test_health_readers_get_metric_data_only_in_a_policy_of_their_own(tpl):
    """GetMetricData takes no resource-level permission, so it needs "*": never in InvestigatorPolicy."""
    policy = tpl["Resources"]["HealthInvestigatorPolicy"]
    assert policy["Type"] == "AWS::IAM::ManagedPolicy" and "Roles" not in policy["Properties"]
    [statement] = policy["Properties"]["PolicyDocument"]["Statement"]
    assert (statement["Effect"], statement["Action"], statement["Resource"]) == (
        "Allow",
        ["cloudwatch:GetMetricData"],
        "*",
    )
    assert tpl["Outputs"]["HealthInvestigatorPolicyArn"]["Value"] == {"Ref": "HealthInvestigatorPolicy"}
