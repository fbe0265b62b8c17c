"""The typed schema of each frame kind ``pik_nb`` returns, as Arrow schemas a user can validate against,
and where a frame came from (``frame.attrs["pik"]``).

>>> from pik_nb import schemas
>>> schemas.EVENTS.field("ingest_time").type
TimestampType(timestamp[us, tz=UTC])
>>> schemas.EVENTS.field("status").type
DictionaryType(dictionary<values=string, indices=int8, ordered=0>)

``validate(frame)`` checks a frame against its kind's schema (read from ``frame.attrs``, or given) and
names every column that is missing or of another type; extra columns (``payload.<field>`` of raw
objects, a query's own) are allowed. The schemas are derived from the same column declarations the
loaders type their frames with (``pik_nb.read.frames``), so they cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pyarrow as pa

from .._errors import KitError
from .frames import AGGREGATE_COLUMNS, ATTEMPT_COLUMNS, RUN_COLUMNS

__all__ = ["EVENTS", "AGGREGATES", "REPLAYS", "KINDS", "SchemaError", "schema", "validate", "provenance", "describe"]

#: Arrow type per column kind of ``pik_nb.read.frames`` (``object``: lists and maps, any Arrow type).
_ARROW: dict[str, pa.DataType | None] = {
    "str": pa.string(),
    "category": pa.dictionary(pa.int8(), pa.string()),
    "time": pa.timestamp("us", "UTC"),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "object": None,
}


def _schema(columns: dict[str, str], kind: str) -> pa.Schema:
    fields = [
        pa.field(name, _ARROW[column] or pa.null(), metadata={"pik_kind": column}) for name, column in columns.items()
    ]
    return pa.schema(fields, metadata={"pik_frame": kind})


#: ``kit.events(...)``: one row per ingest attempt.
EVENTS = _schema(ATTEMPT_COLUMNS, "events")
#: ``kit.aggregates(...)``: one row per aggregate version.
AGGREGATES = _schema(AGGREGATE_COLUMNS, "aggregates")
#: ``kit.replays(...)``: one row per replay run.
REPLAYS = _schema(RUN_COLUMNS, "replays")

KINDS = {"events": EVENTS, "aggregates": AGGREGATES, "replays": REPLAYS}


class SchemaError(KitError):
    """A frame does not have its kind's schema: the message names each column and what it should be."""


def schema(kind: str) -> pa.Schema:
    """The Arrow schema of a frame kind: ``"events"``, ``"aggregates"`` or ``"replays"``.

    >>> schema("replays").field("dry_run").type
    DataType(bool)
    """
    if kind not in KINDS:
        raise SchemaError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    return KINDS[kind]


def validate(frame: pd.DataFrame, kind: str | None = None) -> pd.DataFrame:
    """``frame`` itself when it has every column of its kind's schema with the declared types, else a
    ``SchemaError`` naming each difference. ``kind`` defaults to the frame's ``attrs["pik"]["kind"]``.

    >>> from pik_nb.read.frames import from_records, ATTEMPT_COLUMNS
    >>> validate(from_records([], ATTEMPT_COLUMNS), "events").shape[1] == len(EVENTS)
    True
    >>> validate(pd.DataFrame({"event_id": [1]}), "events")
    Traceback (most recent call last):
    ...
    pik_nb.read.schemas.SchemaError: not an events frame: event_id is int64, not a string; attempt_id is missing; ...
    """
    kind = kind or frame.attrs.get("pik", {}).get("kind")
    if kind is None:
        raise SchemaError("the frame says no kind (attrs['pik']['kind']): pass kind='events' or another")
    problems = [problem for field in schema(kind) if (problem := _check(frame, field))]
    if problems:
        shown = "; ".join(problems[:3]) + ("; ..." if len(problems) > 3 else "")
        raise SchemaError(f"not an {kind} frame: {shown}" if kind[0] in "aeiou" else f"not a {kind} frame: {shown}")
    return frame


def _check(frame: pd.DataFrame, field: pa.Field) -> str | None:
    if field.name not in frame.columns:
        return f"{field.name} is missing"
    kind = field.metadata[b"pik_kind"].decode()
    dtype = frame[field.name].dtype
    return None if _PANDAS[kind][1](dtype) else f"{field.name} is {dtype}, not {_PANDAS[kind][0]}"


#: What each column kind is in pandas (the loaders' own typing): a name and a check of the dtype.
_PANDAS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "str": ("a string", lambda d: isinstance(d, pd.StringDtype) or d == "object"),
    "category": ("a categorical", lambda d: isinstance(d, pd.CategoricalDtype)),
    "time": (
        "datetime64[us, UTC]",
        lambda d: isinstance(d, pd.DatetimeTZDtype) and str(d.tz) == "UTC" and d.unit == "us",
    ),
    "int": ("int64", lambda d: d == "int64"),
    "float": ("float64", lambda d: d == "float64"),
    "bool": ("bool", lambda d: d == "bool"),
    "object": ("any", lambda d: True),
}


def provenance(frame: Any, kind: str, stack: str, /, **scope: Any) -> Any:
    """Record on ``frame.attrs["pik"]`` where it came from: its kind, the stack, the scope (or query)
    and when it was loaded (UTC). Returns ``frame``; anything that is not a DataFrame passes through.

    >>> provenance(pd.DataFrame(), "events", "AWS us-east-1", entity_id="c-42").attrs["pik"]["scope"]
    {'entity_id': 'c-42'}
    """
    if isinstance(frame, pd.DataFrame):
        frame.attrs["pik"] = {
            "kind": kind,
            "stack": stack,
            "scope": {k: _plain(v) for k, v in scope.items()},
            "loaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    return frame


def describe(frame: pd.DataFrame) -> str:
    """One line saying where ``frame`` came from (for a notebook cell or a ticket).

    >>> f = provenance(pd.DataFrame(), "events", "AWS us-east-1", entity_id="c-42")
    >>> describe(f).startswith("events from AWS us-east-1 (entity_id='c-42'), loaded ")
    True
    """
    info = frame.attrs.get("pik")
    if not info:
        return "not loaded by pik_nb (no attrs['pik'])"
    scope = ", ".join(f"{k}={v!r}" for k, v in info["scope"].items())
    return f"{info['kind']} from {info['stack']} ({scope}), loaded {info['loaded_at']}"


def _plain(value: Any) -> Any:
    """A scope value as JSON would hold it: times in ISO-8601, frames as their row count."""
    if isinstance(value, (pd.Timestamp, datetime)):
        return value.isoformat()
    if isinstance(value, pd.DataFrame):
        return f"{len(value)} rows"
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value] if len(value) <= 20 else f"{len(value)} values"
    return value
