"""A dry run to the stack's processor previews its impact: per (entity, day, metric) the value now and
after, and the events entering; after executing, the aggregate versions equal the preview value for value."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pik.aws.dynamodb import deserialize
from pik.core import keys
from pik.core.timefmt import key_time
from pik.handlers import ingest, replay
from pik.services import replay_impact
from pik_local import story
from tests.support.events import make_event
from tests.support.lambdas import call
from tests.support.replays import DAY, process_queue, seed, window


@pytest.fixture(autouse=True)
def fields(stack, monkeypatch):
    monkeypatch.setenv("AGGREGATE_FIELDS", "amount")


def latest_versions(stack, entity="customer-42"):
    """``{(day, metric): item}`` of the latest version, read straight from the table."""
    items = boto3.client("dynamodb").query(
        TableName=stack.outputs["aggregates_table_name"],
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": keys.aggregate_pk(entity)}},
    )["Items"]
    latest: dict = {}
    for item in map(deserialize, items):
        key = (item["day"], item["metric"])
        if item["version"] > latest.get(key, {"version": 0})["version"]:
            latest[key] = item
    return latest


def test_a_dry_run_previews_values_now_and_after_and_the_entering_events(stack):
    seed(count=3)
    call(replay, "/replay", window(entity_id="customer-42", dry_run=False))
    process_queue(stack)
    [late] = seed(count=1, start=DAY + timedelta(hours=20))
    status, run = call(replay, "/replay", window(entity_id="customer-42"))
    assert status == 200
    impact, day = run["impact"], DAY.date().isoformat()
    assert (impact["complete"], impact["entity_days"], impact["changed"]) == (True, 1, 4)
    rows = {row["metric"]: row for row in impact["rows"]}
    assert {m: (r["now"], r["after"], r["version_now"], r["version_after"]) for m, r in rows.items()} == {
        "count": (3, 4, 1, 2),
        "sum.amount": (3, 3, 1, 2),
        "min.amount": (0, 0, 1, 2),
        "max.amount": (2, 2, 1, 2),
    }
    assert {(r["inputs_now"], r["inputs_after"]) for r in rows.values()} == {(3, 4)}
    assert impact["events"] == [{"entity_id": "customer-42", "day": day, "event_id": late, "change": "enters"}]
    assert latest_versions(stack)[(day, "count")]["version"] == 1  # a dry run writes no version
    item = deserialize(  # the run's audit record holds the impact it showed, rows and events
        boto3.client("dynamodb").get_item(
            TableName=stack.outputs["replays_table_name"],
            Key={"pk": {"S": f"RUN#{run['replay_id']}"}, "sk": {"S": "RUN"}},
        )["Item"]
    )
    assert item["impact"] == impact and item.get("impact_key") is None

    call(replay, "/replay", window(entity_id="customer-42", dry_run=False))
    process_queue(stack)
    after = latest_versions(stack)
    assert {m: (after[(day, m)]["version"], after[(day, m)].get("value")) for m in rows} == {
        m: (r["version_after"], r["after"]) for m, r in rows.items()
    }


def test_an_unchanged_entity_day_previews_no_change(stack):
    seed(count=2)
    call(replay, "/replay", window(entity_id="customer-42", dry_run=False))
    process_queue(stack)
    _, run = call(replay, "/replay", window(entity_id="customer-42"))
    assert run["impact"]["changed"] == 0 and run["impact"]["events"] == []
    counts = {(r["now"], r["after"], r["changed"]) for r in run["impact"]["rows"] if r["metric"] == "count"}
    assert counts == {(2, 2, False)}


def test_an_impact_larger_than_the_item_budget_is_kept_in_s3_with_a_summary_in_the_run(stack, monkeypatch):
    monkeypatch.setattr(replay_impact, "INLINE_BYTES", 200)
    ids = seed(count=3)
    _, run = call(replay, "/replay", window(entity_id="customer-42"))
    assert sorted(e["event_id"] for e in run["impact"]["events"]) == sorted(ids)  # answered whole
    item = deserialize(
        boto3.client("dynamodb").get_item(
            TableName=stack.outputs["replays_table_name"],
            Key={"pk": {"S": f"RUN#{run['replay_id']}"}, "sk": {"S": "RUN"}},
        )["Item"]
    )
    assert "rows" not in item["impact"] and item["impact"]["stored_in_s3"] is True
    text = json.dumps(run["impact"], sort_keys=True, separators=(",", ":"))
    sha = hashlib.sha256(text.encode()).hexdigest()  # content-addressed: the same impact is one object
    assert item["impact_key"] == run["impact_key"] == f"replays/impact/{run['replay_id']}/{sha}.json"
    body = boto3.client("s3").get_object(Bucket=stack.outputs["raw_bucket_name"], Key=item["impact_key"])["Body"]
    assert json.loads(body.read()) == run["impact"]
    _, again = call(replay, "/replay", {"replay_id": run["replay_id"]})  # read back by id: whole again
    assert again["impact"]["rows"] == run["impact"]["rows"]


def test_an_external_target_has_no_impact(stack, monkeypatch):
    seed(count=1)
    monkeypatch.setenv("REPLAY_TARGET_QUEUES", "arn:aws:sqs:us-east-1:123456789012:*")
    _, run = call(
        replay,
        "/replay",
        window(entity_id="customer-42", target={"sqs": "https://sqs.us-east-1.amazonaws.com/123456789012/x"}),
    )
    assert run["impact"] is None


def _send(planned) -> None:
    for event in planned:
        status, answer = call(ingest, "/ingest", event.body)
        assert answer.get("status") == event.expected, (event.kind, status, answer)


def _truth_values(incident, *phases: str) -> dict:
    """Ground truth per (entity, day): count and sum/min/max of ``amount`` over the ACCEPTED events of
    ``phases`` of every source (the recompute reads the entity's whole day), from the plan alone."""
    amounts: dict = {}
    for event in incident.events:
        if event.expected == "ACCEPTED" and event.phase in phases:
            day = event.body["event_time"][:10]
            amounts.setdefault((event.body["entity_id"], day), []).append(event.body["payload"]["amount"])
    return {
        group: {"count": len(a), "sum.amount": sum(a), "min.amount": min(a), "max.amount": max(a)}
        for group, a in amounts.items()
    }


@pytest.mark.parametrize("seed", [3, 11])
def test_on_a_generated_incident_the_replay_changes_the_aggregates_exactly_as_previewed(stack, seed):
    """Late events, a duplicate storm and conflicting re-sends, then the fix that delivers a missing day:
    the preview names exactly the fixed events, its values are the ground truth, and executing the
    replay writes exactly the previewed versions and values."""
    incident = story.generate(150, seed=seed)
    truth = incident.truth
    window = {"start_time": key_time(truth.start), "end_time": key_time(truth.end + timedelta(minutes=1))}
    scope = {"source": truth.focus_source, "event_type": truth.focus_event_type, **window}
    _send(incident.phase("stream"))
    for source, event_type in story.SOURCES:  # every entity-day gets its first versions
        status, _ = call(replay, "/replay", {"source": source, "event_type": event_type, **window, "dry_run": False})
        assert status == 200
    process_queue(stack)
    _send(incident.phase("conflicts") + incident.phase("fix"))

    status, preview = call(replay, "/replay", scope)
    assert status == 200
    impact = preview["impact"]
    before, after = _truth_values(incident, "stream"), _truth_values(incident, "stream", "fix")
    assert impact["complete"] and impact["entity_days"] == len({(r["entity_id"], r["day"]) for r in impact["rows"]})
    assert sorted(impact["events"], key=lambda e: e["event_id"]) == [
        {"entity_id": truth.focus_entity, "day": truth.missing_day, "event_id": event_id, "change": "enters"}
        for event_id in sorted(truth.fix_event_ids)
    ]
    missing = (truth.focus_entity, truth.missing_day)
    for row in impact["rows"]:
        group = (row["entity_id"], row["day"])
        assert (row["now"], row["after"]) == (before[group][row["metric"]], after[group][row["metric"]]), row
        assert row["changed"] == (group == missing), row  # conflicts change no ACCEPTED input
    assert impact["changed"] == 4 and before[missing]["count"] + len(truth.fix_event_ids) == after[missing]["count"]

    call(replay, "/replay", {**scope, "dry_run": False})
    process_queue(stack)
    stored = {entity: latest_versions(stack, entity) for entity in truth.entities}
    for row in impact["rows"]:
        version = stored[row["entity_id"]][(row["day"], row["metric"])]
        assert (version["version"], version.get("value")) == (row["version_after"], row["after"]), row
    new = stored[truth.focus_entity][(truth.missing_day, "count")]
    old = _versions(stack, truth.focus_entity, truth.missing_day)[new["version"] - 1]
    assert _inputs(stack, new) - _inputs(stack, old) == truth.fix_event_ids
    assert _inputs(stack, old) <= _inputs(stack, new)


def _versions(stack, entity: str, day: str, metric: str = "count") -> dict:
    items = boto3.client("dynamodb").query(
        TableName=stack.outputs["aggregates_table_name"],
        KeyConditionExpression="pk = :p AND begins_with(sk, :d)",
        ExpressionAttributeValues={":p": {"S": keys.aggregate_pk(entity)}, ":d": {"S": f"{day}#{metric}#"}},
    )["Items"]
    return {item["version"]: item for item in map(deserialize, items)}


def _inputs(stack, version: dict) -> set[str]:
    body = boto3.client("s3").get_object(Bucket=stack.outputs["raw_bucket_name"], Key=version["manifest_key"])["Body"]
    return {row["event_id"] for row in json.loads(body.read())["inputs"]}


# A history of one entity over two days: a first batch (aggregated), then a second batch of late events,
# exact re-sends (DUPLICATE) and re-used idempotency keys with another payload (CONFLICT).
_event = st.tuples(st.integers(0, 2 * 1440 - 1), st.integers(-50, 50), st.sampled_from(["new", "resend", "conflict"]))
_histories = st.tuples(st.lists(_event, min_size=1, max_size=5), st.lists(_event, min_size=0, max_size=5))
_entities = iter(range(10**6))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=_histories)
def test_on_random_histories_the_executed_replay_equals_its_preview(stack, history):
    entity = f"hyp-{next(_entities)}"
    sent: list[dict] = []

    def ingest_batch(batch):
        for minute, amount, kind in batch:
            if kind == "new" or not sent:
                body = make_event(
                    entity_id=entity,
                    event_time=(DAY + timedelta(minutes=minute)).isoformat(),
                    payload={"amount": amount},
                    idempotency_key=f"k{len(sent)}",
                )
            elif kind == "resend":
                body = sent[minute % len(sent)]
            else:  # the same idempotency key, another payload: a CONFLICT, never an input
                body = {**sent[minute % len(sent)], "payload": {"amount": amount + 1000}}
            call(ingest, "/ingest", body)
            sent.append(body)

    scope = {"entity_id": entity, "start_time": DAY.isoformat(), "end_time": (DAY + timedelta(days=2)).isoformat()}
    ingest_batch(history[0])
    call(replay, "/replay", {**scope, "dry_run": False})
    process_queue(stack)
    ingest_batch(history[1])
    _, preview = call(replay, "/replay", scope)
    before = {(day, metric): v for (day, metric), v in latest_versions(stack, entity).items()}
    call(replay, "/replay", {**scope, "dry_run": False})
    process_queue(stack)
    after = latest_versions(stack, entity)
    impact = preview["impact"]
    assert impact["complete"]
    moved = {key for key, version in after.items() if version["version"] != before.get(key, {}).get("version")}
    assert moved == {(r["day"], r["metric"]) for r in impact["rows"] if r["changed"]}  # nothing unpreviewed
    assert set(after) == {(r["day"], r["metric"]) for r in impact["rows"]}
    for row in impact["rows"]:
        key = (row["day"], row["metric"])
        assert (after[key]["version"], after[key].get("value")) == (row["version_after"], row["after"]), row
        was = before.get(key, {})
        assert (was.get("version"), was.get("value")) == (row["version_now"], row["now"]), row
    for day in {row["day"] for row in impact["rows"]}:
        new, old = after[(day, "count")], before.get((day, "count"))
        entering = {e["event_id"] for e in impact["events"] if e["day"] == day and e["change"] == "enters"}
        assert _inputs(stack, new) - (_inputs(stack, old) if old else set()) == entering
        assert not [e for e in impact["events"] if e["change"] == "leaves"]
