"""``doctor``: after ``sam deploy`` (or ``pik local up``), every path pik relies on, one line each: ok,
or the exact fix. ``pik doctor`` and ``kit.doctor()`` are skins over ``doctor(stack)``.

Checks, in order: the stack's outputs; ``POST /ingest`` of a probe event (only with ``write=True``);
a ``POST /replay`` dry run with the caller's credentials (run it as the investigator); a GetObject
of a missing key answering 404 (403 means the role lacks ``s3:ListBucket``); on a deployed stack
the AWSSDKPandas layer, each event source mapping's state and the alarms (read from the stack's
resources: deployer permissions, skipped when the caller lacks them); SQL ``SELECT 1`` (Athena's
workgroup, or DuckDB); the metrics.

The probe is the reserved source ``pik.doctor`` (event type ``probe``, entity ``pik.doctor``): its
raw objects live under their own prefix ``raw/source=pik.doctor/`` and its index rows in their own
partitions, so analyses scoped by source or entity never see it; SQL over every source should say
``WHERE source <> 'pik.doctor'`` (``PROBE_SOURCE``). Each ``write`` run adds one ACCEPTED event (a
fresh idempotency key, event time = now: no lag, no CONFLICT, no DUPLICATE alarm) and one ingest to
the metrics; the replay check is a dry run scoped to the probe source, recorded as a replay run.

    >>> report = doctor(stack, write=True)                               # doctest: +SKIP
    >>> print(report); report.ok
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from pik.core.records import AttemptStatus
from pik.core.timefmt import UTC, key_time

from .._errors import KitError
from .._format import counted
from ..read.stack import Stack

PROBE_SOURCE = "pik.doctor"
PROBE_TYPE = "probe"
OK, FAIL, SKIP = "ok", "FAIL", "skip"
ACCESS_DENIED = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "403")


@dataclass(frozen=True)
class Check:
    """One line of the report: ``Check("replay", "ok", "dry run matched 1")``; ``fix`` when it failed."""

    name: str
    status: str
    detail: str
    fix: str = ""

    def __str__(self) -> str:
        line = f"{self.status:<4}  {self.name:<16} {self.detail}"
        return line + (f"\n      fix: {self.fix}" if self.fix else "")


@dataclass(frozen=True)
class Report:
    """Every check; ``ok`` when none failed (skipped ones do not fail the report)."""

    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(check.status != FAIL for check in self.checks)

    def __str__(self) -> str:
        failed = sum(check.status == FAIL for check in self.checks)
        summary = "all checks passed" if not failed else f"{counted(failed, 'check')} failed"
        return "\n".join([*(str(check) for check in self.checks), summary])

    def to_dict(self) -> dict:
        return {"ok": self.ok, "checks": [asdict(check) for check in self.checks]}


def doctor(
    stack: Stack, *, write: bool = False, sql: Callable[[str], Any] | None = None, now: datetime | None = None
) -> Report:
    """Run every check against ``stack``; ``write`` also ingests one probe event (``PROBE_SOURCE``);
    ``sql`` runs a query on the stack's SQL engine (``kit.sql``; this room does not reach ``pik_nb.sql``)."""
    now = now or datetime.now(UTC)
    checks = [
        _guard("outputs", lambda: outputs(stack)),
        _guard("ingest", lambda: probe_ingest(stack, now) if write else _skip_ingest()),
        _guard("replay", lambda: replay_dry_run(stack, now)),
        _guard("missing key", lambda: missing_key(stack)),
    ]
    checks += deployment(stack)
    checks += [_guard("sql", lambda: select_one(sql, stack)), _guard("metrics", lambda: metrics(stack, now))]
    return Report(checks)


def _guard(name: str, check: Callable[[], Check | tuple[str, str]]) -> Check:
    """The check's line; an exception becomes a FAIL whose fix says what to do about that error."""
    try:
        result = check()
    except Exception as exc:  # noqa: BLE001 - a diagnosis reports every failure as a line, never a traceback
        return Check(name, FAIL, _one_line(exc) or type(exc).__name__, fix_for(name, exc))
    return result if isinstance(result, Check) else Check(name, OK, *result)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def fix_for(name: str, exc: BaseException) -> str:
    """The fix for a failed check, from the error's kind (no answer, 403, 5xx, AWS's error code)."""
    status = getattr(exc, "status", None)
    code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else ""
    if status == 0:
        return (
            "the API did not answer: check the ApiUrl output (`pik local up` running, for the local "
            "stack) and the network path to it"
        )
    if status == 403 or code in ACCESS_DENIED or "AccessDenied" in str(exc):
        return FORBIDDEN.get(name, "grant the caller the stack's InvestigatorPolicy (output InvestigatorPolicyArn)")
    if isinstance(status, int) and status >= 500:
        return (
            f"the {name} function failed: read its log (`sam logs --stack-name STACK`, or the local stack's "
            "log) for the error, fix, redeploy"
        )
    return FALLBACK.get(name, "see the error above")


FORBIDDEN = {
    "ingest": "POST /ingest is IAM-authorised: grant execute-api:Invoke on POST /ingest (the producer's policy)",
    "replay": "grant the caller the InvestigatorPolicy (output InvestigatorPolicyArn): execute-api:Invoke on /replay",
    "missing key": (
        "grant s3:ListBucket on the raw bucket (InvestigatorPolicy does): without it S3 answers 403, "
        "not 404, for a missing key"
    ),
    "metrics": "grant the HealthInvestigatorPolicy (output HealthInvestigatorPolicyArn): cloudwatch:GetMetricData",
    "sql": "grant the AthenaInvestigatorPolicy (output AthenaInvestigatorPolicyArn), or use engine='duckdb'",
}
FALLBACK = {
    "outputs": "deploy the stack (`sam deploy`), or start the local stack (`pik local up`), then run doctor again",
    "sql": "deploy with EnableAthena=true for Athena, or check the archive settings (docs/archive.md)",
    "layer": (
        "the compaction function's layer version is gone or not in this region: redeploy (the template "
        "resolves the AWSSDKPandas layer of the region, docs/deploy.md), or EnableCompaction=false"
    ),
}


def outputs(stack: Stack) -> tuple[str, str]:
    """The outputs every command reads, and (deployed) a stack whose last operation completed."""
    resources = stack.resources
    missing = [name for name in ("api_url", "replay_queue_url") if not getattr(resources, name)]
    if missing:
        raise KitError(f"outputs lack {', '.join(missing)}")
    name = resources.extra.get("stack_name")
    if not name:
        return f"local stack at {stack.endpoint_url or 'AWS'}: api {resources.api_url}", ""
    status = stack.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
    if not status.endswith("_COMPLETE") or "ROLLBACK" in status:
        raise KitError(f"stack {name} is {status}")
    return f"stack {name} {status}: api {resources.api_url}", ""


def _skip_ingest() -> Check:
    return Check("ingest", SKIP, f"not written; `pik doctor --write` ingests one probe event (source {PROBE_SOURCE})")


def probe_ingest(stack: Stack, now: datetime) -> tuple[str, str]:
    """``POST /ingest`` of one probe event, then its raw object read back."""
    event = {
        "source": PROBE_SOURCE,
        "event_type": PROBE_TYPE,
        "entity_id": PROBE_SOURCE,
        "event_time": key_time(now),
        "payload": {"probe": True},
        "idempotency_key": f"pik-doctor-{uuid.uuid4().hex}",
    }
    with stack.api as api:
        answer = api.post("/ingest", event)
    if answer.get("dry_run"):
        return f"probe {answer.get('status')} (DryRun=true: the stack writes nothing yet)", ""
    if answer.get("status") != AttemptStatus.ACCEPTED:
        raise KitError(f"the probe was {answer.get('status')}, not ACCEPTED: {answer}")
    if stack.documents.read(answer["s3_key"]) is None:
        raise KitError(f"the probe's raw object {answer['s3_key']} is missing right after ingest")
    return f"probe ACCEPTED, raw object {answer['s3_key']} read back", ""


def replay_dry_run(stack: Stack, now: datetime) -> tuple[str, str]:
    """A dry run over the probe source's last day, with the caller's credentials."""
    request = {
        "source": PROBE_SOURCE,
        "event_type": PROBE_TYPE,
        "start_time": key_time(now - timedelta(days=1)),
        "end_time": key_time(now + timedelta(minutes=1)),
        "dry_run": True,
        "limit": 10,
    }
    with stack.api as api:
        run = api.replay(request, follow=False)
    return f"dry run {run.get('replay_id')} matched {run.get('matched')}", ""


def missing_key(stack: Stack) -> tuple[str, str]:
    """A GetObject of a key that cannot exist must answer 404 (None), not 403."""
    key = f"raw/source={PROBE_SOURCE}/missing-{uuid.uuid4().hex}.json"
    if stack.documents.read(key) is not None:
        raise KitError(f"{key} exists")
    return "GetObject of a missing key answers 404", ""


def select_one(sql: Callable[[str], Any] | None, stack: Stack) -> Check | tuple[str, str]:
    """``SELECT 1`` through ``sql`` (``kit.sql``: Athena's workgroup on a deployed stack with Athena)."""
    if sql is None:
        return Check("sql", SKIP, "no SQL engine given (kit.doctor() gives kit.sql)")
    frame = sql("SELECT 1 AS one")
    if frame.shape != (1, 1) or int(frame.iloc[0, 0]) != 1:
        raise KitError(f"SELECT 1 answered {frame.to_dict('records')}")
    group = stack.resources.extra.get("athena_work_group_name")
    where = f"Athena workgroup {group}" if group and not stack.endpoint_url else "DuckDB"
    return f"SELECT 1 answered 1 ({where})", ""


def metrics(stack: Stack, now: datetime) -> tuple[str, str]:
    """The last hour of the health metrics (CloudWatch, or the local stack's EMF lines)."""
    from ..analyses import health

    start, end = now - timedelta(hours=1), now + timedelta(minutes=5)  # the period holding the probe too
    log_file = stack.resources.extra.get("lambda_log_file")
    if log_file:
        frame = health.from_emf_file(log_file, start, end, "5min")
        where = f"EMF lines of {log_file}"
    else:
        frame = health.from_cloudwatch(stack.client("cloudwatch"), start, end, "5min")
        where = "CloudWatch GetMetricData"
    ingests = int(frame["IngestCount"].sum()) if "IngestCount" in frame else 0
    return f"{where}: {counted(len(frame), 'period')}, {counted(ingests, 'ingest')} in the last hour", ""


# --- a deployed stack's own resources (deployer permissions) ---------------------------------------
def deployment(stack: Stack) -> list[Check]:
    """The layer, the event source mappings and the alarms, from the stack's resource list."""
    name = stack.resources.extra.get("stack_name")
    if not name:
        return [
            Check(
                "deployment",
                SKIP,
                "local stack: no layer, event source mappings or alarms "
                "(the local stack's pollers stand in for the mappings)",
            )
        ]
    try:
        pages = stack.client("cloudformation").get_paginator("list_stack_resources").paginate(StackName=name)
        resources = [r for page in pages for r in page["StackResourceSummaries"]]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code", "") in ACCESS_DENIED:
            return [Check("deployment", SKIP, "needs cloudformation:ListStackResources: run doctor as the deployer")]
        return [Check("deployment", FAIL, _one_line(exc), "check the stack name and region")]
    by_type: dict[str, list[dict]] = {}
    for resource in resources:
        by_type.setdefault(resource["ResourceType"], []).append(resource)
    return [
        _guard("layer", lambda: layer(stack)),
        *event_source_mappings(stack, by_type.get("AWS::Lambda::EventSourceMapping", [])),
        _guard("alarms", lambda: alarms(stack, by_type.get("AWS::CloudWatch::Alarm", []))),
    ]


def layer(stack: Stack) -> Check | tuple[str, str]:
    """The compaction function's layers resolve (the AWSSDKPandas layer exists in this region)."""
    function = stack.resources.extra.get("compaction_function_name")
    if not function:
        return Check("layer", SKIP, "compaction is off (EnableCompaction=false): no layer")
    client = stack.client("lambda")
    arns = [item["Arn"] for item in client.get_function_configuration(FunctionName=function).get("Layers", [])]
    for arn in arns:
        name, _, version = arn.rpartition(":")
        client.get_layer_version(LayerName=name, VersionNumber=int(version))  # AWS's public layers are readable
    return f"{function}: {', '.join(arns) or 'no layer'}", ""


def event_source_mappings(stack: Stack, resources: list[dict]) -> list[Check]:
    """One line per event source mapping (processor, taps): Enabled, or how to enable it."""
    checks = []
    for resource in resources:
        uuid_ = resource["PhysicalResourceId"]

        def one(uuid_: str = uuid_, logical: str = resource["LogicalResourceId"]) -> Check | tuple[str, str]:
            mapping = stack.client("lambda").get_event_source_mapping(UUID=uuid_)
            source = mapping.get("EventSourceArn", "").rsplit(":", 1)[-1]
            if mapping.get("State") != "Enabled":
                return Check(
                    f"mapping {logical}",
                    FAIL,
                    f"{source} is {mapping.get('State')}",
                    f"aws lambda update-event-source-mapping --uuid {uuid_} --enabled "
                    f"({mapping.get('StateTransitionReason', '')})",
                )
            return f"{source} -> {mapping.get('FunctionArn', '').rsplit(':', 1)[-1]}: Enabled", ""

        checks.append(_guard(f"mapping {resource['LogicalResourceId']}", one))
    return checks


def alarms(stack: Stack, resources: list[dict]) -> Check | tuple[str, str]:
    """Every alarm of the stack exists; those in ALARM are named."""
    names = [resource["PhysicalResourceId"] for resource in resources]
    found: list[dict[str, Any]] = []
    for start in range(0, len(names), 100):
        found += stack.client("cloudwatch").describe_alarms(AlarmNames=names[start : start + 100])["MetricAlarms"]
    missing = sorted(set(names) - {alarm["AlarmName"] for alarm in found})
    if missing:
        return Check("alarms", FAIL, f"missing: {', '.join(missing)}", "redeploy the stack (`sam deploy`)")
    firing = [alarm["AlarmName"] for alarm in found if alarm.get("StateValue") == "ALARM"]
    return f"{len(found)} present" + (f", in ALARM: {', '.join(firing)}" if firing else ""), ""
