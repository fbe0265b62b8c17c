"""The curated (columnar) archive: its key layout, row shapes, manifests and watermark.

One source of truth for the compaction step (``pik.services.compact``), the notebook kit's SQL
surface (``pik_nb.sql``), the Glue tables in ``template.yaml`` and the benchmark. Stdlib only.

S3 (the raw bucket; ``raw/`` stays the truth and is never rewritten):
- ``curated/attempts/source=S/event_type=T/event_date=D/part-<sha>.parquet``  every ingest attempt
- ``curated/events/source=S/event_type=T/event_date=D/part-<sha>.parquet``    one row per ACCEPTED event
- ``curated/manifests/source=S/event_type=T/event_date=D.json``  the partition's current files + ids
- ``curated/schemas/source=S/event_type=T.json``  the stream's typed payload columns (name -> kind)
- ``curated/watermark.json``  attempts *recorded* (written) before ``recorded_at`` are compacted
- ``curated/orphans/source=S/event_type=T/event_date=D.json``  a run that lost its lease wrote parts
  there: the next run collects them (``pik.services.compact``)

One stream (source, event_type) has one kind per payload column over time: a partition's kinds are
joined with the stream's recorded ones (``widen``: ``int`` -> ``float`` -> ``text``, ``bool`` ->
``text``; an integer outside int64 is ``text``, exactly), the stream schema is written first, and
every part of the stream is written with all of its columns (docs/adr/0305-one-schema-per-stream.md).

A part's name is the hash of its bytes, so the same rows give the same key; a partition's files
change by writing the new parts, then its manifest (the switch), then deleting the old parts.
Readers that follow manifests never see a half-written partition.

    >>> part_key(ATTEMPTS, "checkout", "order_placed", "2026-11-20", "ab12")
    'curated/attempts/source=checkout/event_type=order_placed/event_date=2026-11-20/part-ab12.parquet'
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any, NamedTuple

from .records import ACCEPTED, ATTEMPT_FIELDS

__all__ = [
    "PREFIX",
    "ATTEMPTS",
    "EVENTS",
    "LAYOUTS",
    "WATERMARK_KEY",
    "MANIFEST_PREFIX",
    "SCHEMA_PREFIX",
    "ORPHANS_PREFIX",
    "MANIFEST_SCHEMA",
    "WATERMARK_SCHEMA",
    "STREAM_SCHEMA",
    "INT64",
    "PARTITION_COLUMNS",
    "ATTEMPT_COLUMNS",
    "EVENT_COLUMNS",
    "PAYLOAD",
    "Partition",
    "partition_prefix",
    "part_key",
    "manifest_key",
    "orphans_key",
    "stream_manifest_prefix",
    "schema_key",
    "partition_of_manifest",
    "attempt_row",
    "event_row",
    "payload_fields",
    "value_kind",
    "widen",
    "payload_kinds",
    "accepted",
    "sort_key",
    "manifest_document",
    "stream_schema_document",
    "event_columns",
    "watermark_document",
    "watermark_of",
]

PREFIX = "curated"
ATTEMPTS, EVENTS = "attempts", "events"
LAYOUTS = (ATTEMPTS, EVENTS)
WATERMARK_KEY = f"{PREFIX}/watermark.json"
MANIFEST_PREFIX = f"{PREFIX}/manifests/"
SCHEMA_PREFIX = f"{PREFIX}/schemas/"
ORPHANS_PREFIX = f"{PREFIX}/orphans/"
MANIFEST_SCHEMA, WATERMARK_SCHEMA = "pik.curated.manifest.v1", "pik.curated.watermark.v2"
STREAM_SCHEMA = "pik.curated.stream-schema.v1"
INT64 = (-(2**63), 2**63 - 1)
PARTITION_COLUMNS = ("source", "event_type", "event_date")

#: Columns stored in an attempts part (the partition columns live in the path), with their kind
#: (``text``/``label``/``time``/``int``, as ``pik.core.records.ATTEMPT_FIELDS``).
ATTEMPT_COLUMNS = {name: kind for name, kind in ATTEMPT_FIELDS.items() if name not in PARTITION_COLUMNS}
#: Columns every events part holds; typed payload columns follow, then ``payload`` (JSON text).
EVENT_COLUMNS = {
    "event_id": "text",
    "entity_id": "text",
    "event_time": "time",
    "ingest_time": "time",
    "ingest_lag_ms": "int",
    "s3_key": "text",
    "payload_sha256": "text",
    "idempotency_key": "text",
}
PAYLOAD = "payload"
#: Payload fields are columns only under a name SQL can use without quoting.
_COLUMN_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")
_RESERVED = set(EVENT_COLUMNS) | set(PARTITION_COLUMNS) | {PAYLOAD}


class Partition(NamedTuple):
    """One (source, event_type, event_date) partition of both layouts."""

    source: str
    event_type: str
    event_date: str

    def path(self) -> str:
        return f"source={self.source}/event_type={self.event_type}/event_date={self.event_date}"


def partition_prefix(layout: str, partition: Partition) -> str:
    return f"{PREFIX}/{layout}/{partition.path()}/"


def part_key(layout: str, source: str, event_type: str, event_date: str, digest: str) -> str:
    return partition_prefix(layout, Partition(source, event_type, event_date)) + f"part-{digest}.parquet"


def manifest_key(partition: Partition) -> str:
    return f"{MANIFEST_PREFIX}{partition.path()}.json"


def orphans_key(partition: Partition) -> str:
    """Where a run that lost its lease says it left parts under ``partition``."""
    return f"{ORPHANS_PREFIX}{partition.path()}.json"


def stream_manifest_prefix(source: str, event_type: str) -> str:
    """Where the manifests of one stream's partitions live (one per day)."""
    return f"{MANIFEST_PREFIX}source={source}/event_type={event_type}/"


def schema_key(source: str, event_type: str) -> str:
    """The stream's schema document.

    >>> schema_key("checkout", "order_placed")
    'curated/schemas/source=checkout/event_type=order_placed.json'
    """
    return f"{SCHEMA_PREFIX}source={source}/event_type={event_type}.json"


def partition_of_manifest(key: str) -> Partition:
    """``partition_of_manifest(manifest_key(p)) == p``."""
    fields = dict(piece.split("=", 1) for piece in key[len(MANIFEST_PREFIX) : -len(".json")].split("/"))
    return Partition(fields["source"], fields["event_type"], fields["event_date"])


# --- rows ---------------------------------------------------------------------------------
def attempt_row(item: dict[str, Any]) -> dict[str, Any]:
    """An attempts row from an attempt item (``pik.core.records.attempt_item``)."""
    return {name: item.get(name) for name in ATTEMPT_COLUMNS}


def event_row(item: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    """An events row from the ACCEPTED attempt item and its raw object; the payload as canonical
    JSON text plus its top-level scalar fields (``payload_fields``)."""
    payload = raw["event"].get("payload")
    row = {name: item.get(name) for name in EVENT_COLUMNS}
    row[PAYLOAD] = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    row.update(payload_fields(payload))
    return row


def payload_fields(payload: Any) -> dict[str, Any]:
    """Top-level scalar fields of an object payload, under SQL-safe lower-case names.

    >>> payload_fields({"amount": 12.5, "Country": "DE", "items": [1], "source": "x", "ok": True})
    {'amount': 12.5, 'ok': True}
    """
    if not isinstance(payload, dict):
        return {}
    return {
        name: value
        for name, value in payload.items()
        if _COLUMN_NAME.match(name) and name not in _RESERVED and _scalar(value)
    }


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def value_kind(value: Any) -> str | None:
    """The column kind a payload scalar needs (None for null): an integer outside int64 is ``text``.

    >>> value_kind(True), value_kind(2**63 - 1), value_kind(2**63), value_kind(1e308), value_kind("x")
    ('bool', 'int', 'text', 'float', 'text')
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int" if INT64[0] <= value <= INT64[1] else "text"
    return "float" if isinstance(value, float) else "text"


def widen(a: str | None, b: str | None) -> str | None:
    """The narrowest kind holding both: ``int`` -> ``float`` -> ``text``, ``bool`` -> ``text``.
    Commutative and associative, so the order rows arrive in never changes a stream's kinds.

    >>> widen("int", "float"), widen("float", "int"), widen("bool", "int"), widen(None, "int")
    ('float', 'float', 'text', 'int')
    """
    if a is None or a == b:
        return b
    if b is None:
        return a
    return "float" if {a, b} == {"int", "float"} else "text"


def payload_kinds(rows: Iterable[dict[str, Any]], known: dict[str, str] | None = None) -> dict[str, str]:
    """Each payload column's kind over ``rows`` widened with the ``known`` kinds (the stream's
    recorded schema): ``bool``, ``int``, ``float`` or ``text``. Sorted by name, so parts are stable;
    a column only ever null is left out until a value names its kind.

    >>> payload_kinds([{"amount": 1, "country": "DE"}, {"amount": 2.5, "ok": None}])
    {'amount': 'float', 'country': 'text'}
    >>> payload_kinds([{"amount": 2**64}], {"amount": "int", "vip": "bool"})
    {'amount': 'text', 'vip': 'bool'}
    """
    kinds: dict[str, str | None] = dict(known or {})
    for row in rows:
        for name, value in row.items():
            if name not in EVENT_COLUMNS and name != PAYLOAD and name not in PARTITION_COLUMNS:
                kinds[name] = widen(kinds.get(name), value_kind(value))
    return {name: kind for name, kind in sorted(kinds.items()) if kind is not None}


def accepted(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [item for item in items if item.get("status") == ACCEPTED]


def sort_key(row: dict[str, Any]) -> tuple[Any, ...]:
    """Parts hold rows in (event_time, event_id, ingest_time, attempt_id) order: same rows, same bytes."""
    return (
        row.get("event_time") or "",
        row.get("event_id") or "",
        row.get("ingest_time") or "",
        row.get("attempt_id") or "",
    )


# --- manifests and watermark --------------------------------------------------------------
def manifest_document(
    partition: Partition,
    files: dict[str, list[str]],
    ids: dict[str, list[str]],
    columns: dict[str, dict[str, str]],
    compacted_at: str,
) -> dict[str, Any]:
    """The partition's current parts per layout, the ids each part holds (attempt ids in an
    attempts part, event ids in an events part), sorted, and each layout's columns (name -> kind),
    so a reader knows every part's schema without opening it."""
    return {
        "schema": MANIFEST_SCHEMA,
        **partition._asdict(),
        "compacted_at": compacted_at,
        "files": {layout: sorted(files.get(layout, [])) for layout in LAYOUTS},
        "ids": {key: sorted(ids[key]) for key in sorted(ids)},
        "columns": {layout: dict(columns.get(layout, {})) for layout in LAYOUTS},
    }


def stream_schema_document(
    source: str,
    event_type: str,
    columns: dict[str, str],
    updated_at: str,
    *,
    version: int = 0,
    days: dict[str, int] | None = None,
) -> dict[str, Any]:
    """The stream's payload columns (name -> kind), every events part of the stream has exactly
    these (after ``EVENT_COLUMNS``, before ``payload``); ``version`` counts widenings and ``days``
    maps each compacted day to the version its parts were written under (older ones are rewritten).

    >>> stream_schema_document("checkout", "order_placed", {"amount": "int"}, "t", days={"2026-11-20": 0})["days"]
    {'2026-11-20': 0}
    """
    return {
        "schema": STREAM_SCHEMA,
        "source": source,
        "event_type": event_type,
        "updated_at": updated_at,
        "columns": dict(sorted(columns.items())),
        "version": version,
        "days": dict(sorted((days or {}).items())),
    }


def event_columns(payload_columns: dict[str, str]) -> dict[str, str]:
    """An events part's columns: the fixed ones, the stream's payload columns, then ``payload``."""
    return {**EVENT_COLUMNS, **payload_columns, PAYLOAD: "text"}


def watermark_document(recorded_at: str, partitions: int, compacted_at: str) -> dict[str, Any]:
    return {
        "schema": WATERMARK_SCHEMA,
        "recorded_at": recorded_at,
        "partitions": partitions,
        "compacted_at": compacted_at,
    }


def watermark_of(document: dict[str, Any] | None) -> str | None:
    """The recorded-time watermark a watermark document holds; None when there is none yet, or
    when it is a v1 document (it followed arrival time, which late-recorded attempts precede: the
    next run starts again from every partition).

    >>> watermark_of(watermark_document("2026-11-20T08:00:00.000000Z", 3, "2026-11-20T08:01:00.000000Z"))
    '2026-11-20T08:00:00.000000Z'
    """
    if not document or document.get("schema") != WATERMARK_SCHEMA:
        return None
    return str(document["recorded_at"])
