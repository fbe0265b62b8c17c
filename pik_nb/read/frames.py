"""Typed DataFrames: column schemas and whole-column conversion from DynamoDB items.

Kinds: ``str`` (pandas string), ``category``, ``time`` (``datetime64[us, UTC]``), ``int`` (int64),
``float`` (float64), ``bool``, ``object`` (lists and maps kept as Python values).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pik.core import records

STATUSES = [status.value for status in records.AttemptStatus]  # the status column's categories

#: Column kind per record field kind of ``pik.core.records``.
_OF_FIELD = {"text": "str", "label": "category", "time": "time", "int": "int", "float": "float"}

#: One row per ingest attempt (``Kit.events``): the attempt item's fields, ``records.ATTEMPT_FIELDS``.
ATTEMPT_COLUMNS = {name: _OF_FIELD[kind] for name, kind in records.ATTEMPT_FIELDS.items()}

#: One row per aggregate version (``Kit.aggregates``): ``records.AGGREGATE_FIELDS``.
AGGREGATE_COLUMNS = {name: _OF_FIELD[kind] for name, kind in records.AGGREGATE_FIELDS.items()}

#: One row per replay run (``Kit.replays``).
RUN_COLUMNS = {
    "replay_id": "str",
    "created_at": "time",
    "updated_at": "time",
    "requester": "str",
    "dry_run": "bool",
    "status": "category",
    "scanned": "int",
    "matched": "int",
    "sent": "int",
    "entity_id": "str",
    "source": "str",
    "event_type": "str",
    "start": "time",
    "end": "time",
    "include_duplicates": "bool",
    "by_day": "object",
    "sample_event_ids": "object",
    "request": "object",
    "continuation": "str",
    "stopped": "category",
    "target": "str",
    "failed": "int",
    "retried": "int",
    "skipped": "int",
    "rate_per_second": "float",
    "event_ids_count": "int",
}

#: One row per raw object behind an events frame (``Kit.raw``), then ``payload.<field>`` columns.
RAW_COLUMNS = {
    "s3_key": "str",
    "event_id": "str",
    "found": "bool",
    "recorded_sha256": "str",
    "stored_sha256": "str",
    "ingest_time": "time",
    "request_id": "str",
    "attempt_id": "str",
    "entity_id": "str",
    "event_time": "time",
    "hash_ok": "bool",
}

#: One row per raw object of a partition (``Kit.raw_dataset``): the partition, then the envelope and
#: event fields every object holds; the others (``schema``, ``content_sha256``, ``idempotency_key``,
#: ``payload.<field>``) follow as the objects have them.
RAW_DATASET_COLUMNS = {
    "s3_key": "str",
    "event_date": "category",
    "source": "category",
    "event_type": "category",
    "event_id": "str",
    "ingest_time": "time",
    "request_id": "str",
    "attempt_id": "str",
    "payload_sha256": "str",
    "entity_id": "str",
    "event_time": "time",
}

#: One row per quarantined request (``Kit.rejected``); the last four when its body could be read.
REJECTED_COLUMNS = {
    "s3_key": "str",
    "ingest_time": "time",
    "attempt_id": "str",
    "request_id": "str",
    "rules": "str",
    "body_bytes": "int",
    "truncated": "bool",
    "source": "category",
    "event_type": "category",
    "entity_id": "str",
    "event_time": "time",
}

#: One row per inconsistency (``Kit.reconcile``).
RECONCILE_COLUMNS = {"problem": "category", "event_id": "str", "s3_key": "str"}

_ARROW = {
    "str": pa.string(),
    "category": pa.string(),
    "time": pa.string(),
    "int": pa.string(),
    "float": pa.string(),
    "bool": pa.bool_(),
}
_CAST = {"time": pa.timestamp("us", "UTC"), "int": pa.int64(), "float": pa.float64()}
_NULL: dict[str, Any] = {"S": None, "N": None, "BOOL": None}


def from_dynamo(items: list[dict], columns: dict[str, str]) -> pd.DataFrame:
    """DynamoDB-JSON items (as ``json.loads`` returns them) to a typed frame, one column at a time.

    >>> from_dynamo([{"ingest_lag_ms": {"N": "5"}}], {"ingest_lag_ms": "int"}).dtypes.iloc[0]
    dtype('int64')
    """
    table = pa.table({name: _column(items, name, kind) for name, kind in columns.items()})
    return _finish(table.to_pandas(), columns)


def from_records(records: Iterable[dict], columns: dict[str, str]) -> pd.DataFrame:
    """Plain dicts (deserialised items, JSON documents) to a typed frame with exactly ``columns``."""
    frame = pd.DataFrame(list(records), columns=list(columns))
    for name, kind in columns.items():
        frame[name] = _typed(frame[name], kind)
    return frame


def item_type(columns: dict[str, str]) -> pa.StructType:
    """Arrow type of a DynamoDB-JSON item holding ``columns``: ``struct<name: struct<S|N|BOOL>>``."""
    return pa.struct([(name, pa.struct([(_tag(kind), _ARROW[kind])])) for name, kind in columns.items()])


def from_arrow_items(items: pa.Array | pa.ChunkedArray, columns: dict[str, str]) -> pd.DataFrame:
    """Items already parsed by Arrow (``FastReader.arrow_pages``) to a typed frame, column by column."""
    table = pa.table(
        {name: _convert(pc.struct_field(items, [name, _tag(kind)]), kind) for name, kind in columns.items()}
    )
    return _finish(table.to_pandas(), columns)


def _tag(kind: str) -> str:
    return "BOOL" if kind == "bool" else ("N" if kind in ("int", "float") else "S")


def _column(items: list[dict], name: str, kind: str) -> pa.Array:
    return _convert(pa.array([item.get(name, _NULL).get(_tag(kind)) for item in items], _ARROW[kind]), kind)


def _convert(array: pa.Array | pa.ChunkedArray, kind: str) -> pa.Array | pa.ChunkedArray:
    if kind in _CAST:
        return array.cast(_CAST[kind])
    return array.dictionary_encode() if kind == "category" else array


def _typed(series: pd.Series, kind: str) -> pd.Series:
    if kind == "time":
        return pd.to_datetime(series, format="ISO8601", utc=True).astype("datetime64[us, UTC]")
    if kind == "int":
        return series.fillna(0).astype("int64")
    if kind == "float":
        return pd.to_numeric(series, errors="coerce").astype("float64")
    if kind == "bool":
        return series.astype("boolean").fillna(False).astype(bool)  # NaN-only floats too (no Pandas4Warning)
    if kind == "category":
        return series.astype("category")
    if kind == "str":
        return series.replace("", None).astype("str")
    return series


def _finish(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    if "status" in frame and columns.get("status") == "category":
        frame["status"] = frame["status"].cat.set_categories(STATUSES)
    return frame
