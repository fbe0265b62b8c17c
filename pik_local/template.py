"""Read template.yaml and create its bucket, tables and queues through boto3 (moto or AWS).

The template is the one spec: table keys, indexes, queue redrive and the functions' environment
are all read from it, never restated here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"
_TABLE_KEYS = ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode")


class _Loader(yaml.SafeLoader):
    """YAML loader that turns CloudFormation short tags (``!Ref``, ``!Sub`` ...) into long form."""


def _cfn_tag(loader: _Loader, suffix: str, node: yaml.Node) -> dict:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_Loader.add_multi_constructor("!", _cfn_tag)


def load(path: Path | str = TEMPLATE) -> dict:
    """The template as a dict: ``load()["Resources"]["EventsTable"]["Type"]``."""
    return yaml.load(Path(path).read_text(), Loader=_Loader)


def of_type(template: dict, kind: str) -> dict[str, dict]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


@dataclass
class LocalResources:
    """Physical names of the resources created for one template, in stack-output form."""

    names: dict[str, str] = field(default_factory=dict)  # logical id -> name or URL
    outputs: dict[str, str] = field(default_factory=dict)  # snake_case stack outputs
    environment: dict[str, str] = field(default_factory=dict)  # the functions' env variables


def create(session: Any, prefix: str = "pik", template: dict | None = None) -> LocalResources:
    """Create every bucket, table and queue the template declares; return their names."""
    template = template or load()
    s3, ddb, sqs = session.client("s3"), session.client("dynamodb"), session.client("sqs")
    names: dict[str, str] = {}
    arns: dict[str, str] = {}
    for logical in of_type(template, "AWS::S3::Bucket"):
        names[logical] = f"{prefix}-{logical}".lower()
        _create_bucket(s3, names[logical], session.region_name)
    for logical, resource in of_type(template, "AWS::DynamoDB::Table").items():
        names[logical] = f"{prefix}-{logical}"
        _create_table(ddb, names[logical], resource["Properties"])
    queues = of_type(template, "AWS::SQS::Queue")
    for logical in sorted(queues, key=lambda n: "RedrivePolicy" in queues[n].get("Properties", {})):
        names[logical], arns[logical] = _create_queue(
            sqs, f"{prefix}-{logical}", queues[logical].get("Properties", {}), arns
        )
    resources = LocalResources(names=names)
    resources.outputs = _outputs(template, names)
    resources.environment = _environment(template, names)
    return resources


def _create_bucket(s3: Any, name: str, region: str) -> None:
    kwargs = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=name, **kwargs)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})


def _create_table(ddb: Any, name: str, properties: dict) -> None:
    ddb.create_table(TableName=name, **{k: properties[k] for k in _TABLE_KEYS if k in properties})
    ttl = properties.get("TimeToLiveSpecification")
    if ttl:
        ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)


def _create_queue(sqs: Any, name: str, properties: dict, arns: dict[str, str]) -> tuple[str, str]:
    attributes = {k: str(properties[k]) for k in ("VisibilityTimeout", "MessageRetentionPeriod") if k in properties}
    redrive = properties.get("RedrivePolicy")
    if redrive:
        target = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
        attributes["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": arns[target], "maxReceiveCount": str(redrive["maxReceiveCount"])}
        )
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))


def _outputs(template: dict, names: dict[str, str]) -> dict[str, str]:
    """Stack outputs that are plain ``!Ref`` of a created resource, keyed in snake_case."""
    result = {}
    for output, spec in template.get("Outputs", {}).items():
        ref = spec.get("Value", {}).get("Ref") if isinstance(spec.get("Value"), dict) else None
        if ref in names:
            result[_snake(output)] = names[ref]
    return result


def _environment(template: dict, names: dict[str, str]) -> dict[str, str]:
    """The functions' Globals environment with every ``!Ref`` resolved locally."""
    parameters = template.get("Parameters", {})
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    env = {}
    for key, value in variables.items():
        if isinstance(value, dict) and "Ref" in value:
            ref = value["Ref"]
            value = names.get(ref, parameters.get(ref, {}).get("Default", ""))
        env[key] = str(value)
    return env


def function_specs(template: dict | None = None) -> dict[str, dict]:
    """Each function's handler, timeout and events, with Globals applied."""
    template = template or load()
    defaults = template["Globals"]["Function"]
    specs = {}
    for logical, resource in of_type(template, "AWS::Serverless::Function").items():
        props = resource["Properties"]
        specs[logical] = {
            "handler": props["Handler"],
            "timeout": props.get("Timeout", defaults.get("Timeout", 3)),
            "events": props.get("Events", {}),
            "environment": props.get("Environment", {}),
        }
    return specs
