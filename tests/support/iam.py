"""The IAM gate: every AWS call a function (or the investigator) makes in a test, evaluated against the
policy CloudFormation would attach, with a real policy evaluator (Principal Mapper's local simulation).

moto enforces no IAM, so a handler can pass every test and be denied on AWS. ``Recorder`` hooks every
botocore client (``before-parameter-build`` / ``after-call``) and notes who called: the template function
whose handler is running (handlers are wrapped, thread pools carry the caller along), or the investigator
for ``pik_nb`` / ``pik_cli`` code. ``Recorder.denied(stack)`` evaluates each call as AWS would:

- an explicit Deny (the role's policies, the bucket policy) denies; else an Allow of the role's policies
  allows; else denied (implicit deny);
- S3 answers 403, not 404, for a missing key unless the caller may ``s3:ListBucket`` the bucket (a
  ``s3:prefix`` condition does not count: GetObject carries no prefix);
- API Gateway invokes the integration with the caller's credentials when the translated method carries
  ``credentials: arn:aws:iam::*:user/*`` (SAM's ``CALLER_CREDENTIALS``): the caller then needs
  ``lambda:InvokeFunction``, and ``execute-api:Invoke`` on the method in any case.
"""

from __future__ import annotations

import collections
import collections.abc
import concurrent.futures
import contextvars
import functools
import importlib
import json
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import botocore.client

# principalmapper 1.1.5 imports Mapping from collections (removed in Python 3.10): alias it first.
for _name in ("Mapping", "MutableMapping"):
    if not hasattr(collections, _name):
        setattr(collections, _name, getattr(collections.abc, _name))

from principalmapper.querying.local_policy_simulation import policy_has_matching_statement  # noqa: E402 (after the alias)
from principalmapper.util.case_insensitive_dict import CaseInsensitiveDict  # noqa: E402 (after the alias)

from tests.support.sam import ACCOUNT, STACK_UUID, Stack  # noqa: E402 (after the alias)

# Refusals another change fixes, reported by ``pending``, not failed; remove an entry once it lands
# (the compaction role's missing-key reads were one: its s3:ListBucket, ADR 310, made them 404s).
PENDING: tuple[str, ...] = ()
INVESTIGATOR = "Investigator"
INVESTIGATOR_POLICIES = ("InvestigatorPolicy", "HealthInvestigatorPolicy", "AthenaInvestigatorPolicy")
_KIT_MODULES = ("pik_nb", "pik_cli", "pik_api")
_principal: contextvars.ContextVar[str | None] = contextvars.ContextVar("pik_iam_principal", default=None)


@dataclass(frozen=True)
class Call:
    """One authorization AWS makes: ``Call("IngestFunction", "s3:PutObject", "arn:aws:s3:::b/raw/k")``."""

    principal: str
    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()
    status: int = 200
    operation: str = ""

    def describe(self) -> str:
        keys = ", ".join(f"{k}={v}" for k, v in self.context)
        return (
            f"{self.principal}: {self.action} on {self.resource}"
            + (f" [{keys}]" if keys else "")
            + f" ({self.operation}, {self.status})"
        )


def _s3(operation: str, params: dict, region: str) -> list[tuple[str, str, dict]]:
    bucket = f"arn:aws:s3:::{params.get('Bucket', '')}"
    key = f"{bucket}/{params.get('Key', '')}"
    if operation in ("GetObject", "HeadObject"):
        return [("s3:GetObject", key, {})]
    if operation == "PutObject":
        context = {"s3:if-none-match": params["IfNoneMatch"]} if "IfNoneMatch" in params else {}
        return [("s3:PutObject", key, context)]
    if operation == "DeleteObject":
        return [("s3:DeleteObject", key, {})]
    if operation == "DeleteObjects":
        return [("s3:DeleteObject", f"{bucket}/{o['Key']}", {}) for o in params["Delete"]["Objects"]]
    if operation in ("ListObjectsV2", "ListObjects"):
        return [("s3:ListBucket", bucket, {"s3:prefix": params.get("Prefix", "")})]
    if operation == "ListObjectVersions":
        return [("s3:ListBucketVersions", bucket, {"s3:prefix": params.get("Prefix", "")})]
    if operation in ("GetBucketLocation", "HeadBucket"):
        return [("s3:GetBucketLocation" if operation == "GetBucketLocation" else "s3:ListBucket", bucket, {})]
    raise NotModelled("s3", operation)


def _dynamodb(operation: str, params: dict, region: str) -> list[tuple[str, str, dict]]:
    def table(name: str, index: str | None = None) -> str:
        arn = name if name.startswith("arn:") else f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{name}"
        return f"{arn}/index/{index}" if index else arn

    if operation == "TransactWriteItems":
        kinds = {
            "Put": "PutItem",
            "Update": "UpdateItem",
            "Delete": "DeleteItem",
            "ConditionCheck": "ConditionCheckItem",
        }
        return [
            (f"dynamodb:{kinds[kind]}", table(spec["TableName"]), {})
            for item in params["TransactItems"]
            for kind, spec in item.items()
        ]
    if operation == "TransactGetItems":
        return [("dynamodb:GetItem", table(item["Get"]["TableName"]), {}) for item in params["TransactItems"]]
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return [(f"dynamodb:{operation}", table(name), {}) for name in params["RequestItems"]]
    return [(f"dynamodb:{operation}", table(params["TableName"], params.get("IndexName")), {})]


def _sqs(operation: str, params: dict, region: str) -> list[tuple[str, str, dict]]:
    if operation in ("GetQueueUrl", "ListQueues"):
        name = params.get("QueueName", "")
        return [(f"sqs:{operation}", f"arn:aws:sqs:{region}:{ACCOUNT}:{name}", {})]
    name = params["QueueUrl"].rstrip("/").rsplit("/", 1)[-1]
    action = operation.removesuffix("Batch")
    return [(f"sqs:{action}", f"arn:aws:sqs:{region}:{ACCOUNT}:{name}", {})]


def _events(operation: str, params: dict, region: str) -> list[tuple[str, str, dict]]:
    buses = {entry.get("EventBusName", "default") for entry in params.get("Entries", [])} or {"default"}
    return [
        (
            f"events:{operation}",
            bus if bus.startswith("arn:") else f"arn:aws:events:{region}:{ACCOUNT}:event-bus/{bus}",
            {},
        )
        for bus in sorted(buses)
    ]


def _kinesis(operation: str, params: dict, region: str) -> list[tuple[str, str, dict]]:
    name = params.get("StreamName", "")
    arn = params.get("StreamARN") or f"arn:aws:kinesis:{region}:{ACCOUNT}:stream/{name}"
    return [(f"kinesis:{operation}", arn, {})]


def _ssm(operation: str, params: dict, region: str) -> list[tuple[str, str, dict]]:
    name = params["Name"]
    path = name if name.startswith("/") else "/" + name
    return [(f"ssm:{operation}", f"arn:aws:ssm:{region}:{ACCOUNT}:parameter{path}", {})]


def _cloudformation(operation: str, params: dict, region: str) -> list[tuple[str, str, dict]]:
    name = params.get("StackName", "*")  # AWS authorizes the stack's ARN (its id), whatever names it
    return [
        (
            f"cloudformation:{operation}",
            name if name.startswith("arn:") else f"arn:aws:cloudformation:{region}:{ACCOUNT}:stack/{name}/{STACK_UUID}",
            {},
        )
    ]


def _cloudwatch(operation: str, params: dict, region: str) -> list[tuple[str, str, dict]]:
    return [(f"cloudwatch:{operation}", "*", {})]  # GetMetricData takes no resource-level permission


def _athena(operation: str, params: dict, region: str) -> list[tuple[str, str, dict]]:
    workgroup = params.get("WorkGroup") or "primary"  # by id: the workgroup its StartQueryExecution named
    return [(f"athena:{operation}", f"arn:aws:athena:{region}:{ACCOUNT}:workgroup/{workgroup}", {})]


def _glue(operation: str, params: dict, region: str) -> list[tuple[str, str, dict]]:
    """Glue authorizes the catalog, the database and (for table reads) the table."""
    base = f"arn:aws:glue:{region}:{ACCOUNT}"
    database = params.get("DatabaseName") or params.get("Name", "")
    arns = [f"{base}:catalog", f"{base}:database/{database}"]
    if "TableName" in params or operation == "GetTable":
        arns.append(f"{base}:table/{database}/{params.get('TableName') or params.get('Name', '')}")
    elif operation == "GetTables":
        arns.append(f"{base}:table/{database}/*")
    return [(f"glue:{operation}", arn, {}) for arn in arns]


_SERVICES: dict[str, Callable[[str, dict, str], list[tuple[str, str, dict]]]] = {
    "s3": _s3,
    "dynamodb": _dynamodb,
    "sqs": _sqs,
    "events": _events,
    "kinesis": _kinesis,
    "ssm": _ssm,
    "cloudformation": _cloudformation,
    "cloudwatch": _cloudwatch,
    "athena": _athena,
    "glue": _glue,
}


class NotModelled(Exception):
    """An AWS operation the gate cannot yet turn into actions and ARNs: teach ``tests/support/iam.py``."""

    def __init__(self, service: str, operation: str) -> None:
        super().__init__(f"{service}:{operation} is not modelled by the IAM gate")


def _kit_frame() -> bool:
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_globals.get("__name__", "").split(".")[0] in _KIT_MODULES:
            return True
        frame = frame.f_back
    return False


@dataclass
class Recorder:
    """Records the calls of a test; ``install()`` hooks botocore and wraps the template's handlers."""

    handlers: dict[str, str]  # "pik.handlers.ingest.handler" -> "IngestFunction"
    calls: list[Call] = field(default_factory=list)
    invocations: list[tuple[str, dict]] = field(default_factory=list)  # (function, API proxy event)
    unmodelled: set[str] = field(default_factory=set)
    workgroups: dict[str, str] = field(default_factory=dict)  # Athena query execution id -> workgroup
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def install(self, monkeypatch: Any) -> None:
        original_create = botocore.client.ClientCreator.create_client
        recorder = self

        def create_client(creator: Any, *args: Any, **kwargs: Any) -> Any:
            client = original_create(creator, *args, **kwargs)
            client.meta.events.register(
                "before-parameter-build.*.*", functools.partial(recorder._before, region=client.meta.region_name)
            )
            client.meta.events.register("after-call.*.*", recorder._after)
            return client

        monkeypatch.setattr(botocore.client.ClientCreator, "create_client", create_client)
        original_submit = concurrent.futures.ThreadPoolExecutor.submit

        def submit(pool: Any, fn: Callable, /, *args: Any, **kwargs: Any) -> Any:
            context = contextvars.copy_context()
            return original_submit(pool, context.run, fn, *args, **kwargs)

        monkeypatch.setattr(concurrent.futures.ThreadPoolExecutor, "submit", submit)
        for path, function in self.handlers.items():
            module_name, _, name = path.rpartition(".")
            module = importlib.import_module(module_name)
            monkeypatch.setattr(module, name, self._wrap(getattr(module, name), function))

    def _wrap(self, handler: Callable, function: str) -> Callable:
        def invoked(event: Any, context: Any) -> Any:
            if isinstance(event, dict) and "httpMethod" in event:
                with self._lock:
                    self.invocations.append((function, event))
            token = _principal.set(function)
            try:
                return handler(event, context)
            finally:
                _principal.reset(token)

        invoked.__wrapped__ = handler  # type: ignore[attr-defined]
        return invoked

    def _before(self, params: dict, model: Any, context: dict, region: str, **_: Any) -> None:
        principal = _principal.get() or (INVESTIGATOR if _kit_frame() else None)
        params = dict(params)
        if "QueryExecutionId" in params and "WorkGroup" not in params:
            params["WorkGroup"] = self.workgroups.get(params["QueryExecutionId"], "primary")
        context["pik_iam"] = (principal, params, region)

    def _after(self, http_response: Any, parsed: dict, model: Any, context: dict, **_: Any) -> None:
        principal, params, region = context.get("pik_iam", (None, {}, ""))
        if model.name == "StartQueryExecution" and "QueryExecutionId" in parsed:
            self.workgroups[parsed["QueryExecutionId"]] = params.get("WorkGroup") or "primary"
        if principal is None:
            return  # the test's own setup
        service = {"monitoring": "cloudwatch"}.get(
            model.service_model.endpoint_prefix, model.service_model.endpoint_prefix
        )
        try:
            authorizations = _SERVICES[service](model.name, params, region)
        except (KeyError, NotModelled):
            with self._lock:
                self.unmodelled.add(f"not modelled by the IAM gate: {principal}: {service}:{model.name}")
            return
        with self._lock:
            for action, resource, keys in authorizations:
                self.calls.append(
                    Call(
                        principal, action, resource, tuple(sorted(keys.items())), http_response.status_code, model.name
                    )
                )

    def denied(self, stack: Stack) -> list[str]:
        """Why each recorded call (and each implied one) would be refused on AWS; empty when all pass
        (``PENDING`` refusals aside: ``pending(stack)`` lists those)."""
        return [problem for problem in self._problems(stack) if not problem.startswith(PENDING)]

    def pending(self, stack: Stack) -> list[str]:
        return [problem for problem in self._problems(stack) if problem.startswith(PENDING)]

    def _problems(self, stack: Stack) -> list[str]:
        problems = sorted(self.unmodelled)
        bucket_policies = [
            stack.resolve(r["Properties"]["PolicyDocument"])
            for r in stack.resources.values()
            if r["Type"] == "AWS::S3::BucketPolicy"
        ]
        for call in sorted(set(self.calls) | set(self._implied(stack)), key=Call.describe):
            policies = _policies(stack, call.principal)
            if not _allowed(call, policies, bucket_policies):
                problems.append(f"denied: {call.describe()}")
            elif call.action in ("s3:GetObject",) and call.status == 404:
                bucket = call.resource.split("/", 1)[0]
                if not _allowed(Call(call.principal, "s3:ListBucket", bucket), policies, bucket_policies):
                    problems.append(f"403 not 404 (no s3:ListBucket on {bucket}): {call.describe()}")
        return problems

    def _implied(self, stack: Stack) -> Iterator[Call]:
        """The calls API Gateway makes for each API invocation: execute-api:Invoke by the caller, and
        lambda:InvokeFunction with the caller's credentials when the method says so."""
        api = [name for name, r in stack.resources.items() if r["Type"] == "AWS::ApiGateway::RestApi"]
        paths = stack.resolve(stack.resources[api[0]]["Properties"]["Body"]["paths"]) if api else {}
        api_id = stack.ref(api[0]) if api else ""
        for function, event in self.invocations:
            caller = INVESTIGATOR if event["path"].startswith("/replay") else None
            if caller is None:
                continue  # producers: their own policy, not the stack's
            method = event["httpMethod"]
            resource = f"arn:aws:execute-api:{stack.region}:{ACCOUNT}:{api_id}/v1/{method}{event['path']}"
            yield Call(caller, "execute-api:Invoke", resource, operation=f"{method} {event['path']}")
            spec = paths.get(event["resource"], paths.get(_template_path(paths, event["path"]), {}))
            integration = spec.get(method.lower(), {}).get("x-amazon-apigateway-integration", {})
            if integration.get("credentials") == "arn:aws:iam::*:user/*":
                target = stack.attribute(function, "Arn")
                yield Call(caller, "lambda:InvokeFunction", target, operation="API Gateway, caller's credentials")


def _template_path(paths: dict, path: str) -> str:
    parts = path.strip("/").split("/")
    for candidate in paths:
        pattern = candidate.strip("/").split("/")
        if len(pattern) == len(parts) and all(p == q or p.startswith("{") for p, q in zip(pattern, parts, strict=True)):
            return candidate
    return path


def _policies(stack: Stack, principal: str) -> list[dict]:
    if principal == INVESTIGATOR:
        return [
            stack.resolve(stack.resources[name]["Properties"]["PolicyDocument"])
            for name in INVESTIGATOR_POLICIES
            if name in stack.resources
        ]
    return stack.role_policies(principal)


def _allowed(call: Call, policies: list[dict], resource_denies: list[dict]) -> bool:
    context = CaseInsensitiveDict({"aws:SecureTransport": "true", **dict(call.context)})
    for document in [*policies, *resource_denies]:
        if policy_has_matching_statement(document, "Deny", call.action, call.resource, context):
            return False
    return any(
        policy_has_matching_statement(document, "Allow", call.action, call.resource, context) for document in policies
    )


def handlers_of(stack: Stack) -> dict[str, str]:
    """Handler path -> logical id of each function in the translated template."""
    return {
        stack.resolve(r["Properties"]["Handler"]): name
        for name, r in stack.resources.items()
        if r["Type"] == "AWS::Lambda::Function"
    }


def dumps(problems: list[str]) -> str:
    return json.dumps(problems, indent=1)
