"""S3 readers: raw objects (hash-checked), the Hive-partitioned raw layout, quarantine and manifests.

Objects are fetched on a bounded thread pool (``Stack.workers`` threads, the S3 client pooled to
match), so many 20 ms GETs overlap while memory holds only the parsed documents.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.json as pa_json
from botocore.exceptions import ClientError
from tqdm.auto import tqdm

from pik.core import identity, keys
from pik.core.errors import StorageError

from .._errors import KitError
from .._times import days_back
from .frames import RAW_DATASET_COLUMNS, from_records

if TYPE_CHECKING:
    from .stack import Stack


def document(stack: Stack, key: str) -> dict | None:
    """One JSON document from the raw bucket, or None when the key does not exist."""
    return json.loads(body) if (body := stack.documents.read(key)) is not None else None


def get_many(
    stack: Stack, keys_: list[str], progress: bool, what: str, parse: Callable[[bytes], Any] | None = None
) -> list[Any]:
    """Bodies of ``keys_`` in order (None where missing), fetched on the stack's bounded pool;
    ``parse`` runs in the worker so only parsed documents are kept, never all the bytes too."""
    bar = tqdm(total=len(keys_), desc=what, unit=" objects", disable=None if progress else True, delay=1.0)

    def one(key: str) -> Any:
        body = stack.documents.read(key)
        bar.update()
        return parse(body) if parse is not None and body is not None else body

    with ThreadPoolExecutor(max_workers=max(1, min(stack.workers, len(keys_)))) as pool:
        bodies = list(pool.map(one, keys_))
    bar.close()
    return bodies


def list_keys(stack: Stack, prefix: str) -> list[str]:
    pages = (
        stack.client("s3")
        .get_paginator("list_objects_v2")
        .paginate(Bucket=stack.resources.raw_bucket_name, Prefix=prefix)
    )
    try:
        return [obj["Key"] for page in pages for obj in page.get("Contents", [])]
    except ClientError as exc:
        raise StorageError(f"s3 list {prefix}: {exc}") from exc


def fetch(stack: Stack, events: pd.DataFrame, *, progress: bool) -> pd.DataFrame:
    """One row per distinct ``s3_key`` of ``events``; see ``Kit.raw``."""
    wanted = events.drop_duplicates("s3_key")[["s3_key", "event_id", "payload_sha256"]].reset_index(drop=True)
    docs = get_many(stack, wanted["s3_key"].tolist(), progress, "raw objects", json.loads)
    return raw_frame(wanted, docs)


def raw_frame(wanted: pd.DataFrame, docs: list[dict | None]) -> pd.DataFrame:
    """Envelope, event fields and flattened payload per document, with the hash check."""
    present = [doc or {"envelope": {}, "event": {}} for doc in docs]
    payloads = [doc["event"].get("payload") for doc in present]
    stored = [identity.payload_sha256(p) if doc is not None else None for p, doc in zip(payloads, docs, strict=True)]
    frame = pd.DataFrame(
        {
            "s3_key": wanted["s3_key"].astype("str"),
            "event_id": wanted["event_id"].astype("str"),
            "found": [doc is not None for doc in docs],
            "recorded_sha256": wanted["payload_sha256"].astype("str"),
            "stored_sha256": pd.array(stored, dtype="str"),
            "ingest_time": _times([d["envelope"].get("ingest_time") for d in present]),
            "request_id": pd.array([d["envelope"].get("request_id") for d in present], dtype="str"),
            "attempt_id": pd.array([d["envelope"].get("attempt_id") for d in present], dtype="str"),
            "entity_id": pd.array([d["event"].get("entity_id") for d in present], dtype="str"),
            "event_time": _times([d["event"].get("event_time") for d in present]),
        }
    )
    frame["hash_ok"] = (
        (frame["found"] & (frame["stored_sha256"] == frame["recorded_sha256"])).fillna(False).astype(bool)
    )
    return pd.concat([frame, flatten_payloads(payloads)], axis=1)


def flatten_payloads(payloads: list[Any]) -> pd.DataFrame:
    """``payload.<field>`` columns (dotted for nested objects); arrays stay whole in ``payload``."""
    flat = pd.json_normalize([p if isinstance(p, dict) else {} for p in payloads], sep=".")
    flat = flat.add_prefix("payload.").set_axis(range(len(payloads)))
    if any(p is not None and not isinstance(p, dict) for p in payloads):
        flat["payload"] = pd.Series([p if not isinstance(p, dict) else None for p in payloads], dtype=object)
    return flat


def partition_prefix(source: str, event_type: str, day: str) -> str:
    """``raw/source=S/event_type=T/event_date=D/``, from the one key layout."""
    return keys.raw_key(source, event_type, day, "_").rsplit("/", 1)[0] + "/"


def dataset(stack: Stack, *, source: str, event_type: str, days: int | Iterable[str], progress: bool) -> pd.DataFrame:
    """Every raw object of the partitions, parsed in bulk by pyarrow's JSON reader; see ``Kit.raw_dataset``."""
    dates = days_back(days) if isinstance(days, int) else list(days)
    listed = [(key, day) for day in dates for key in list_keys(stack, partition_prefix(source, event_type, day))]
    bodies = get_many(stack, [key for key, _ in listed], progress, "raw dataset")
    listed = [pair for pair, body in zip(listed, bodies, strict=True) if body is not None]  # deleted since listing
    lines = b"\n".join(body.strip() for body in bodies if body is not None)
    try:
        table = (
            None
            if not lines
            else pa_json.read_json(
                pa.py_buffer(lines), read_options=pa_json.ReadOptions(block_size=max(1 << 20, len(lines) + 1))
            )
        )
    except pa.ArrowInvalid as exc:
        raise KitError(
            f"raw objects of {source}/{event_type} disagree on payload types; use kit.raw(events): {exc}"
        ) from exc
    empty = {k: v for k, v in RAW_DATASET_COLUMNS.items() if k not in ("s3_key", "event_date", "source", "event_type")}
    frame = _flatten(table).to_pandas() if table is not None else from_records([], empty)
    frame.insert(0, "s3_key", pd.array([key for key, _ in listed], dtype="str"))
    frame.insert(1, "event_date", pd.Categorical([day for _, day in listed]))
    frame.insert(2, "source", pd.Categorical([source] * len(listed)))
    frame.insert(3, "event_type", pd.Categorical([event_type] * len(listed)))
    for column in ("ingest_time", "event_time"):
        if column in frame:
            frame[column] = _times(frame[column])
    return frame


def _times(values: Any, errors: str = "raise") -> Any:
    """ISO-8601 strings (None: NaT) as ``datetime64[us, UTC]``, the unit every pik frame has (pandas
    would infer seconds from ``...T10:00:00Z``)."""
    return pd.to_datetime(values, utc=True, format="ISO8601", errors=errors).astype("datetime64[us, UTC]")


def _flatten(table: pa.Table) -> pa.Table:
    """Structs to dotted columns: ``envelope.event_id`` -> ``event_id``, ``event.payload.x`` -> ``payload.x``."""
    while any(pa.types.is_struct(field.type) for field in table.schema):
        table = table.flatten()
    names = [name.removeprefix("envelope.").removeprefix("event.") for name in table.column_names]
    table = table.rename_columns(names)
    return table.drop_columns([n for n in ("source", "event_type") if n in table.column_names])


def rejected(stack: Stack, *, days: int | Iterable[str], progress: bool) -> pd.DataFrame:
    """Quarantined requests of ``days`` (UTC arrival dates); see ``Kit.rejected``."""
    dates = days_back(days) if isinstance(days, int) else list(days)
    listed = [
        key for day in dates for key in list_keys(stack, keys.rejected_key(day + "T", "_").rsplit("/", 1)[0] + "/")
    ]
    fetched = get_many(stack, listed, progress, "rejected", json.loads)
    listed = [key for key, doc in zip(listed, fetched, strict=True) if doc is not None]  # deleted since listing
    docs = [doc for doc in fetched if doc is not None]
    bodies = [_readable(doc.get("body", "")) for doc in docs]
    return pd.DataFrame(
        {
            "s3_key": pd.array(listed, dtype="str"),
            "ingest_time": _times([d["ingest_time"] for d in docs]),
            "attempt_id": pd.array([d["attempt_id"] for d in docs], dtype="str"),
            "request_id": pd.array([d["request_id"] for d in docs], dtype="str"),
            "rules": pd.array([", ".join(f"{e['field']}:{e['rule']}" for e in d["errors"]) for d in docs], dtype="str"),
            "body_bytes": pd.array([d["body_bytes"] for d in docs], dtype="int64"),
            "truncated": pd.array([d["truncated"] for d in docs], dtype=bool),
            "source": pd.Categorical([b.get("source") for b in bodies]),
            "event_type": pd.Categorical([b.get("event_type") for b in bodies]),
            "entity_id": pd.array([b.get("entity_id") for b in bodies], dtype="str"),
            "event_time": _times([b.get("event_time") for b in bodies], errors="coerce"),
        }
    )


def _readable(body: str) -> dict:
    """The fields of a rejected body when it is a JSON object with string fields; else ``{}``."""
    try:
        value = json.loads(body)
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {
        k: v
        for k, v in value.items()
        if k in ("source", "event_type", "entity_id", "event_time") and isinstance(v, str)
    }
