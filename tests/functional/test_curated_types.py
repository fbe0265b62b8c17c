"""Any payload ingest accepts compacts, and one stream reads the same in every reader.

Events go through the ingest handler (moto), the compaction step, and back out of the curated
parts: the ``payload`` JSON gives back each payload exactly, and the typed columns hold one value per
event under one kind per field for the whole stream (``pik.core.curated.widen``), so pyarrow datasets,
polars, pandas and DuckDB (without ``union_by_name``) read every row of every day (issue 18, findings 2 and 3).
"""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta
from pathlib import Path

import boto3
import duckdb
import pandas as pd
import polars as pl
import pyarrow.dataset as ds
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pik import parquet
from pik.bootstrap import compactor
from pik.core import curated
from pik.core.timefmt import UTC
from pik.handlers import ingest
from pik.settings import Settings
from tests.support.events import make_event
from tests.support.lambdas import call
from tests.support.payloads import PAYLOADS

BASE = (datetime.now(UTC) - timedelta(days=4)).replace(hour=12, minute=0, second=0, microsecond=0)
STREAMS = itertools.count()


def ingest_all(source: str, event_type: str, payloads: list[dict], first: int) -> list[str]:
    ids = []
    for i, payload in enumerate(payloads, start=first):
        body = make_event(
            source=source,
            event_type=event_type,
            entity_id=f"e-{i}",
            payload=payload,
            event_time=(BASE + timedelta(days=i % 3, minutes=i)).isoformat(),
        )
        status, answer = call(ingest, "/ingest", body)
        assert status == 200 and answer["status"] == "ACCEPTED", answer
        ids.append(answer["event_id"])
    return ids


def compact(source: str, event_type: str) -> dict:
    days = [(BASE + timedelta(days=d)).date().isoformat() for d in range(3)]
    return compactor(Settings.from_env()).run([(source, event_type, day) for day in days])


def download(bucket: str, prefix: str, root: Path) -> Path:
    s3 = boto3.client("s3")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            target = root / obj["Key"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
    return root / prefix


def stream_schema(stack, source: str, event_type: str) -> dict:
    body = (
        boto3.client("s3")
        .get_object(Bucket=stack.outputs["raw_bucket_name"], Key=curated.schema_key(source, event_type))["Body"]
        .read()
    )
    return json.loads(body)


def expected_column(values: list, kind: str) -> list:
    """What a typed column of ``kind`` holds for each event's value (None where not a scalar)."""
    scalars = [v if v is None or isinstance(v, (bool, int, float, str)) else None for v in values]
    if kind == "float":
        return [None if v is None else float(v) for v in scalars]
    if kind == "text":
        return [None if v is None else v if isinstance(v, str) else parquet.text(v) for v in scalars]
    return scalars


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(early=st.lists(PAYLOADS, min_size=1, max_size=3), late=st.lists(PAYLOADS, min_size=1, max_size=3))
def test_every_accepted_payload_compacts_and_reads_back_exactly_in_every_reader(stack, tmp_path_factory, early, late):
    source, event_type = "typed", f"t{next(STREAMS)}"
    ids = ingest_all(source, event_type, early, 0)
    compact(source, event_type)  # the first days' parts, under the kinds the early payloads need
    ids += ingest_all(source, event_type, late, len(early))
    compact(source, event_type)  # later payloads may widen the stream: the earlier days are rewritten
    payloads = dict(zip(ids, early + late, strict=True))
    stream = f"source={source}/event_type={event_type}"
    base = tmp_path_factory.mktemp("curated")
    download(stack.outputs["raw_bucket_name"], f"curated/events/{stream}/", base)
    root = base / "curated" / "events"  # the layout's root, holding this stream only
    schema = stream_schema(stack, source, event_type)["columns"]

    # every reader, on the layout as a Hive dataset, reads every row of the stream with its columns
    arrow = ds.dataset(root, format="parquet", partitioning="hive").to_table()
    frame = pl.scan_parquet(f"{root}/**/*.parquet", hive_partitioning=True).collect()
    pattern = f"{root}/**/*.parquet"
    duck = duckdb.connect().sql(f"SELECT * FROM read_parquet('{pattern}', hive_partitioning = true)").to_arrow_table()
    pandas = pd.read_parquet(
        root
    )  # pandas' own reader of a Hive directory (the issue: it kept the first file's columns)
    wanted = [*curated.event_columns(schema), *curated.PARTITION_COLUMNS]
    for table_columns, rows in (
        (arrow.column_names, arrow.num_rows),
        (frame.columns, frame.height),
        (duck.column_names, duck.num_rows),
        (list(pandas.columns), len(pandas)),
    ):
        assert (sorted(table_columns), rows) == (sorted(wanted), len(ids))

    rows = {row["event_id"]: row for row in arrow.to_pylist()}
    assert {i: json.loads(rows[i]["payload"]) for i in ids} == payloads  # exact: huge ints, ±1.797e308
    for name, kind in schema.items():
        values = [payloads[i].get(name) for i in ids]
        assert [rows[i][name] for i in ids] == expected_column(values, kind), name
    for name in ("amount", "vip"):  # a field some payload holds as a scalar is a column
        if any(p.get(name) is not None and not isinstance(p.get(name), (list, dict)) for p in payloads.values()):
            assert name in schema


def test_a_widened_stream_rewrites_its_earlier_days_and_records_its_schema(stack, tmp_path):
    ids = ingest_all("widen", "order", [{"amount": 1, "vip": True}], 0)  # day 0: amount int, vip bool
    first = compact("widen", "order")
    ids += ingest_all("widen", "order", [{"amount": 2.5}, {"amount": 2**64, "vip": "yes"}], 1)  # days 1, 2
    second = compact("widen", "order")
    # day 1 widens amount to float, day 2 to text (and vip): days 0 and 1 are rewritten under text
    assert (first["written"], second["written"], second["unchanged"], second["rewritten"]) == (1, 2, 1, 2)
    schema = stream_schema(stack, "widen", "order")
    assert schema["columns"] == {"amount": "text", "vip": "text"}
    assert set(schema["days"].values()) == {schema["version"]}
    root = download(stack.outputs["raw_bucket_name"], "curated/events/source=widen/", tmp_path)
    frame = pl.scan_parquet(f"{root}/**/*.parquet", hive_partitioning=True).collect().sort("event_time")
    assert frame["amount"].to_list() == ["1", "2.5", str(2**64)]
    assert frame["vip"].to_list() == ["true", None, "yes"]
    again = compact("widen", "order")
    assert (again["written"], again["rewritten"]) == (0, 0)  # a re-run writes nothing


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 10**400])
def test_one_integer_outside_int64_never_stops_a_compaction(stack, value):
    ingest_all("huge", "n", [{"n": 1}, {"n": value}], 0)
    result = compact("huge", "n")
    assert (result["written"], result["events"]) == (2, 2)
