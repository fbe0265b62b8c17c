"""The typed schema of each frame kind ``pik_nb`` returns, as Arrow schemas a user can validate against,
and where a frame came from (``frame.attrs["pik"]``).

>>> from pik_nb import schemas
>>> schemas.EVENTS.field("ingest_time").type
TimestampType(timestamp[us, tz=UTC])
>>> schemas.EVENTS.field("status").type
DictionaryType(dictionary<values=string, indices=int8, ordered=0>)
>>> schemas.EVENTS.field("idempotency_key").nullable, schemas.EVENTS.field("event_id").nullable
(True, False)
>>> sorted(schemas.KINDS)[:6]
['aggregates', 'dashboard.events', 'dashboard.table', 'diff.added', 'diff.removed', 'events']
>>> sorted(schemas.KINDS)[6:13]
['explain.timeline', 'impact', 'impact_events', 'metrics', 'raw', 'raw_dataset', 'reconcile']
>>> sorted(schemas.KINDS)[13:]
['rejected', 'replays', 'search', 'sql', 'sql.duplicates_per_source', 'sql.gaps_daily', 'sql.lateness']

One schema per kind (the ``kind`` in ``attrs["pik"]``): ``EVENTS``, ``RAW``, ``RAW_DATASET``, ``QUARANTINE``,
``AGGREGATES``, ``REPLAYS``, ``RECONCILE``, ``METRICS``, ``SEARCH``, ``SQL``; and for the frames inside other
results and the analyses pushed into SQL, ``IMPACT``, ``IMPACT_EVENTS`` (``kit.replay``), ``DIFF_ADDED``,
``DIFF_REMOVED`` (``kit.diff``), ``EXPLAIN_TIMELINE`` (``kit.explain(...).timeline()``), ``SQL_LATENESS``,
``SQL_DUPLICATES_PER_SOURCE``, ``SQL_GAPS_DAILY`` (``pik_nb.sql.analyses``), ``DASHBOARD_TABLE``, ``DASHBOARD_EVENTS``
(``kit.explain_dashboard``; the SQL analyses whose results say the analysis in
``attrs["pik"]["analysis"]``: ``kind_of(frame)`` is the kind a frame has the schema of). A field says its Arrow type,
whether it may hold nulls (``nullable``) and, in its metadata, its column kind (``pik_kind``) and whether it
is the frame's index (``pik_index``: ``metrics`` is indexed by ``time``). ``validate(frame)`` checks a frame
against its kind's schema (read from ``frame.attrs``, or given) and names every column that is missing, of
another type, or null where the schema says it never is; extra columns (``payload.<field>`` of raw objects,
a stream's payload columns in ``search``, a query's own in ``sql``: the schema's ``pik_extra`` metadata says
which) are allowed. The schemas are derived from the same column declarations the loaders type their frames
with (``pik_nb.read.frames``, ``pik.core.curated``), so they cannot drift apart; tests check each against the
frame the kit really returns.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pyarrow as pa

from pik.core import curated
from pik.core.pipeline_metrics import COUNTS, LAG, PERCENTILES

from .._errors import KitError
from .frames import (
    AGGREGATE_COLUMNS,
    ATTEMPT_COLUMNS,
    RAW_COLUMNS,
    RAW_DATASET_COLUMNS,
    RECONCILE_COLUMNS,
    REJECTED_COLUMNS,
    RUN_COLUMNS,
)
from .impact import IMPACT_EVENT_TYPES, IMPACT_TYPES

#: ``explain_dashboard``'s numbers per window (``pik_nb.investigate.dashboard.TABLE_COLUMNS`` after ``window``:
#: a test keeps the two equal, as ``read`` may not import ``investigate``).
DASHBOARD_NUMBERS = (
    "dashboard",
    "truth",
    "gap",
    "late",
    "early",
    "duplicates",
    "conflicts",
    "rejected",
    "replayed",
    "unexplained",
)

__all__ = [
    "EVENTS",
    "RAW",
    "RAW_DATASET",
    "QUARANTINE",
    "AGGREGATES",
    "REPLAYS",
    "RECONCILE",
    "METRICS",
    "SEARCH",
    "SQL",
    "IMPACT",
    "IMPACT_EVENTS",
    "DIFF_ADDED",
    "DIFF_REMOVED",
    "EXPLAIN_TIMELINE",
    "SQL_LATENESS",
    "SQL_DUPLICATES_PER_SOURCE",
    "SQL_GAPS_DAILY",
    "DASHBOARD_TABLE",
    "DASHBOARD_EVENTS",
    "KINDS",
    "kind_of",
    "SchemaError",
    "schema",
    "validate",
    "to_arrow",
    "provenance",
    "describe",
]

#: Arrow type per column kind of ``pik_nb.read.frames`` (``object``: lists and maps, any Arrow type).
_ARROW: dict[str, pa.DataType | None] = {
    "str": pa.string(),
    "category": pa.dictionary(pa.int8(), pa.string()),
    "time": pa.timestamp("us", "UTC"),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "Int": pa.int64(),  # pandas' nullable Int64 (a version that may not exist)
    "timedelta": pa.duration("ns"),
    "time_ns": pa.timestamp("ns", "UTC"),  # a window's end: its start plus a step counted in nanoseconds
    "number": pa.float64(),  # int64 when every value is whole, else float64 (explain_dashboard's table)
    "object": None,
}
_OF_CURATED = {"text": "str", "time": "time", "int": "int"}


def _schema(
    kind: str,
    columns: dict[str, str],
    nullable: Iterable[str] = (),
    *,
    index: dict[str, str] | None = None,
    extra: str = "",
) -> pa.Schema:
    may_be_null = set(nullable)
    assert may_be_null <= set(columns), may_be_null - set(columns)
    fields = [
        pa.field(name, _ARROW[column] or pa.null(), nullable=False, metadata={"pik_kind": column, "pik_index": "1"})
        for name, column in (index or {}).items()
    ]
    fields += [
        pa.field(
            name,
            _ARROW[column] or pa.null(),
            nullable=name in may_be_null or column == "object",
            metadata={"pik_kind": column},
        )
        for name, column in columns.items()
    ]
    return pa.schema(fields, metadata={"pik_frame": kind, "pik_extra": extra or "none"})


#: ``kit.events(...)``: one row per ingest attempt.
EVENTS = _schema("events", ATTEMPT_COLUMNS, ["idempotency_key"])
#: ``kit.raw(events)``: one row per raw object; null where the object is missing (``found`` False).
RAW = _schema(
    "raw",
    RAW_COLUMNS,
    ["stored_sha256", "ingest_time", "request_id", "attempt_id", "entity_id", "event_time"],
    extra="payload.<field> (dotted for nested objects), payload (non-object payloads)",
)
#: ``kit.raw_dataset(...)``: one row per raw object of the partitions.
RAW_DATASET = _schema(
    "raw_dataset",
    RAW_DATASET_COLUMNS,
    extra="the objects' other envelope and event fields (schema, content_sha256, idempotency_key), payload.<field>",
)
#: ``kit.rejected(...)``: one row per quarantined request; the body's fields null when it could not be read.
QUARANTINE = _schema("rejected", REJECTED_COLUMNS, ["source", "event_type", "entity_id", "event_time"])
#: ``kit.aggregates(...)``: one row per aggregate version (``value`` NaN: a min/max/sum with no numbers).
AGGREGATES = _schema("aggregates", AGGREGATE_COLUMNS, ["value", "replay_id"])
#: ``kit.replays(...)``: one row per replay run; the scope's fields null when the run's scope has none.
REPLAYS = _schema(
    "replays",
    RUN_COLUMNS,
    ["entity_id", "source", "event_type", "start", "end", "continuation", "stopped", "rate_per_second"],
)
#: ``kit.reconcile()``: one row per raw object without metadata, or metadata without raw.
RECONCILE = _schema("reconcile", RECONCILE_COLUMNS)
#: ``kit.metrics(...)``: one row per period, indexed by its start (``pik_nb.analyses.health``); lag
#: percentiles NaN in a period without events.
LAG_COLUMNS = [f"{LAG}_p{p}" for p in PERCENTILES]
METRICS = _schema(
    "metrics",
    {**dict.fromkeys(COUNTS, "int"), **dict.fromkeys(LAG_COLUMNS, "float")},
    LAG_COLUMNS,
    index={"time": "time"},
)
#: ``kit.search(...)``: one row per matching event: the events view's columns (``pik.core.curated``), the
#: stream's typed payload columns, then ``payload`` (JSON text).
SEARCH = _schema(
    "search",
    {
        "event_id": "str",
        **dict.fromkeys(curated.PARTITION_COLUMNS, "str"),
        **{name: _OF_CURATED[kind] for name, kind in curated.EVENT_COLUMNS.items() if name != "event_id"},
        curated.PAYLOAD: "str",
    },
    ["idempotency_key"],
    extra="the stream's typed payload columns, between idempotency_key and payload",
)
#: ``kit.sql(query)``: the query's own columns; no fixed ones.
SQL = _schema("sql", {}, extra="the query's own columns")

# --- frames inside other results, and the analyses pushed into SQL ------------------------------------------
#: ``kit.replay(...)["impact"]``: one row per (entity, day, metric) of a dry run's impact preview
#: (``pik_nb.read.impact``); ``now``/``version_now`` null before the first version, ``after``/``version_after``
#: where the preview has no value, ``delta`` where either is.
IMPACT = _schema(
    "impact",
    IMPACT_TYPES,
    ["now", "after", "delta", "version_now", "version_after"],
)
#: ``kit.replay(...)["impact_events"]``: one row per event that would enter (or leave) an entity-day's inputs.
IMPACT_EVENTS = _schema("impact_events", IMPACT_EVENT_TYPES)
#: ``kit.diff(...).added`` / ``.removed``: one row per event added to (removed from) the newer version's inputs,
#: with its cause; its times null for an event the entity-day's attempts do not hold.
DIFF_ADDED = _schema(
    "diff.added",
    {"event_id": "str", "event_time": "time", "first_arrival": "time", "cause": "str"},
    ["event_time", "first_arrival"],
)
DIFF_REMOVED = _schema("diff.removed", {"event_id": "str", "event_time": "time", "cause": "str"}, ["event_time"])
#: ``kit.explain(event_id).timeline()``: one row per trace of the event, in time order.
EXPLAIN_TIMELINE = _schema("explain.timeline", {"time": "time", "what": "str", "detail": "str"})
#: ``pik_nb.sql.analyses.lateness(kit.sql, by=...)``: one row per group, indexed by the ``by`` keys (text);
#: the same columns as ``pik_nb.lateness``.
SQL_LATENESS = _schema(
    "sql.lateness",
    {
        "count": "int",
        "p50_ms": "float",
        "p90_ms": "float",
        "p99_ms": "float",
        "max_ms": "int",
        "late_count": "int",
        "late_share": "float",
        "negative_count": "int",
        "out_of_order": "int",
    },
    extra="the by keys, as the index",
)
#: ``pik_nb.sql.analyses.duplicates_per_source(kit.sql)``: one row per stream, as ``duplicates(...).per_source``.
SQL_DUPLICATES_PER_SOURCE = _schema(
    "sql.duplicates_per_source",
    {
        "source": "str",
        "event_type": "str",
        "events": "int",
        "attempts": "int",
        "duplicates": "int",
        "conflicts": "int",
        "duplicate_rate": "float",
    },
)
#: ``pik_nb.sql.analyses.gaps_daily(kit.sql)``: one row per missing day of a stream, as ``gaps(freq="1D")``.
SQL_GAPS_DAILY = _schema(
    "sql.gaps_daily",
    {
        "window": "time",
        "window_end": "time_ns",
        "gap_class": "category",
        "cadence": "timedelta",
        "late_arrivals": "int",
        "repeats": "int",
        "rejected": "int",
    },
    extra="the keys first: by, then source and event_type (per_stream)",
)
#: ``kit.explain_dashboard(...).table``: one row per window (and entity, when the values name one): the
#: dashboard's number, the truth, the gap and the signed causes adding up to it (``number``: whole values as
#: int64, else float64).
DASHBOARD_TABLE = _schema(
    "dashboard.table",
    {"window": "time", **dict.fromkeys(DASHBOARD_NUMBERS, "number")},
    extra="entity_id after window, when the dashboard's values have one",
)
#: ``kit.explain_dashboard(...).events(window, cause)``: one row per arrival behind a number; ``sign`` -1 for
#: an event missing from the window, +1 for one counted in it.
DASHBOARD_EVENTS = _schema(
    "dashboard.events",
    {
        "event_id": "str",
        "entity_id": "str",
        "event_time": "time",
        "arrival": "time",
        "kind": "str",
        "status": "str",
        "s3_key": "str",
        "value": "float",
        "sign": "int",
    },
    ["entity_id", "event_time", "status", "s3_key"],
)

KINDS = {
    schema.metadata[b"pik_frame"].decode(): schema
    for schema in (
        EVENTS,
        RAW,
        RAW_DATASET,
        QUARANTINE,
        AGGREGATES,
        REPLAYS,
        RECONCILE,
        METRICS,
        SEARCH,
        SQL,
        IMPACT,
        IMPACT_EVENTS,
        DIFF_ADDED,
        DIFF_REMOVED,
        EXPLAIN_TIMELINE,
        SQL_LATENESS,
        SQL_DUPLICATES_PER_SOURCE,
        SQL_GAPS_DAILY,
        DASHBOARD_TABLE,
        DASHBOARD_EVENTS,
    )
}


class SchemaError(KitError):
    """A frame does not have its kind's schema: the message names each column and what it should be."""


def schema(kind: str) -> pa.Schema:
    """The Arrow schema of a frame kind (``KINDS``: ``"events"``, ``"raw"``, ``"metrics"``, ...).

    >>> schema("replays").field("dry_run").type
    DataType(bool)
    >>> schema("metrics").field("time").metadata[b"pik_index"]
    b'1'
    """
    if kind not in KINDS:
        raise SchemaError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    return KINDS[kind]


def validate(frame: pd.DataFrame, kind: str | None = None) -> pd.DataFrame:
    """``frame`` itself when it has every column of its kind's schema with the declared types, and nulls
    only where a field is ``nullable``, else a ``SchemaError`` naming each difference. ``kind`` defaults to
    the frame's ``attrs["pik"]["kind"]``; an analysis's result (``attrs["pik"]["analysis"]``) has no kind
    schema of its own: validate the frame it came from.

    >>> from pik_nb.read.frames import from_records, ATTEMPT_COLUMNS
    >>> validate(from_records([], ATTEMPT_COLUMNS), "events").shape[1] == len(EVENTS)
    True
    >>> validate(pd.DataFrame({"event_id": [1]}), "events")
    Traceback (most recent call last):
    ...
    pik_nb.read.schemas.SchemaError: not an events frame: event_id is int64, not a string; attempt_id is missing; ...
    """
    info = frame.attrs.get("pik", {})
    if kind is None and info.get("analysis") and info["analysis"] not in KINDS:
        raise SchemaError(
            f"the frame is the result of {info['analysis']} on {_a(str(info.get('kind')))} {info.get('kind')} frame, "
            "which has no kind schema: "
            "validate the frame it came from"
        )
    kind = kind or kind_of(frame)
    if kind is None:
        raise SchemaError("the frame says no kind (attrs['pik']['kind']): pass kind='events' or another")
    problems = [problem for field in schema(kind) if (problem := _check(frame, field))]
    if problems:
        shown = "; ".join(problems[:3]) + ("; ..." if len(problems) > 3 else "")
        raise SchemaError(f"not {_a(kind)} {kind} frame: {shown}")
    return frame


def to_arrow(frame: pd.DataFrame, kind: str | None = None) -> pa.Table:
    """The columns of ``frame``'s kind as a ``pyarrow.Table`` with exactly the kind's schema (the index too,
    for ``metrics``), so Arrow itself checks every type and null; a ``SchemaError`` says what it refused.
    Extra columns are left out; ``object`` columns (lists, maps) take the type Arrow infers.

    >>> from pik_nb.read.frames import from_records, RECONCILE_COLUMNS
    >>> to_arrow(from_records([{"problem": "raw without metadata", "event_id": "e", "s3_key": "k"}],
    ...                       RECONCILE_COLUMNS), "reconcile").schema.field("event_id")
    pyarrow.Field<event_id: string not null>
    >>> to_arrow(from_records([{"problem": "raw without metadata", "s3_key": "k"}], RECONCILE_COLUMNS), "reconcile")
    Traceback (most recent call last):
    ...
    pik_nb.read.schemas.SchemaError: not a reconcile frame for Arrow: ...<event_id: string not null> was non-nullable...
    """
    kind = kind or kind_of(frame)
    target = schema(kind or "")
    plain = frame.reset_index() if any(f.metadata.get(b"pik_index") for f in target) else frame
    typed = pa.schema([f for f in target if f.type != pa.null()])
    try:
        columns = plain[typed.names]
        columns.attrs = {}  # provenance is not Arrow's (pandas would try to keep it as JSON)
        with (
            warnings.catch_warnings()
        ):  # pyarrow reads tz-aware columns through Series.values, deprecated in pandas 3.1
            warnings.simplefilter("ignore", getattr(pd.errors, "Pandas4Warning", DeprecationWarning))
            table = pa.Table.from_pandas(columns, schema=typed, preserve_index=False)
        arrays = [table[f.name] if f.type != pa.null() else pa.array(plain[f.name].tolist()) for f in target]
    except (KeyError, ValueError, TypeError, pa.ArrowException) as exc:
        raise SchemaError(f"not {_a(kind or '')} {kind} frame for Arrow: {exc}") from exc
    fields = [f if f.type != pa.null() else f.with_type(a.type) for f, a in zip(target, arrays, strict=True)]
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields, metadata=target.metadata))


def kind_of(frame: pd.DataFrame) -> str | None:
    """The kind whose schema ``frame`` has, by its ``attrs["pik"]``: the analysis's name for an analysis's
    result that has a schema of its own (``"sql.lateness"``, ``"diff.added"``), None for one that has not
    (``lateness`` of an events frame), else the kind it was loaded as.

    >>> f = provenance(pd.DataFrame(), "sql", "local", query="SELECT 1")
    >>> kind_of(f), kind_of(pd.DataFrame())
    ('sql', None)
    >>> f.attrs["pik"]["analysis"] = "sql.lateness"; kind_of(f)
    'sql.lateness'
    """
    info = frame.attrs.get("pik") or {}
    if info.get("analysis"):
        return info["analysis"] if info["analysis"] in KINDS else None
    return info.get("kind")


def _a(word: str) -> str:
    return "an" if word[:1] in tuple("aeiou") else "a"


def _check(frame: pd.DataFrame, field: pa.Field) -> str | None:
    if field.metadata.get(b"pik_index"):
        column = frame.index.to_series() if frame.index.name == field.name else None
        where = f"the index {field.name}"
    else:
        column = frame[field.name] if field.name in frame.columns else None
        where = field.name
    if column is None:
        return f"{where} is missing"
    kind = field.metadata[b"pik_kind"].decode()
    if not _PANDAS[kind][1](column.dtype):
        return f"{where} is {column.dtype}, not {_PANDAS[kind][0]}"
    if not field.nullable and (nulls := int(column.isna().sum())):
        return f"{where} has {nulls} null{'s' if nulls > 1 else ''} (the schema says never)"
    return None


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
    "Int": ("Int64", lambda d: isinstance(d, pd.Int64Dtype)),
    "timedelta": ("timedelta64[ns]", lambda d: d == "timedelta64[ns]"),
    "number": ("int64 or float64", lambda d: d in ("int64", "float64")),
    "time_ns": (
        "datetime64[ns, UTC]",
        lambda d: isinstance(d, pd.DatetimeTZDtype) and str(d.tz) == "UTC" and d.unit == "ns",
    ),
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
    of = f"{info['analysis']} of " if info.get("analysis") else ""
    return f"{of}{info['kind']} from {info['stack']} ({scope}), loaded {info['loaded_at']}"


def _plain(value: Any) -> Any:
    """A scope value as JSON would hold it: times in ISO-8601, frames as their row count."""
    if isinstance(value, (pd.Timestamp, datetime)):
        return value.isoformat()
    if isinstance(value, pd.DataFrame):
        return f"{len(value)} rows"
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value] if len(value) <= 20 else f"{len(value)} values"
    return value
