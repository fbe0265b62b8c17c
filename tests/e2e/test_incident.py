"""The generated incident: deterministic, sized as asked, and its truth is what the stack stores."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta

import pytest

from pik.core import keys
from pik.core.timefmt import UTC, key_time
from pik_local.demo import DEMO_PARAMETERS, stage_incident
from pik_local.stack import LocalStack
from pik_local.story import generate

NOW = datetime(2026, 11, 24, 15, 30, tzinfo=UTC)


def test_same_seed_same_incident_and_sizes_add_up():
    first, again, other = generate(500, seed=3, now=NOW), generate(500, seed=3, now=NOW), generate(500, seed=4, now=NOW)
    assert first.events == again.events and first.truth == again.truth
    assert first.events != other.events
    truth = first.truth
    assert len(first.events) == 500 and sum(truth.expected().values()) == 500
    assert truth.counts == {
        "stream": {"ACCEPTED": 445 - len(truth.fix_event_ids), "DUPLICATE": 50, "REJECTED": 3},
        "conflicts": {"CONFLICT": 2},
        "fix": {"ACCEPTED": len(truth.fix_event_ids)},
    }
    assert truth.missing_day == "2026-11-21" and (truth.incident_start, truth.incident_end) == (
        datetime(2026, 11, 20, tzinfo=UTC),
        datetime(2026, 11, 23, tzinfo=UTC),
    )
    assert len(truth.fix_event_ids) >= 3 and truth.out_of_order > 0 and truth.late_event_ids
    assert truth.conflict_event_ids <= {e.event_id for e in first.phase("stream")}
    summary = json.loads(json.dumps(truth.summary()))
    assert (summary["expected"], summary["missing_day"], summary["fix_events"]) == (
        truth.expected(),
        "2026-11-21",
        len(truth.fix_event_ids),
    )


def test_every_event_time_lies_within_what_the_api_accepts():
    incident = generate(300, seed=1, now=NOW)
    times = [
        datetime.fromisoformat(e.body["event_time"].replace("Z", "+00:00"))
        for e in incident.events
        if e.kind != "rejected"
    ]
    assert min(times) >= NOW - timedelta(days=7) and max(times) <= NOW
    assert [e.body["payload"]["amount"] > 0 for e in incident.events if e.kind == "regular"].count(False) == 0
    assert all(
        datetime.fromisoformat(e.body["event_time"].replace("Z", "+00:00")) <= e.sent_at <= NOW
        for e in incident.events
        if e.kind != "rejected"
    )
    assert {e.sent_at for e in incident.phase("fix")} == {NOW}  # the backfill arrives now
    fix_days = {e.body["event_time"][:10] for e in incident.phase("fix")}
    assert fix_days == {incident.truth.missing_day}
    assert {(e.body["entity_id"], e.body["source"]) for e in incident.phase("fix")} == {
        (incident.truth.focus_entity, incident.truth.focus_source)
    }


def test_too_small_an_incident_is_refused():
    with pytest.raises(ValueError, match="at least 60"):
        generate(59)
    with pytest.raises(ValueError, match="at least 4 days"):
        generate(100, days=3)


def scan(ddb, table):
    return [i for page in ddb.get_paginator("scan").paginate(TableName=table) for i in page["Items"]]


def test_the_stack_stores_exactly_what_the_truth_says(tmp_path):
    incident = generate(240, seed=11)
    truth = incident.truth
    with LocalStack(info_file=tmp_path / "local.json", parameters=DEMO_PARAMETERS, simulated_arrival=True) as stack:
        outcome = stage_incident(stack, incident, progress=False, say=lambda _: None, drain_timeout_s=60)
        session, out = stack.session(), stack.info.outputs
        ddb, s3 = session.client("dynamodb"), session.client("s3")
        attempts = [i for i in scan(ddb, out["events_table_name"]) if i["sk"]["S"].startswith("ATT#")]
        keys_by_prefix = Counter(
            o["Key"].split("/")[0]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=out["raw_bucket_name"])
            for o in page.get("Contents", [])
        )
        versions = ddb.query(
            TableName=out["aggregates_table_name"],
            KeyConditionExpression="pk = :p AND begins_with(sk, :d)",
            ExpressionAttributeValues={
                ":p": {"S": keys.aggregate_pk(truth.focus_entity)},
                ":d": {"S": truth.missing_day + "#count#"},
            },
        )["Items"]
    expected = truth.expected()
    assert outcome.statuses == truth.counts
    sent = {}
    for event in incident.phase("stream"):
        sent.setdefault(event.event_id, set()).add(key_time(event.sent_at)[:23])  # requestTimeEpoch: milliseconds
    live = {e.event_id for e in incident.events if e.phase != "stream"}
    assert all(
        i["ingest_time"]["S"][:23] in sent[i["event_id"]["S"]]
        for i in attempts  # history: as simulated
        if i["status"]["S"] != "CONFLICT" and i["event_id"]["S"] not in live
    )
    assert min(i["ingest_time"]["S"] for i in attempts if i["event_id"]["S"] in truth.fix_event_ids) > max(
        key_time(e.sent_at) for e in incident.phase("stream")
    )  # the backfill arrives after the stream
    lags = {i["event_id"]["S"]: int(i["ingest_lag_ms"]["N"]) for i in attempts if i["status"]["S"] == "ACCEPTED"}
    assert min(lags[e] for e in truth.late_event_ids | truth.fix_event_ids) >= 3_600_000 - 30_000
    assert Counter(i["status"]["S"] for i in attempts) == {k: v for k, v in expected.items() if k != "REJECTED"}
    assert keys_by_prefix["raw"] == expected["ACCEPTED"]
    assert keys_by_prefix["rejected"] == expected["REJECTED"]
    assert keys_by_prefix["conflicts"] == expected["CONFLICT"]
    assert [r["sent"] for r in outcome.replays] == [r["matched"] for r in outcome.replays]
    assert outcome.replays[1]["matched"] - outcome.replays[0]["matched"] == len(truth.fix_event_ids)
    counts = sorted((int(v["version"]["N"]), int(v["value"]["N"])) for v in versions)
    assert [version for version, _ in counts] == [1, 2]
    assert counts[1][1] - counts[0][1] == len(truth.fix_event_ids)  # the fix added exactly the missing events
