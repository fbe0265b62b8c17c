"""Frames as pandas users expect: each carries where it came from in ``.attrs["pik"]``, and each kind has
a typed schema (``pik_nb.schemas``) the frame validates against; a wrong frame is named column by column.

One test per kind takes the frame the kit really returns on the moto stack (``search`` and ``sql``:
tests/nb/test_archive.py, on the local stack) and checks it against its schema twice: with ``validate``
(column names and order, pandas dtypes, nulls only where a field is nullable) and with Arrow itself
(``to_arrow``: ``pyarrow.Table.from_pandas`` with the kind's schema refuses another type or a null).
An analysis's result carries its source frame's provenance plus the analysis's name."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import boto3
import pandas as pd
import pyarrow as pa
import pytest

import pik_nb
from pik.core.timefmt import UTC
from pik_nb import schemas
from pik_nb.analyses import health
from tests.support.events import make_event
from tests.support.frames import conforms, refused
from tests.support.kit import DATE, DAY, post

ROOT = Path(__file__).resolve().parents[2]


def test_every_loaded_frame_says_its_kind_stack_scope_and_time(kit, story):
    events = kit.events(entity_id="customer-42", start=DAY, end=DAY + timedelta(days=1), progress=False)
    info = events.attrs["pik"]
    assert (info["kind"], info["stack"]) == ("events", repr(kit.stack))
    assert info["scope"] == {
        "entity_id": "customer-42",
        "start": DAY.isoformat(),
        "end": (DAY + timedelta(days=1)).isoformat(),
    }  # as asked
    assert pd.Timestamp(info["loaded_at"]).tz is not None
    # pandas keeps attrs through the usual steps of an investigation
    assert events[events["status"] == "ACCEPTED"].attrs["pik"]["kind"] == "events"
    raw = kit.raw(events, progress=False)
    assert raw.attrs["pik"]["kind"] == "raw" and raw.attrs["pik"]["scope"]["events"] == f"{len(events)} rows"
    aggregates = kit.aggregates(entity_id="customer-42", start=DAY, end=DAY + timedelta(days=1))
    assert aggregates.attrs["pik"]["scope"]["entity_id"] == "customer-42"
    assert schemas.describe(events).startswith(f"events from {kit.stack!r} (entity_id='customer-42'")


def test_the_loaders_frames_validate_against_their_kind_schema(kit, story):
    events = kit.events(entity_id="customer-42", start=DAY, end=DAY + timedelta(days=1), progress=False)
    aggregates = kit.aggregates(entity_id="customer-42", start=DAY, end=DAY + timedelta(days=1))
    replays = kit.replays()
    assert (len(events), len(replays)) == (6, 3) and len(aggregates) > 0
    for frame, kind in ((events, "events"), (aggregates, "aggregates"), (replays, "replays")):
        assert schemas.validate(frame) is frame  # the kind comes from attrs
        assert list(frame.columns[: len(schemas.schema(kind))]) == schemas.schema(kind).names
    assert schemas.EVENTS.field("ingest_lag_ms").type == pa.int64()
    assert pik_nb.schemas is schemas


def test_a_frame_of_another_shape_is_named_column_by_column(kit, story):
    events = kit.events(entity_id="customer-42", start=DAY, end=DAY + timedelta(days=1), progress=False)
    broken = events.drop(columns=["attempt_id"]).astype({"ingest_lag_ms": "float64"})
    with pytest.raises(schemas.SchemaError) as raised:
        schemas.validate(broken)
    assert str(raised.value) == ("not an events frame: attempt_id is missing; ingest_lag_ms is float64, not int64")
    with pytest.raises(schemas.SchemaError, match="pass kind='events'"):
        schemas.validate(pd.DataFrame({"a": [1]}))
    with pytest.raises(schemas.SchemaError, match="kind must be one of events, raw, raw_dataset, rejected, "):
        schemas.schema("attempts")


# --- one test per kind: the frame the kit returns, against its schema -------------------------------------
def _events(kit):
    return kit.events(entity_id="customer-42", start=DAY, end=DAY + timedelta(days=1), progress=False)


def test_events_frame_has_its_schema(kit, story):
    events = _events(kit)
    conforms(events, "events")
    assert len(events) == 6 and events["idempotency_key"].isna().all()  # nullable, and null here
    assert refused(events, "ingest_time") == "not an events frame: ingest_time has 1 null (the schema says never)"


def test_raw_frame_has_its_schema_payload_columns_after(kit, story):
    raw = kit.raw(_events(kit), progress=False)
    conforms(raw, "raw")
    assert len(raw) == 4 and raw["hash_ok"].all() and list(raw.columns[len(schemas.RAW) :]) == ["payload.amount"]
    assert refused(raw, "event_id") == "not a raw frame: event_id has 1 null (the schema says never)"


def test_raw_of_a_missing_object_is_null_where_the_schema_allows(kit, stack, story):
    events = _events(kit)
    boto3.client("s3").delete_object(Bucket=stack.outputs["raw_bucket_name"], Key=events["s3_key"].iloc[0])
    raw = kit.raw(events, progress=False)
    conforms(raw, "raw")
    missing = raw[~raw["found"]]
    assert len(missing) == 1 and missing[["ingest_time", "event_time", "entity_id"]].isna().all(axis=None)


def test_raw_dataset_frame_has_its_schema(kit, story):
    events = _events(kit)
    data = kit.raw_dataset(source=events["source"].iloc[0], event_type=events["event_type"].iloc[0], days=[DATE])
    conforms(data, "raw_dataset", ordered=False)
    assert list(data.columns[:4]) == ["s3_key", "event_date", "source", "event_type"] and len(data) == 4
    assert str(data["event_time"].dtype) == "datetime64[us, UTC]"  # pandas alone would infer seconds
    empty = kit.raw_dataset(source="nothing", event_type="here", days=[DATE])
    conforms(empty, "raw_dataset")  # no objects: still every column, typed
    assert len(empty) == 0


def test_rejected_frame_has_its_schema(kit, stack):
    post(make_event(entity_id="customer-42", event_time="2026-11-20T10:00:00"))  # naive time: refused
    post("not json")
    rejected = kit.rejected(days=[datetime.now(UTC).date().isoformat()], progress=False)
    conforms(rejected, "rejected")
    assert len(rejected) == 2 and rejected["entity_id"].isna().sum() == 1  # "not json" names no entity
    assert refused(rejected, "rules") == "not a rejected frame: rules has 1 null (the schema says never)"


def test_aggregates_frame_has_its_schema(kit, story):
    aggregates = kit.aggregates(entity_id="customer-42", start=DAY, end=DAY + timedelta(days=1))
    conforms(aggregates, "aggregates")
    assert aggregates["version"].tolist() == [1, 2]
    assert (
        refused(aggregates, "computed_at") == "not an aggregates frame: computed_at has 1 null (the schema says never)"
    )


def test_replays_frame_has_its_schema(kit, story):
    replays = kit.replays()
    table = conforms(replays, "replays")
    assert len(replays) == 3 and replays["source"].isna().all()  # an entity's scope: no source
    assert pa.types.is_struct(table.schema.field("request").type)  # object columns: Arrow infers their type
    assert refused(replays, "replay_id") == "not a replays frame: replay_id has 1 null (the schema says never)"


def test_reconcile_frame_has_its_schema(kit, stack):
    answer = post(make_event())
    key = answer["s3_key"].replace(answer["event_id"], "f" * 64)
    boto3.client("s3").put_object(Bucket=stack.outputs["raw_bucket_name"], Key=key, Body=b"{}")
    found = kit.reconcile(progress=False)
    conforms(found, "reconcile")
    assert found.values.tolist() == [["raw without metadata", "f" * 64, key]]
    assert refused(found, "s3_key") == "not a reconcile frame: s3_key has 1 null (the schema says never)"


def test_metrics_frame_has_its_schema_indexed_by_time(stack, tmp_path, capsys):
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    post(make_event(entity_id="m-1"))
    log = tmp_path / "lambda.log"
    log.write_text(capsys.readouterr().out)
    kit = pik_nb.connect(
        session=boto3.session.Session(region_name="us-east-1"), **stack.outputs, lambda_log_file=str(log)
    )
    metrics = kit.metrics(now - timedelta(hours=1), now + timedelta(hours=1), "1h")
    table = conforms(metrics, "metrics")
    assert schemas.METRICS.names == ["time", *health.COLUMNS]  # one list: pik.core.pipeline_metrics
    assert table.column("time").type == pa.timestamp("us", "UTC") and metrics["IngestCount"].sum() == 1
    assert metrics["IngestLagMs_p50"].isna().sum() >= 1  # nullable: a period without events
    with pytest.raises(schemas.SchemaError, match="the index time is missing"):
        schemas.validate(metrics.reset_index(drop=True))


def test_every_kind_the_kit_tags_has_a_schema_and_a_test_on_a_real_frame():
    tagged = set(re.findall(r'@_loaded\("(\w+)"\)', (ROOT / "pik_nb" / "kit.py").read_text()))
    assert tagged <= set(schemas.KINDS)  # the loaders'; the rest are frames inside results (test_nested_schemas)
    tests = "".join(path.read_text() for path in (ROOT / "tests" / "nb").glob("test_*.py"))
    checked = set(re.findall(r'conforms\([^,]+, "([\w.]+)"', tests))
    assert checked == set(schemas.KINDS)
    assert schemas.SQL.names == [] and schemas.SQL.metadata[b"pik_extra"] == b"the query's own columns"


# --- analyses: their results say what they were computed from ------------------------------------------------
def test_an_analysiss_result_carries_its_source_frames_provenance_and_its_name(kit, story):
    events = _events(kit)
    aggregates = kit.aggregates(entity_id="customer-42", start=DAY, end=DAY + timedelta(days=1))
    source = dict(events.attrs["pik"])
    results = {
        "lateness": pik_nb.lateness(events, by="source"),
        "out_of_order": pik_nb.analyses.out_of_order(events),
        "gaps": pik_nb.gaps(events, freq="1h", aggregates=aggregates),
        "duplicates.per_event": pik_nb.duplicates(events).per_event,
        "duplicates.per_source": pik_nb.duplicates(events).per_source,
        "duplicates.storms": pik_nb.duplicates(events).storms,
        "lateness_policy.windows": pik_nb.lateness_policy(events, "1h").windows,
        "lateness_policy.dropped": pik_nb.lateness_policy(events, "1h").dropped,
    }
    for name, result in results.items():
        assert result.attrs["pik"] == {**source, "analysis": name}, name  # kind, stack, scope, loaded_at kept
    assert events.attrs["pik"] == source  # the source frame is left as it was
    assert results["gaps"].attrs["freq"] == "1h"  # an analysis's own attrs stay (plot_gaps reads them)
    assert int(results["lateness"].loc["checkout", "count"]) == 4
    assert schemas.describe(results["lateness"]).startswith(f"lateness of events from {kit.stack!r} (entity_id=")
    with pytest.raises(schemas.SchemaError, match="the result of lateness on an events frame, which has no kind"):
        schemas.validate(results["lateness"])
    untagged_input = events.copy()
    untagged_input.attrs = {}
    assert "pik" not in pik_nb.lateness(untagged_input).attrs  # nothing to carry: nothing invented
