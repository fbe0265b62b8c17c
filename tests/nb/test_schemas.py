"""Frames as pandas users expect: each carries where it came from in ``.attrs["pik"]``, and each kind has
a typed schema (``pik_nb.schemas``) the frame validates against; a wrong frame is named column by column."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pyarrow as pa
import pytest

import pik_nb
from pik_nb import schemas
from tests.support.kit import DAY


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
    with pytest.raises(schemas.SchemaError, match="kind must be one of events, aggregates, replays"):
        schemas.schema("attempts")
