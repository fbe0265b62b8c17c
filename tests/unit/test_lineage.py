"""OpenLineage RunEvents (``pik.core.lineage``) against the OpenLineage spec's own JSON schemas (vendored in
tests/data/openlineage/: spec 2-0-2 and the facet schemas the events name, checked by ``tests.support.openlineage``),
against ``openlineage-python``'s own classes and serialisation, pik's custom facet against its JSON schema, and
the stdlib HTTP emitter the functions use.

Every event pik builds is validated with ``jsonschema`` against ``OpenLineage.json`` and each facet against the
schema its ``_schemaURL`` names (``$ref``s resolved through one ``referencing.Registry``); a deliberately broken
event of each kind shows the check refuses it. Each event is also rebuilt as the client's generated ``event_v2``
classes (their validators run: UUID run ids, date-times) and must serialise back, through the client's ``Serde``,
to exactly the dict pik sends.
"""

from __future__ import annotations

import json
import uuid

import jsonschema
import pytest
from openlineage.client.serde import Serde

from pik.aws.lineage import HttpLineage
from pik.core import lineage
from pik.core.replay import parse_request
from pik_nb.investigate.lineage import to_client
from tests.support import openlineage as spec
from tests.support.receiver import receiving

ACCOUNT, REGION = "123456789012", "eu-west-1"
QUEUE = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/pik-replay"
NAMES = lineage.Names(
    "pik-raw", "pik-aggregates", QUEUE, REGION, f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/pik-dlq"
)
WINDOW = {"start_time": "2026-11-23T00:00:00Z", "end_time": "2026-11-24T00:00:00Z"}


def run(status: str = "COMPLETED", scope: dict | None = None, **body: object) -> dict:
    """A run record of ``scope`` (default: customer-42's day) with ``body``'s fields, executed unless told."""
    scope = {"entity_id": "customer-42", **WINDOW} if scope is None else scope
    request = parse_request({**scope, "dry_run": False, **body})[0]
    return {
        "replay_id": "rp-" + "1" * 32,
        "dry_run": request.dry_run,
        "status": status,
        "request": request.scope(),
        "created_at": "2026-11-24T08:00:00.000000Z",
        "updated_at": "2026-11-24T08:00:03.250000Z",
        "scanned": 6,
        "matched": 5,
        "sent": 4,
        "failed": 1,
        "retried": 2,
        "by_day": {"2026-11-23": 5},
    }


VERSION = {
    "entity_id": "customer-42",
    "day": "2026-11-23",
    "inputs_hash": "ab" * 32,
    "code_version": "pik.count.v1",
    "computed_at": "2026-11-24T08:00:04.000000Z",
    "input_count": 5,
    "replay_id": "rp-" + "1" * 32,
    "versions": {"count": 3, "sum.amount": 2},
}
TARGETS = {
    "sqs": (
        {"sqs": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/orders"},
        (f"arn:aws:sqs:{REGION}:{ACCOUNT}", "orders"),
    ),
    "eventbridge": ({"eventbridge": "orders-bus"}, (f"arn:aws:events:{REGION}:{ACCOUNT}", "event-bus/orders-bus")),
    "kinesis": (
        {"kinesis": f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/orders"},
        (f"arn:aws:kinesis:{REGION}:{ACCOUNT}", "stream/orders"),
    ),
    "http": ({"http": "https://hooks.example.com/pik/in"}, ("https://hooks.example.com", "pik/in")),
}


def every_event() -> list[dict]:
    made = lineage.replay_events(run(), NAMES) + lineage.replay_events(run("CANCELLED"), NAMES)
    made += lineage.replay_events(run(scope={"dead_letters": True}), NAMES)
    made += lineage.replay_events(run(scope={"statuses": ["REJECTED"], **WINDOW}), NAMES)
    made += lineage.version_events(VERSION, NAMES) + lineage.version_events({**VERSION, "replay_id": ""}, NAMES)
    for target, _ in TARGETS.values():
        made += lineage.replay_events(run(target=target), NAMES)
    return made


def _id(event: dict) -> str:
    return f"{event['job']['name']}-{event['eventType']}"


def test_every_kind_of_event_pik_emits_is_in_the_spec_check():
    kinds = {(e["job"]["name"], e["eventType"], tuple(sorted(e["run"]["facets"]))) for e in every_event()}
    assert kinds == {
        ("replay", "START", ()),
        ("replay", "COMPLETE", ("pik_counts",)),
        ("replay", "ABORT", ("pik_counts",)),
        ("aggregate", "START", ()),
        ("aggregate", "START", ("parent",)),
        ("aggregate", "COMPLETE", ("pik_counts",)),
        ("aggregate", "COMPLETE", ("parent", "pik_counts")),
    }  # no status of a replay run ends in FAIL (pik.core.lineage.ENDED): pik never emits one
    schemas = {facet["_schemaURL"].split("#")[0] for e in every_event() for _, facet in spec.facets(e)}
    assert schemas == {
        "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json",
        "https://openlineage.io/spec/facets/2-0-4/JobTypeJobFacet.json",
        "https://openlineage.io/spec/facets/1-2-0/ParentRunFacet.json",
        "urn:pik:lineage:PikCountsRunFacet:1-0-0",
    }


@pytest.mark.parametrize("event", every_event(), ids=_id)
def test_each_event_validates_against_the_openlineage_spec_and_its_facet_schemas(event):
    assert spec.problems(event) == []


def _broken() -> dict[str, tuple[dict, list[str]]]:
    """One deliberately broken copy of a real event per rule of the spec, and what the check must say."""
    start, complete = lineage.version_events(VERSION, NAMES)

    def edit(event: dict, change) -> dict:
        copy = json.loads(json.dumps(event))
        change(copy)
        return copy

    return {
        "event type": (
            edit(complete, lambda e: e.update(eventType="FINISHED")),
            ["event.eventType: 'FINISHED' is not one of ['START', 'RUNNING', 'COMPLETE', 'ABORT', 'FAIL', 'OTHER']"],
        ),
        "run id": (edit(start, lambda e: e["run"].update(runId="rp-1")), ["event.run.runId: 'rp-1' is not a 'uuid'"]),
        "event time": (
            edit(start, lambda e: e.update(eventTime="2026-11-24")),
            ["event.eventTime: '2026-11-24' is not a 'date-time'"],
        ),
        "producer": (
            edit(start, lambda e: e.update(producer="pik kit")),
            ["event.producer: 'pik kit' is not a 'uri'"],
        ),
        "no job": (edit(start, lambda e: e.pop("job")), ["event: 'job' is a required property"]),
        "version facet": (
            edit(complete, lambda e: e["outputs"][0]["facets"]["version"].pop("datasetVersion")),
            ["outputs[0].facets.version: 'datasetVersion' is a required property"],
        ),
        "job type facet": (
            edit(start, lambda e: e["job"]["facets"]["jobType"].pop("processingType")),
            ["job.facets.jobType: 'processingType' is a required property"],
        ),
        "parent facet": (
            edit(start, lambda e: e["run"]["facets"]["parent"]["run"].update(runId="rp-1")),
            ["run.facets.parent.run.runId: 'rp-1' is not a 'uuid'"],
        ),
        "facet base": (
            edit(complete, lambda e: e["inputs"][0]["facets"]["version"].pop("_producer")),
            [
                "event.inputs.0.facets: {'version': {'_schemaURL': '" + lineage.VERSION_FACET_SCHEMA + "', "
                "'datasetVersion': '" + "ab" * 32 + "'}} is not valid under any of the given schemas",  # the core's
                "inputs[0].facets.version: '_producer' is a required property",  # the facet's own schema
            ],
        ),
        "pik_counts": (
            edit(complete, lambda e: e["run"]["facets"]["pik_counts"]["counts"].update(inputs=-1)),
            ["run.facets.pik_counts.counts.inputs: -1 is less than the minimum of 0"],
        ),
        "unknown facet schema": (
            edit(start, lambda e: e["run"]["facets"]["parent"].update(_schemaURL=lineage.SPEC + "#/$defs/Nope")),
            ["run.facets.parent: no vendored schema for " + lineage.SPEC + "#/$defs/Nope"],
        ),
    }


@pytest.mark.parametrize("rule", sorted(_broken()))
def test_the_spec_check_refuses_a_broken_event(rule):
    event, said = _broken()[rule]
    assert spec.problems(event) == said


@pytest.mark.parametrize("event", every_event(), ids=_id)
def test_each_event_is_what_the_clients_own_classes_serialise(event):
    built = to_client(event)
    assert Serde.to_dict(built) == event
    assert json.loads(Serde.to_json(built)) == event


def test_the_clients_validators_run_on_what_pik_builds():
    event = lineage.replay_events(run(), NAMES)[0]
    with pytest.raises(ValueError):
        to_client({**event, "run": {"runId": "rp-not-a-uuid", "facets": {}}})
    with pytest.raises(ValueError):
        to_client({**event, "eventTime": "2026-11-24"})  # a date-time needs a time
    with pytest.raises(ValueError):
        to_client({**event, "eventType": "FINISHED"})


def test_a_completed_replay_starts_and_completes_with_the_archive_in_and_the_queue_out():
    start, complete = lineage.replay_events(run(), NAMES)
    assert (start["eventType"], start["eventTime"]) == ("START", "2026-11-24T08:00:00.000000Z")
    assert (complete["eventType"], complete["eventTime"]) == ("COMPLETE", "2026-11-24T08:00:03.250000Z")
    assert start["run"]["runId"] == complete["run"]["runId"] == lineage.run_id("replay", "rp-" + "1" * 32)
    assert uuid.UUID(start["run"]["runId"]).version == 5
    [source] = complete["inputs"]
    assert (source["namespace"], source["name"]) == ("s3://pik-raw", "raw")
    assert source["facets"]["version"]["datasetVersion"] == lineage.selection_sha256(run()["request"])
    [queue] = complete["outputs"]
    assert (queue["namespace"], queue["name"]) == (f"arn:aws:sqs:{REGION}:{ACCOUNT}", "pik-replay")
    assert complete["run"]["facets"]["pik_counts"] == {
        "_producer": lineage.PRODUCER,
        "_schemaURL": lineage.COUNTS_SCHEMA_URL,
        "status": "COMPLETED",
        "counts": {"scanned": 6, "matched": 5, "sent": 4, "failed": 1, "retried": 2},
        "by_day": {"2026-11-23": 5},
    }
    assert start["run"]["facets"] == {}  # START is the same whenever it is sent


@pytest.mark.parametrize(
    "status, kinds",
    [
        ("COMPLETED", ["START", "COMPLETE"]),
        ("CANCELLED", ["START", "ABORT"]),
        ("PARTIAL", ["START"]),
        ("PAUSED", ["START"]),
        ("RUNNING", ["START"]),
    ],
)
def test_the_events_follow_the_runs_status(status, kinds):
    assert [e["eventType"] for e in lineage.replay_events(run(status), NAMES)] == kinds


def test_a_dry_run_moved_nothing_and_has_no_lineage():
    assert lineage.replay_events(run(dry_run=True), NAMES) == []


@pytest.mark.parametrize("kind", sorted(TARGETS))
def test_each_target_kind_is_the_output_dataset(kind):
    target, (namespace, name) = TARGETS[kind]
    [output] = lineage.replay_events(run(target=target), NAMES)[1]["outputs"]
    assert (output["namespace"], output["name"]) == (namespace, name)


def test_a_redrive_reads_the_dlq_and_a_repair_reads_the_quarantine_into_the_archive():
    redrive = lineage.replay_events(run(scope={"dead_letters": True}), NAMES)[1]
    assert [(d["namespace"], d["name"]) for d in redrive["inputs"]] == [(f"arn:aws:sqs:{REGION}:{ACCOUNT}", "pik-dlq")]
    repair = lineage.replay_events(run(scope={"statuses": ["REJECTED"], **WINDOW}), NAMES)[1]
    assert [(d["namespace"], d["name"]) for d in repair["inputs"]] == [("s3://pik-raw", "rejected")]
    assert [(d["namespace"], d["name"]) for d in repair["outputs"]] == [("s3://pik-raw", "raw")]


def test_the_selection_hash_names_the_slice_not_how_or_where_it_is_sent():
    executed = run()["request"]
    preview = run(dry_run=True, client_token="t-1")["request"]
    elsewhere = run(target=TARGETS["sqs"][0], rate_per_second=5)["request"]
    other_day = parse_request(
        {"entity_id": "customer-42", "start_time": "2026-11-22T00:00:00Z", "end_time": "2026-11-23T00:00:00Z"}
    )[0].scope()
    assert (
        lineage.selection_sha256(executed) == lineage.selection_sha256(preview) == lineage.selection_sha256(elsewhere)
    )
    assert lineage.selection_sha256(executed) != lineage.selection_sha256(other_day)


def test_an_aggregate_version_names_its_inputs_its_versions_and_the_replay_that_caused_it():
    start, complete = lineage.version_events(VERSION, NAMES)
    assert start["eventTime"] == complete["eventTime"] == VERSION["computed_at"]
    assert complete["run"]["runId"] == lineage.run_id(
        "aggregate", "customer-42/2026-11-23/" + "ab" * 32 + "/pik.count.v1"
    )
    archive, queue = complete["inputs"]
    assert archive["facets"]["version"]["datasetVersion"] == "ab" * 32
    assert (queue["namespace"], queue["name"]) == (f"arn:aws:sqs:{REGION}:{ACCOUNT}", "pik-replay")
    [table] = complete["outputs"]
    assert (table["namespace"], table["name"]) == (f"arn:aws:dynamodb:{REGION}:{ACCOUNT}", "table/pik-aggregates")
    assert table["facets"]["version"]["datasetVersion"] == "customer-42/2026-11-23/count@3,sum.amount@2"
    parent = complete["run"]["facets"]["parent"]
    assert parent["run"]["runId"] == lineage.run_id("replay", VERSION["replay_id"])
    assert parent["job"] == {"namespace": "pik://pik-raw", "name": "replay", "facets": {}}
    assert complete["run"]["facets"]["pik_counts"]["counts"] == {"inputs": 5, "metrics": 2}
    assert "pik_counts" not in start["run"]["facets"] and "parent" in start["run"]["facets"]
    first = lineage.version_events({**VERSION, "replay_id": ""}, NAMES)[1]
    assert [d["name"] for d in first["inputs"]] == ["raw"] and "parent" not in first["run"]["facets"]


def test_aggregate_items_group_into_the_versions_one_recompute_wrote():
    common = {"entity_id": "customer-42", "day": "2026-11-23", "code_version": "pik.count.v1", "replay_id": ""}
    items = [
        {
            **common,
            "metric": "count",
            "version": 1,
            "inputs_hash": "a" * 64,
            "input_count": 3,
            "computed_at": "2026-11-24T08:00:00.000000Z",
        },
        {
            **common,
            "metric": "sum.amount",
            "version": 1,
            "inputs_hash": "a" * 64,
            "input_count": 3,
            "computed_at": "2026-11-24T08:00:00.000000Z",
        },
        {
            **common,
            "metric": "count",
            "version": 2,
            "inputs_hash": "b" * 64,
            "input_count": 4,
            "computed_at": "2026-11-24T09:00:00.000000Z",
            "replay_id": "rp-" + "2" * 32,
        },
    ]
    groups = lineage.version_groups(list(reversed(items)))
    assert [(g["inputs_hash"][0], g["versions"], g["replay_id"]) for g in groups] == [
        ("a", {"count": 1, "sum.amount": 1}, ""),
        ("b", {"count": 2}, "rp-" + "2" * 32),
    ]


def test_pik_counts_validates_against_its_json_schema_and_the_schema_refuses_a_bad_one():
    validator = jsonschema.Draft202012Validator(lineage.COUNTS_SCHEMA, format_checker=jsonschema.FormatChecker())
    jsonschema.Draft202012Validator.check_schema(lineage.COUNTS_SCHEMA)
    facets = [e["run"]["facets"]["pik_counts"] for e in every_event() if "pik_counts" in e["run"]["facets"]]
    assert len(facets) == 10  # 8 replays closed, 2 versions
    for facet in facets:
        validator.validate(facet)
    bad = {**facets[0], "counts": {"sent": -1}}
    assert [error.validator for error in validator.iter_errors(bad)] == ["minimum"]
    assert sorted(error.message for error in validator.iter_errors({"status": "x", "counts": {}})) == [
        "'_producer' is a required property",
        "'_schemaURL' is a required property",
    ]


def test_the_same_record_gives_the_same_bytes_every_time():
    once = [json.dumps(e, sort_keys=True) for e in every_event()]
    assert once == [json.dumps(e, sort_keys=True) for e in every_event()]
    ids = {lineage.run_id("replay", f"rp-{n:032x}") for n in range(100)}
    ids |= {lineage.run_id("aggregate", f"customer-42/2026-11-23/{n:064x}/pik.count.v1") for n in range(100)}
    assert len(ids) == 200


# --- the stdlib emitter the functions use ---------------------------------------------------------------------
@pytest.fixture
def server():
    """A lineage endpoint on 127.0.0.1 (a port chosen now) recording what it receives; stopped after the test."""
    with receiving() as endpoint:
        yield endpoint


def test_the_emitter_posts_each_event_as_json_in_order(server):
    events = lineage.replay_events(run(), NAMES)
    url = f"http://127.0.0.1:{server.server_port}/api/v1/lineage"
    assert HttpLineage(url).emit(events) == 0
    received = [(r.path, r.headers["Content-Type"], r.json) for r in server.received]
    assert received == [("/api/v1/lineage", "application/json", event) for event in events]


def test_the_emitter_stops_at_the_first_refusal_and_counts_what_it_did_not_send(server):
    server.status = 503
    emitter = HttpLineage(f"http://127.0.0.1:{server.server_port}/api/v1/lineage")
    events = lineage.replay_events(run(), NAMES) + lineage.version_events(VERSION, NAMES)
    assert emitter.emit(events) == 4
    assert len(server.received) == 1  # one try, then nothing more this invocation
    assert emitter.emit(events[:1]) == 1 and len(server.received) == 1


def test_an_endpoint_that_is_down_costs_one_failure_not_an_exception(server):
    port = server.server_port
    server.shutdown()
    server.server_close()
    assert (
        HttpLineage(f"http://127.0.0.1:{port}/api/v1/lineage", timeout_s=1).emit(lineage.version_events(VERSION, NAMES))
        == 2
    )


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "127.0.0.1:5000"])
def test_the_emitter_takes_only_http_urls(url):
    with pytest.raises(ValueError, match="http"):
        HttpLineage(url)


def test_the_emitter_never_posts_into_the_functions_last_second(server):
    left = [2_400]  # ms: the first POST may wait 1.4 s, the second finds less than the reserve left
    emitter = HttpLineage(f"http://127.0.0.1:{server.server_port}/api/v1/lineage", remaining_ms=lambda: left.pop(0))
    assert emitter._timeout_s() == pytest.approx(1.4)
    left[:] = [2_400, 900]
    assert emitter.emit(lineage.replay_events(run(), NAMES)) == 1
    assert len(server.received) == 1
