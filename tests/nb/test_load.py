"""Loaders against moto: real ingests through the handler, small pages, typed columns."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import boto3
import numpy as np
import pandas as pd
import pytest

import pik_nb
from pik.core.timefmt import UTC
from pik_nb.read.frames import ATTEMPT_COLUMNS
from tests.support.events import make_event
from tests.support.kit import post

DAY = (datetime.now(UTC) - timedelta(days=3)).replace(hour=0, minute=0, second=0, microsecond=0)


def seed(entity="customer-42", count=6, step=timedelta(hours=9), source="checkout"):
    """``count`` events of ``entity`` spread over several days; returns the ingest answers."""
    return [
        post(
            make_event(
                entity_id=entity,
                source=source,
                event_time=(DAY + i * step).isoformat(),
                payload={"amount": i, "meta": {"step": i * 10}},
            )
        )
        for i in range(count)
    ]


def test_events_by_entity_follow_every_page_of_every_day_slice(kit):
    answers = seed(count=7)  # spans 3 days
    post(make_event(entity_id="customer-42", event_time=DAY.isoformat(), payload={"amount": 0, "meta": {"step": 0}}))
    seed(entity="someone-else", count=3)
    queries = []
    kit.client("dynamodb").meta.events.register(
        "before-send.dynamodb.Query", lambda request, **_: queries.append(request)
    )
    events = kit.events(entity_id="customer-42", start=DAY, end=DAY + timedelta(days=5), page_size=2, progress=False)
    assert len(events) == 8
    assert len(queries) == 8  # day slices of 4, 3, 1, 0, 0 attempts in pages of 2: 3 + 2 + 1 + 1 + 1
    assert sorted(set(events["event_id"])) == sorted(a["event_id"] for a in answers)
    assert list(events["status"].value_counts()[["ACCEPTED", "DUPLICATE"]]) == [7, 1]
    assert events["event_time"].is_monotonic_increasing


def test_events_are_typed(kit):
    seed(count=2)
    events = kit.events(entity_id="customer-42", start=DAY, end=DAY + timedelta(days=1), progress=False)
    assert list(events.columns) == list(ATTEMPT_COLUMNS)
    assert str(events["event_time"].dtype) == "datetime64[us, UTC]"
    assert str(events["ingest_time"].dtype) == "datetime64[us, UTC]"
    assert events["ingest_lag_ms"].dtype == np.int64
    assert all(isinstance(events[c].dtype, pd.CategoricalDtype) for c in ("status", "source", "event_type"))
    assert list(events["status"].cat.categories) == ["ACCEPTED", "DUPLICATE", "CONFLICT", "REJECTED"]
    assert events["event_time"].iloc[1] == pd.Timestamp(DAY + timedelta(hours=9))
    expected = (events["ingest_time"] - events["event_time"]) // pd.Timedelta(milliseconds=1)
    assert (events["ingest_lag_ms"] == expected).all()


def test_window_is_half_open_and_cut_at_the_edges(kit):
    seed(count=4)  # DAY+0h, +9h, +18h, +27h
    events = kit.events(
        entity_id="customer-42", start=DAY + timedelta(hours=9), end=DAY + timedelta(hours=27), progress=False
    )
    assert list(events["event_time"]) == [pd.Timestamp(DAY + timedelta(hours=h)) for h in (9, 18)]


def test_events_by_source_and_type_use_the_stream_index_per_day(kit):
    seed(count=5, source="web")
    seed(entity="other", count=2, source="web")
    seed(count=3, source="checkout")
    events = kit.events(
        source="web", event_type="order_placed", start=DAY, end=DAY + timedelta(days=3), page_size=1, progress=False
    )
    assert len(events) == 7 and set(events["source"]) == {"web"}


def test_a_loader_without_scope_refuses_to_scan_unless_allowed(kit):
    seed(count=3)
    with pytest.raises(pik_nb.ScopeError, match="entity_id"):
        kit.events(start=DAY, end=DAY + timedelta(days=1))
    with pytest.raises(pik_nb.ScopeError, match="start and end"):
        kit.events(entity_id="customer-42")
    everything = kit.events(allow_scan=True, page_size=2, progress=False)
    assert len(everything) == 3 and set(everything["status"]) == {"ACCEPTED"}


NO_TIME = "is not a date or time like 2026-11-20 or 2026-11-20T10:00:00Z"


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda kit: kit.events(entity_id="c-42", start="garbage", end="2026-11-21"), f"'garbage' {NO_TIME}"),
        (lambda kit: kit.events(entity_id="c-42", start="2026-11-20", end="NaT"), f"'NaT' {NO_TIME}"),
        (lambda kit: kit.aggregates(entity_id="c-42", start=float("nan"), end="2026-11-21"), f"nan {NO_TIME}"),
        (lambda kit: kit.replays(start="last week"), f"'last week' {NO_TIME}"),
        (lambda kit: kit.search(source="s", event_type="t", start="soon", end="2026-11-21"), f"'soon' {NO_TIME}"),
        (lambda kit: kit.diff("c-42", "yesterday"), "day='yesterday' is not a day like 2026-11-20"),
        (lambda kit: kit.rejected(days=-1), "days=-1: give a whole number of days, 1 or more, or a list of dates"),
    ],
)
def test_what_is_no_time_is_a_scope_error_saying_so_not_pandas_parse_error(kit, call, message):
    """Issue 21, finding 6, past ``kit.metrics``: every loader's times go through one reader
    (``pik_nb._times.utc``); pandas' DateParseError, NaT's ValueError and numpy's OverflowError stay behind it."""
    with pytest.raises(pik_nb.ScopeError) as refused:
        call(kit)
    assert str(refused.value) == message


def test_raw_fetches_each_object_once_flattens_payload_and_checks_hashes(kit, stack):
    answers = seed(count=3)
    post(make_event(entity_id="customer-42", event_time=DAY.isoformat(), payload={"amount": 0, "meta": {"step": 0}}))
    tampered = answers[2]["s3_key"]
    s3 = boto3.client("s3")
    bucket = stack.outputs["raw_bucket_name"]
    document = json.loads(s3.get_object(Bucket=bucket, Key=tampered)["Body"].read())
    document["event"]["payload"]["amount"] = 999
    s3.put_object(Bucket=bucket, Key=tampered, Body=json.dumps(document))
    events = kit.events(entity_id="customer-42", start=DAY, end=DAY + timedelta(days=2), progress=False)
    raw = kit.raw(events, progress=False).set_index("s3_key")
    assert len(raw) == 3
    assert list(raw["payload.amount"]) == [0, 1, 999]
    assert list(raw["payload.meta.step"]) == [0, 10, 20]
    assert raw["hash_ok"].to_dict() == {answers[0]["s3_key"]: True, answers[1]["s3_key"]: True, tampered: False}
    assert raw["found"].all()


def test_raw_marks_a_missing_object(kit, stack):
    answer = seed(count=1)[0]
    boto3.client("s3").delete_object(Bucket=stack.outputs["raw_bucket_name"], Key=answer["s3_key"])
    raw = kit.raw(
        kit.events(entity_id="customer-42", start=DAY, end=DAY + timedelta(days=1), progress=False), progress=False
    )
    assert raw[["found", "hash_ok"]].values.tolist() == [[False, False]]


def test_raw_dataset_reads_the_hive_partitions_in_bulk(kit):
    answers = seed(count=5)  # days 0, 0, 0, 1, 1 (0h, 9h, 18h, 27h, 36h)
    seed(count=2, source="other")
    days = [DAY.date().isoformat(), (DAY + timedelta(days=1)).date().isoformat()]
    data = kit.raw_dataset(source="checkout", event_type="order_placed", days=days, progress=False)
    assert sorted(data["event_id"]) == sorted(a["event_id"] for a in answers)
    assert data.groupby("event_date", observed=True).size().to_dict() == {days[0]: 3, days[1]: 2}
    assert sorted(data["payload.amount"]) == [0, 1, 2, 3, 4]
    assert str(data["ingest_time"].dtype).startswith("datetime64") and set(data["source"]) == {"checkout"}


def test_rejected_reads_the_quarantine_with_reasons(kit):
    today = datetime.now(UTC).date().isoformat()
    post(make_event(entity_id="customer-42", event_time="2026-11-20T10:00:00"))
    post("not json")
    rejected = kit.rejected(days=[today], progress=False).sort_values("rules").reset_index(drop=True)
    assert list(rejected["rules"]) == ["body:json", "event_time:offset_required"]
    assert rejected["entity_id"].iloc[1] == "customer-42"
    assert rejected["event_time"].iloc[1] == pd.Timestamp("2026-11-20T10:00:00Z")
