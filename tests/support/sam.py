"""What CloudFormation receives: template.yaml through the SAM translator (offline), then resolved.

``translate(parameters)`` runs ``samtranslator`` as ``sam deploy`` does (a packaged ``CodeUri``, a fake
managed-policy loader, no AWS call). ``Stack`` then evaluates CloudFormation's own functions over it
(``Ref``, ``Fn::GetAtt``, ``Fn::Sub``, ``Fn::If`` and the conditions, ``Fn::Split``/``Join``/``Select``)
for given parameter values and physical names, so tests read concrete values: a method's credentials,
a schedule's state, a role's policy with real ARNs, a function's environment in bytes.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any

import boto3
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

from pik_local import template

ACCOUNT = "123456789012"
STACK_UUID = "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9"  # the id part of every modelled stack's AWS::StackId
REGION = "us-east-1"
NO_VALUE = object()


class _NoManagedPolicies:
    """The managed-policy loader SAM asks for policy names; pik names none (only full ARNs)."""

    def load(self) -> dict[str, str]:
        return {}


def translate(parameters: dict[str, str] | None = None, source: dict | None = None) -> dict:
    """The SAM-translated template (plain CloudFormation), as ``sam deploy`` would send it."""
    document = copy.deepcopy(source or template.load())
    document["Globals"]["Function"]["CodeUri"] = "s3://pik-artifacts/pik.zip"  # what sam package writes
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=REGION))
    return translator.translate(document, dict(parameters or {}), get_managed_policy_map=_NoManagedPolicies().load)


@dataclass
class Stack:
    """A translated template with parameter values and physical names: ``resolve`` gives concrete values.

    ``names`` maps a logical id to its ``Ref`` value (bucket/table/queue URL ...), ``arns`` to its ``Arn``
    attribute; both default to names derived from the stack name, as CloudFormation generates them.
    """

    translated: dict
    parameters: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    arns: dict[str, str] = field(default_factory=dict)
    stack_name: str = "pik"
    region: str = REGION

    def __post_init__(self) -> None:
        declared = self.translated.get("Parameters", {})
        defaults = {name: str(spec.get("Default", "")) for name, spec in declared.items()}
        self.parameters = defaults | self.parameters
        stack_id = f"arn:aws:cloudformation:{self.region}:{ACCOUNT}:stack/{self.stack_name}/{STACK_UUID}"
        self.pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.stack_name,
            "AWS::StackId": stack_id,
        }
        self._conditions: dict[str, bool] = {}

    @property
    def resources(self) -> dict[str, dict]:
        """Resources whose Condition holds under these parameters."""
        return {
            name: r
            for name, r in self.translated["Resources"].items()
            if "Condition" not in r or self.condition(r["Condition"])
        }

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = bool(self.resolve(self.translated["Conditions"][name]))
        return self._conditions[name]

    def resolve(self, value: Any) -> Any:
        """``value`` with every CloudFormation function evaluated (``NO_VALUE`` items dropped)."""
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            function = _FUNCTIONS.get(key)
            if function:
                return function(self, argument)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self.names.get(name) or self._generated_name(name)

    def attribute(self, name: str, attribute: str) -> str:
        kind = self.translated["Resources"][name]["Type"]
        if attribute == "Arn":
            return self.arns.get(name) or _arn(kind, self.ref(name), self.region)
        if attribute == "QueueName":
            return str(self.ref(name)).rsplit("/", 1)[-1]
        raise KeyError(f"{name}.{attribute} is not modelled")

    def _generated_name(self, logical: str) -> str:
        """CloudFormation's generated physical name (stack-logical-SUFFIX, bucket names lowercase)."""
        resource = self.translated["Resources"][logical]
        kind, properties = resource["Type"], resource.get("Properties", {})
        explicit = properties.get("Name") or properties.get("DatabaseInput", {}).get("Name")
        if explicit and kind in ("AWS::Athena::WorkGroup", "AWS::Glue::Database"):
            return str(self.resolve(explicit))
        base = f"{self.stack_name}-{logical}-1A2B3C4D5E6F7"
        if kind == "AWS::S3::Bucket":
            return base.lower()[:63]
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{self.region}.amazonaws.com/{ACCOUNT}/{base[:80]}"
        if kind == "AWS::Lambda::Function":
            return base[:64]
        return base

    def function_environment(self, logical: str) -> dict[str, str]:
        """A translated Lambda function's environment variables, resolved."""
        properties = self.resolve(self.resources[logical]["Properties"])
        variables = properties.get("Environment", {}).get("Variables", {})
        return {key: str(value) for key, value in variables.items()}

    def role_policies(self, function: str) -> list[dict]:
        """Every policy document of a function's role: inline ones and the template's managed policies."""
        role_name = self.translated["Resources"][function]["Properties"]["Role"]["Fn::GetAtt"][0]
        role = self.resolve(self.resources[role_name]["Properties"])
        documents = [policy["PolicyDocument"] for policy in role.get("Policies", [])]
        for arn in role.get("ManagedPolicyArns", []):
            documents += [
                self.resolve(r["Properties"]["PolicyDocument"])
                for logical, r in self.resources.items()
                if r["Type"] == "AWS::IAM::ManagedPolicy" and self.ref(logical) == arn
            ]
        return documents


def _arn(kind: str, name: str, region: str) -> str:
    service, resource = kind.split("::")[1].lower(), kind.split("::")[2].lower()
    if kind == "AWS::S3::Bucket":
        return f"arn:aws:s3:::{name}"
    if kind == "AWS::SQS::Queue":
        return f"arn:aws:sqs:{region}:{ACCOUNT}:{name.rsplit('/', 1)[-1]}"
    if kind == "AWS::DynamoDB::Table":
        return f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{name}"
    if kind == "AWS::Lambda::Function":
        return f"arn:aws:lambda:{region}:{ACCOUNT}:function:{name}"
    if kind == "AWS::IAM::Role":
        return f"arn:aws:iam::{ACCOUNT}:role/{name}"
    return f"arn:aws:{service}:{region}:{ACCOUNT}:{resource}/{name}"


def _sub(stack: Stack, argument: Any) -> str:
    if isinstance(argument, str):
        text, variables = argument, {}
    else:
        text, variables = argument[0], stack.resolve(argument[1])

    def value(match: re.Match) -> str:
        name = match.group(1)
        if name.startswith("!"):
            return "${" + name[1:] + "}"
        if name in variables:
            return str(variables[name])
        if "." in name and not name.startswith("AWS::"):
            return stack.attribute(*name.split(".", 1))
        return str(stack.ref(name))

    return re.sub(r"\$\{([^}]+)\}", value, text)


def _if(stack: Stack, argument: list) -> Any:
    return stack.resolve(argument[1] if stack.condition(argument[0]) else argument[2])


_FUNCTIONS = {
    "Ref": lambda stack, name: stack.ref(name),
    "Fn::GetAtt": lambda stack, arg: stack.attribute(*(arg.split(".", 1) if isinstance(arg, str) else arg)),
    "Fn::Sub": _sub,
    "Fn::If": _if,
    "Fn::Equals": lambda stack, arg: str(stack.resolve(arg[0])) == str(stack.resolve(arg[1])),
    "Fn::Not": lambda stack, arg: not stack.resolve(arg[0]),
    "Fn::And": lambda stack, arg: all(stack.resolve(item) for item in arg),
    "Fn::Or": lambda stack, arg: any(stack.resolve(item) for item in arg),
    "Condition": lambda stack, name: stack.condition(name),
    "Fn::Split": lambda stack, arg: str(stack.resolve(arg[1])).split(arg[0]),
    "Fn::Join": lambda stack, arg: arg[0].join(str(item) for item in stack.resolve(arg[1])),
    "Fn::Select": lambda stack, arg: stack.resolve(arg[1])[int(arg[0])],
    "Fn::GetAZs": lambda stack, arg: [f"{stack.region}a", f"{stack.region}b"],
    "Fn::ToJsonString": lambda stack, arg: json.dumps(stack.resolve(arg)),
}
