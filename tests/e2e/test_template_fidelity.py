"""The local stack is template.yaml: same tables, indexes, queue redrive, routes and batch settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pik_local import conditions, template
from pik_local.api import local_identity, proxy_event
from pik_local.stack import LocalStack

EVENTS = Path(__file__).resolve().parent.parent / "events"


@pytest.fixture
def stack(tmp_path):
    with LocalStack(info_file=tmp_path / "local.json") as running:
        yield running


def test_tables_have_the_template_keys_and_indexes(stack):
    ddb = stack.session().client("dynamodb")
    for logical, resource in template.of_type(template.load(), "AWS::DynamoDB::Table").items():
        declared = resource["Properties"]
        table = ddb.describe_table(TableName=stack.resources.names[logical])["Table"]
        assert table["KeySchema"] == declared["KeySchema"]
        assert sorted(table["AttributeDefinitions"], key=str) == sorted(declared["AttributeDefinitions"], key=str)
        indexes = {i["IndexName"]: (i["KeySchema"], i["Projection"]) for i in table.get("GlobalSecondaryIndexes", [])}
        assert indexes == {
            i["IndexName"]: (i["KeySchema"], i["Projection"]) for i in declared.get("GlobalSecondaryIndexes", [])
        }
        assert table["BillingModeSummary"]["BillingMode"] == declared["BillingMode"]


def test_queues_have_the_template_redrive_and_timeouts(stack):
    sqs = stack.session().client("sqs")
    names = stack.resources.names
    queues = template.of_type(conditions.resolve(template.load()), "AWS::SQS::Queue")  # those of the default parameters
    for logical, resource in queues.items():
        declared = resource["Properties"]
        attributes = sqs.get_queue_attributes(QueueUrl=names[logical], AttributeNames=["All"])["Attributes"]
        for name in ("VisibilityTimeout", "MessageRetentionPeriod"):
            if name in declared:
                assert attributes[name] == str(declared[name])
        if "RedrivePolicy" in declared:
            target = declared["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
            target_arn = sqs.get_queue_attributes(QueueUrl=names[target], AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            assert json.loads(attributes["RedrivePolicy"]) == {
                "deadLetterTargetArn": target_arn,
                "maxReceiveCount": declared["RedrivePolicy"]["maxReceiveCount"],
            }


def test_routes_and_pollers_are_the_template_events(stack):
    assert sorted(stack._api.routes) == [("POST", "/ingest"), ("POST", "/replay"), ("POST", "/replay/{replay_id}")]
    assert {f.name: f.timeout_s for f in stack._api.routes.values()} == {
        "IngestFunction": 20,
        "ReplayFunction": 20,
    }  # < 29 s with init
    [poller] = stack._pollers
    assert (poller.function.name, poller.function.timeout_s) == ("ProcessorFunction", 60)
    assert (poller.mapping.batch_size, poller.mapping.report_failures) == (10, True)
    assert poller.mapping.queue_url == stack.info.outputs["replay_queue_url"]
    assert stack.info.api_url.endswith("/v1")  # the template's stage


def test_proxy_events_have_the_shape_of_api_gateway_events():
    recorded = json.loads((EVENTS / "apigw_post.json").read_text())
    made = proxy_event("POST", "/ingest", "v1", {"Content-Type": "application/json"}, b"{}", local_identity())
    assert set(made) == set(recorded)
    assert set(made["requestContext"]) == set(recorded["requestContext"])
    assert set(made["requestContext"]["identity"]) == set(recorded["requestContext"]["identity"])
    assert (made["requestContext"]["path"], made["body"], made["isBase64Encoded"]) == ("/v1/ingest", "{}", False)
    assert made["queryStringParameters"] is None
    queried = proxy_event("POST", "/replay", "v1", {}, b"\xff", local_identity(), "a=1&a=2&b=")
    assert queried["queryStringParameters"] == {"a": "2", "b": ""}
    assert queried["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": [""]}
    # no binary media types: text as text; bytes that are not UTF-8 go as base64 so the handler refuses them
    assert (queried["body"], queried["isBase64Encoded"]) == ("/w==", True)
