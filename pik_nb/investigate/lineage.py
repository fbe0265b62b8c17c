"""``kit.lineage(...)``: executed replays and aggregate versions as OpenLineage ``RunEvent``s.

The events are ``pik.core.lineage``'s (the same bytes the replay and processor functions POST when the
template's ``OpenLineageUrl`` is set), built as ``openlineage-python``'s own classes
(``openlineage.client.event_v2``), so any of the client's transports sends them:

>>> from openlineage.client import OpenLineageClient
>>> client = OpenLineageClient()                      # OPENLINEAGE_URL, openlineage.yml, or a transport=
>>> events = kit.lineage(entity_id="customer-42", start="2026-11-20", end="2026-11-21", client=client)

Run ids are deterministic, so sending the same events again (or after a Lambda sent them) is harmless.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attr
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import RunFacet, dataset_version_dataset, job_type_job, parent_run

from pik.aws.dynamodb import AggregateStore, Table
from pik.core import keys, lineage, queries
from pik.core.errors import NotFoundError
from pik.core.timefmt import days_between, key_time

from .._errors import ScopeError
from .._times import utc

if TYPE_CHECKING:
    from openlineage.client import OpenLineageClient

    from .._times import Time
    from ..read.stack import Stack


@attr.define
class PikCountsRunFacet(RunFacet):
    """pik's ``pik_counts`` run facet: the run's status and counts (schema: ``pik.core.lineage.COUNTS_SCHEMA``)."""

    status: str
    counts: dict[str, int]
    by_day: dict[str, int] | None = attr.field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return lineage.COUNTS_SCHEMA_URL


def names(stack: Stack) -> lineage.Names:
    """The stack's datasets as lineage names them (the same names its functions use)."""
    res = stack.resources
    return lineage.Names(
        res.raw_bucket_name,
        res.aggregates_table_name,
        res.replay_queue_url,
        stack.session.region_name or "",
        res.replay_dead_letter_queue_url,
    )


def events(
    stack: Stack,
    *,
    replay_id: str | None = None,
    entity_id: str | None = None,
    start: Time | None = None,
    end: Time | None = None,
    client: OpenLineageClient | None = None,
) -> list[RunEvent]:
    """The RunEvents of executed replays (``replay_id``'s, or those created in ``[start, end)``) and of
    ``entity_id``'s aggregate versions in ``[start, end)`` (with ``replay_id``: those it caused; without
    ``entity_id``, those of the replay's own entity and days). Each is sent through ``client`` when given."""
    where = names(stack)
    runs = _runs(stack, replay_id, None if entity_id else start, None if entity_id else end)
    found = [event for run in runs for event in lineage.replay_events(run, where)]
    for group in lineage.version_groups(_versions(stack, runs, replay_id, entity_id, start, end)):
        found += lineage.version_events(group, where)
    built = [to_client(event) for event in found]
    for event in built if client is not None else ():
        client.emit(event)
    return built


def to_client(event: dict) -> RunEvent:
    """One ``pik.core.lineage`` event as ``openlineage-python``'s ``RunEvent`` (its validators run)."""
    job = event["job"]
    kind = job["facets"]["jobType"]
    return RunEvent(
        eventType=RunState(event["eventType"]),
        eventTime=event["eventTime"],
        producer=event["producer"],
        run=Run(runId=event["run"]["runId"], facets=_run_facets(event["run"]["facets"])),
        job=Job(
            namespace=job["namespace"],
            name=job["name"],
            facets={
                "jobType": job_type_job.JobTypeJobFacet(
                    processingType=kind["processingType"],
                    integration=kind["integration"],
                    jobType=kind["jobType"],
                    producer=kind["_producer"],
                )
            },
        ),
        inputs=[
            InputDataset(namespace=d["namespace"], name=d["name"], facets=_dataset_facets(d)) for d in event["inputs"]
        ],
        outputs=[
            OutputDataset(namespace=d["namespace"], name=d["name"], facets=_dataset_facets(d)) for d in event["outputs"]
        ],
    )


def _run_facets(facets: dict) -> dict[str, RunFacet]:
    built: dict[str, RunFacet] = {}
    if lineage.COUNTS_FACET in facets:
        counts = facets[lineage.COUNTS_FACET]
        built[lineage.COUNTS_FACET] = PikCountsRunFacet(
            status=counts["status"], counts=counts["counts"], by_day=counts.get("by_day"), producer=counts["_producer"]
        )
    if "parent" in facets:
        parent = facets["parent"]
        built["parent"] = parent_run.ParentRunFacet(
            run=parent_run.Run(runId=parent["run"]["runId"]),
            job=parent_run.Job(namespace=parent["job"]["namespace"], name=parent["job"]["name"]),
            producer=parent["_producer"],
        )
    return built


def _dataset_facets(dataset: dict) -> dict[str, Any]:
    version = dataset.get("facets", {}).get("version")
    if version is None:
        return {}
    return {
        "version": dataset_version_dataset.DatasetVersionDatasetFacet(
            datasetVersion=version["datasetVersion"], producer=version["_producer"]
        )
    }


def _runs(stack: Stack, replay_id: str | None, start: Time | None, end: Time | None) -> list[dict]:
    table = Table(stack.resources.replays_table_name, client=stack.client("dynamodb"))
    if replay_id is not None:
        run = table.get(keys.run_pk(replay_id), "RUN")
        if run is None:
            raise NotFoundError(f"no replay run {replay_id}")
        return [run]
    request = queries.replay_runs(
        table.name, key_time(utc(start)) if start is not None else None, key_time(utc(end)) if end is not None else None
    )
    return [run for run in table.read(request) if not run.get("dry_run", True)]


def _versions(
    stack: Stack, runs: list[dict], replay_id: str | None, entity_id: str | None, start: Time | None, end: Time | None
) -> list[dict]:
    """Aggregate version items of the scope (none without an entity, given or the replay's own)."""
    store = AggregateStore(stack.resources.aggregates_table_name, client=stack.client("dynamodb"))
    if entity_id is not None:
        if start is None or end is None:
            raise ScopeError("aggregate versions need entity_id with start and end")
        days = days_between(utc(start), utc(end))
    elif replay_id is not None and (runs[0].get("request") or {}).get("entity_id") and runs[0].get("by_day"):
        entity_id, days = runs[0]["request"]["entity_id"], sorted(runs[0]["by_day"])
    else:
        return []
    items = [item for item in store.versions(entity_id, days[0], days[-1]) if item["day"] in days]
    return [item for item in items if replay_id is None or item.get("replay_id") == replay_id]
