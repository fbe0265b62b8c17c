"""OpenLineage ``RunEvent``s for executed replays and aggregate versions, as plain JSON-able dicts.

Two jobs, in the namespace ``pik://<raw bucket>`` (the deployment: the bucket name is global):

- ``replay``: one run per executed replay run. Input: the archive (``s3://<bucket>``, ``raw``; the
  DLQ for a redrive, ``rejected`` for a repair) with a ``version`` facet = the run's **selection
  hash** (``selection_sha256``: the scope without dry_run, token, target or rate, so a dry run and its
  execution name the same slice). Output: the target, or the stack's replay queue.
- ``aggregate``: one run per *aggregate version*: the versions of the metrics one recompute wrote
  together (one DynamoDB transaction), named by entity, day, inputs hash and code version. Input: the
  archive with ``version`` = the inputs hash (and the replay queue when a replay caused it); output:
  the aggregates table with ``version`` = ``<entity>/<day>/<metric>@<version>,...``. A ``parent``
  facet names the replay run that caused it, so a lineage server draws replay -> aggregate version.

The event that closes a run (COMPLETE, or ABORT for a cancelled replay) carries the custom
``pik_counts`` facet (``COUNTS_SCHEMA``; its own ``_producer`` and ``_schemaURL``): the run's status
and its counts. START carries no counts, so it is the same whenever it is sent. Run ids are ``uuid5``
of the replay id / the aggregate version's name and event times come from the records, so emitting
the same record again gives the same bytes: a lineage server sees one run, however often it is sent.

Datasets are named as OpenLineage's naming spec does for AWS Glue (``arn:aws:<service>:<region>:
<account>`` + the resource) and S3 (``s3://<bucket>`` + path). The shapes follow the spec 2-0-2:
``tests/unit/test_lineage.py`` validates every event against its JSON schemas (vendored in
``tests/data/openlineage/``) and against the classes the ``openlineage-python`` client generates from it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from . import identity
from .records import REJECTED
from .replay import RunStatus
from .targets import parse_target

__all__ = [
    "PRODUCER",
    "SPEC",
    "RUN_EVENT_SCHEMA",
    "VERSION_FACET_SCHEMA",
    "PARENT_FACET_SCHEMA",
    "JOB_TYPE_FACET_SCHEMA",
    "COUNTS_FACET",
    "COUNTS_SCHEMA_URL",
    "Json",
    "COUNTS_SCHEMA",
    "RUN_NAMESPACE",
    "REPLAY_JOB",
    "AGGREGATE_JOB",
    "REPLAY_COUNTS",
    "ENDED",
    "Names",
    "dataset",
    "run_id",
    "selection_sha256",
    "replay_events",
    "version_name",
    "version_events",
    "version_groups",
]

PRODUCER = "urn:pik:pipeline-investigation-kit"
SPEC = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
RUN_EVENT_SCHEMA = f"{SPEC}#/$defs/RunEvent"
VERSION_FACET_SCHEMA = (
    "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet"
)
PARENT_FACET_SCHEMA = "https://openlineage.io/spec/facets/1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet"
JOB_TYPE_FACET_SCHEMA = "https://openlineage.io/spec/facets/2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet"
COUNTS_FACET = "pik_counts"
COUNTS_SCHEMA_URL = "urn:pik:lineage:PikCountsRunFacet:1-0-0#/$defs/PikCountsRunFacet"
#: The JSON schema of the ``pik_counts`` run facet (docs/lineage.md shows it; tests validate against it).
Json = dict[str, Any]
COUNTS_SCHEMA: Json = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": COUNTS_SCHEMA_URL.split("#")[0],
    "$defs": {
        "PikCountsRunFacet": {
            "type": "object",
            "required": ["_producer", "_schemaURL", "status", "counts"],
            "additionalProperties": False,
            "properties": {
                "_producer": {"type": "string", "format": "uri"},
                "_schemaURL": {"type": "string", "format": "uri"},
                "status": {"type": "string", "description": "the replay run's status, or WRITTEN for a version"},
                "counts": {
                    "type": "object",
                    "additionalProperties": {"type": "integer", "minimum": 0},
                    "description": "replay: scanned, matched, sent, failed, retried; version: inputs, metrics",
                },
                "by_day": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
            },
        }
    },
    "$ref": "#/$defs/PikCountsRunFacet",
}
RUN_NAMESPACE = uuid.UUID("6f1d8a4e-3c52-5b7e-9a0d-2c4b8e1f7a93")  # run ids: uuid5(RUN_NAMESPACE, name)
REPLAY_JOB, AGGREGATE_JOB = "replay", "aggregate"
REPLAY_COUNTS = ("scanned", "matched", "sent", "failed", "retried")
ENDED = {
    RunStatus.COMPLETED: "COMPLETE",
    RunStatus.CANCELLED: "ABORT",
}  # a run's status -> the event that closes its run
_NOT_SELECTION = ("dry_run", "client_token", "target", "rate_per_second")


@dataclass(frozen=True)
class Names:
    """Where one deployment's datasets are: ``Names(bucket, aggregates_table, replay_queue_url, region, dlq_url)``."""

    bucket: str
    aggregates_table: str
    replay_queue_url: str
    region: str
    dlq_url: str = ""

    @property
    def account(self) -> str:
        """The account, read from the replay queue's URL (``https://sqs.<region>.../<account>/<name>``)."""
        return urlsplit(self.replay_queue_url).path.strip("/").split("/")[0]

    @property
    def job_namespace(self) -> str:
        return f"pik://{self.bucket}"

    def queue(self, url: str) -> Json:
        """An SQS queue (by URL) as a dataset."""
        return dataset(parse_target({"sqs": url}).arn(self.region, self.account))

    def archive(self, prefix: str, version: str) -> Json:
        return {**dataset(f"s3://{self.bucket}/{prefix}"), "facets": {"version": _version(version)}}


def dataset(address: str) -> Json:
    """An ARN or URL as an OpenLineage dataset: ARNs split after the account, URLs after the host.

    >>> dataset("arn:aws:kinesis:eu-west-1:123456789012:stream/orders")
    {'namespace': 'arn:aws:kinesis:eu-west-1:123456789012', 'name': 'stream/orders'}
    >>> dataset("s3://pik-raw/raw")
    {'namespace': 's3://pik-raw', 'name': 'raw'}
    """
    if address.startswith("arn:"):
        parts = address.split(":", 5)
        return {"namespace": ":".join(parts[:5]), "name": parts[5]}
    url = urlsplit(address)
    return {"namespace": f"{url.scheme}://{url.netloc}", "name": url.path.lstrip("/") or "/"}


def run_id(job: str, name: str) -> str:
    """The run id of ``job``'s run named ``name`` (a replay id, an aggregate version): the same every time.

    >>> run_id("replay", "rp-0123") == run_id("replay", "rp-0123")
    True
    """
    return str(uuid.uuid5(RUN_NAMESPACE, f"{job}/{name}"))


def selection_sha256(scope: Json) -> str:
    """The hash of what a replay selects from the archive: its recorded scope (``ReplayRequest.scope()``)
    without how or where it is sent."""
    return identity.sha256_hex(identity.canonical_json({k: v for k, v in scope.items() if k not in _NOT_SELECTION}))


def replay_events(run: Json, names: Names) -> list[Json]:
    """The RunEvents an executed replay run implies as it stands: START (at ``created_at``), and
    COMPLETE or ABORT (at ``updated_at``) once it ended. A dry run has none (it moved no data).

    ``run``: a run record, or ``POST /replay``'s answer (``pik.services.replay.answer``).
    """
    if run.get("dry_run", True):
        return []
    scope = run.get("request") or {}
    repair = list(scope.get("statuses") or []) == [REJECTED]  # quarantined requests, re-submitted to ingest
    if scope.get("dead_letters"):
        source = {**names.queue(names.dlq_url), "facets": {"version": _version(selection_sha256(scope))}}
    else:
        source = names.archive("rejected" if repair else "raw", selection_sha256(scope))
    target = scope.get("target")
    if target:
        output = dataset(parse_target(target).arn(names.region, names.account))
    else:
        output = dataset(f"s3://{names.bucket}/raw") if repair else names.queue(names.replay_queue_url)
    counts = {
        "status": run.get("status", ""),
        "counts": {k: int(run.get(k) or 0) for k in REPLAY_COUNTS},
        "by_day": {day: int(n) for day, n in (run.get("by_day") or {}).items()},
    }
    body = {"job": _job(names, REPLAY_JOB), "inputs": [_input(source)], "outputs": [_output(output)]}
    replay = run_id(REPLAY_JOB, run["replay_id"])
    events = [_event("START", run["created_at"], {"run": {"runId": replay, "facets": {}}, **body})]
    if run.get("status") in ENDED:
        closed = {"run": {"runId": replay, "facets": {COUNTS_FACET: _counts(counts)}}, **body}
        events.append(_event(ENDED[run["status"]], run.get("updated_at") or run["created_at"], closed))
    return events


def version_name(group: Json) -> str:
    """An aggregate version's name: ``<entity>/<day>/<inputs hash>/<code version>``."""
    return "/".join((group["entity_id"], group["day"], group["inputs_hash"], group["code_version"]))


def version_events(group: Json, names: Names) -> list[Json]:
    """START and COMPLETE (both at ``computed_at``) of one aggregate version.

    ``group``: ``{entity_id, day, inputs_hash, code_version, computed_at, input_count, replay_id,
    versions: {metric: version}}`` (``version_groups`` makes them from aggregate items).
    """
    versions = ",".join(f"{metric}@{n}" for metric, n in sorted(group["versions"].items()))
    inputs = [names.archive("raw", group["inputs_hash"])]
    facets = {
        COUNTS_FACET: _counts(
            {"status": "WRITTEN", "counts": {"inputs": int(group["input_count"]), "metrics": len(group["versions"])}}
        )
    }
    if group.get("replay_id"):
        inputs.append(names.queue(names.replay_queue_url))
        facets["parent"] = {
            "_producer": PRODUCER,
            "_schemaURL": PARENT_FACET_SCHEMA,
            "run": {"runId": run_id(REPLAY_JOB, group["replay_id"]), "facets": {}},
            "job": {"namespace": names.job_namespace, "name": REPLAY_JOB, "facets": {}},
        }
    output = {
        **dataset(f"arn:aws:dynamodb:{names.region}:{names.account}:table/{names.aggregates_table}"),
        "facets": {"version": _version(f"{group['entity_id']}/{group['day']}/{versions}")},
    }
    body = {"job": _job(names, AGGREGATE_JOB), "inputs": [_input(d) for d in inputs], "outputs": [_output(output)]}
    version = run_id(AGGREGATE_JOB, version_name(group))
    started = {"runId": version, "facets": {k: v for k, v in facets.items() if k != COUNTS_FACET}}
    return [
        _event("START", group["computed_at"], {"run": started, **body}),
        _event("COMPLETE", group["computed_at"], {"run": {"runId": version, "facets": facets}, **body}),
    ]


def version_groups(items: list[Json]) -> list[Json]:
    """Aggregate version items (``pik.core.records.aggregate_item``) as aggregate versions, oldest first."""
    groups: dict[tuple[str, str, str, str], Json] = {}
    for item in items:
        key = (item["entity_id"], item["day"], item["inputs_hash"], item["code_version"])
        group = groups.setdefault(
            key,
            {
                "entity_id": item["entity_id"],
                "day": item["day"],
                "inputs_hash": item["inputs_hash"],
                "code_version": item["code_version"],
                "computed_at": item["computed_at"],
                "input_count": int(item["input_count"]),
                "replay_id": item.get("replay_id") or "",
                "versions": {},
            },
        )
        group["versions"][item["metric"]] = int(item["version"])
        group["computed_at"] = min(group["computed_at"], item["computed_at"])
    return sorted(groups.values(), key=lambda g: (g["computed_at"], version_name(g)))


def _input(dataset: Json) -> Json:
    """A dataset as an input, in the client's serialised form (empty facet maps included)."""
    return {"facets": {}, **dataset, "inputFacets": {}}


def _output(dataset: Json) -> Json:
    return {"facets": {}, **dataset, "outputFacets": {}}


def _job(names: Names, name: str) -> Json:
    kind = {
        "_producer": PRODUCER,
        "_schemaURL": JOB_TYPE_FACET_SCHEMA,
        "processingType": "BATCH",
        "integration": "PIK",
        "jobType": name.upper(),
    }
    return {"namespace": names.job_namespace, "name": name, "facets": {"jobType": kind}}


def _version(value: str) -> Json:
    return {"_producer": PRODUCER, "_schemaURL": VERSION_FACET_SCHEMA, "datasetVersion": value}


def _counts(fields: Json) -> Json:
    return {"_producer": PRODUCER, "_schemaURL": COUNTS_SCHEMA_URL, **fields}


def _event(kind: str, at: str, body: Json) -> Json:
    return {"eventType": kind, "eventTime": at, "producer": PRODUCER, "schemaURL": RUN_EVENT_SCHEMA, **body}
