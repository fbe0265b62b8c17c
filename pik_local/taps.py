"""The taps of the local stack: what ``--param EventBridgeTapBusName=... / SqsTapQueueArn=... /
KinesisTapStreamArn=...`` switches on, created on moto the way the pipes exist in AWS.

In AWS the bus, the SQS queue and the Kinesis stream already exist (they are the team's); locally
they are created from the parameters (the queue and stream named by their ARNs, with one shard).
The template's own tap resources (the EventBridge rule, its queue and DLQ, the Kinesis failure
queue) are created from the template like the rest. The EventBridge rule delivers to its queue
(moto's EventBridge sends matching events to an SQS target), which the tap function polls, as in
AWS. The queue policy is not enforced by moto.

    outputs = create(session, doc, prefix="pik", names=resources.names)
    outputs["sqs_tap_queue_url"]                   # where to send messages to capture
"""

from __future__ import annotations

import json
from typing import Any

from pik.core.errors import PikError
from pik.core.mapping import MappingError
from pik.handlers.tap import TAPS as PRESETS
from pik.handlers.tap import mapping_for

TAPS = {"EventBridgeTapFunction": "eventbridge", "SqsTapFunction": "sqs", "KinesisTapFunction": "kinesis"}


class TapError(PikError, ValueError):
    """A tap that cannot start: a mapping that does not parse, naming the parameter."""


def check_mappings(doc: dict) -> None:
    """Parse the mapping of every enabled tap, or ``TapError`` naming its parameter and mistake."""
    values = doc["ParameterValues"]
    for function, preset in TAPS.items():
        if function in doc["Resources"]:
            try:
                mapping_for(preset, values.get(PRESETS[preset][1], ""))
            except MappingError as exc:
                raise TapError(str(exc)) from exc  # names the parameter, as the tap function does in AWS


def create(session: Any, doc: dict, *, prefix: str, names: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Create the enabled taps' pipes and rules; (outputs for the info file, parameter -> local URL/ARN)."""
    values, resources = doc["ParameterValues"], doc["Resources"]
    outputs: dict[str, str] = {}
    located: dict[str, str] = {}
    if "SqsTapFunction" in resources:
        sqs = session.client("sqs")
        name = values["SqsTapQueueArn"].rsplit(":", 1)[1]
        attributes = {"FifoQueue": "true"} if name.endswith(".fifo") else {}
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        located["SqsTapQueueArn"] = url
        outputs["sqs_tap_queue_url"] = url
    if "KinesisTapFunction" in resources:
        kinesis = session.client("kinesis")
        name = values["KinesisTapStreamArn"].split("/", 1)[1]
        if name not in kinesis.list_streams()["StreamNames"]:
            kinesis.create_stream(StreamName=name, ShardCount=1)
        arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
        located["KinesisTapStreamArn"] = outputs["kinesis_tap_stream_arn"] = arn
        outputs["kinesis_tap_stream_name"] = name
    for logical, rule in resources.items():
        if rule["Type"] == "AWS::Events::Rule":
            outputs.update(_create_rule(session, logical, rule["Properties"], values, prefix, names))
    return outputs, located


def _create_rule(
    session: Any, logical: str, props: dict, values: dict[str, str], prefix: str, names: dict[str, str]
) -> dict[str, str]:
    events, sqs = session.client("events"), session.client("sqs")
    bus = _value(props["EventBusName"], values)
    if bus != "default" and bus not in [b["Name"] for b in events.list_event_buses()["EventBuses"]]:
        events.create_event_bus(Name=bus)
    pattern = _value(props["EventPattern"], values)
    rule = f"{prefix}-{logical}"
    events.put_rule(
        Name=rule,
        EventBusName=bus,
        EventPattern=pattern if isinstance(pattern, str) else json.dumps(pattern),
        State=props.get("State", "ENABLED"),
    )
    targets = []
    for target in props["Targets"]:
        url = names[target["Arn"]["Fn::GetAtt"][0]]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        targets.append({"Id": target["Id"], "Arn": arn})
    events.put_targets(Rule=rule, EventBusName=bus, Targets=targets)
    return {"event_bridge_tap_bus_name": bus, "event_bridge_tap_rule_name": rule}


def _value(node: Any, values: dict[str, str]) -> Any:
    return values[node["Ref"]] if isinstance(node, dict) and "Ref" in node else node
