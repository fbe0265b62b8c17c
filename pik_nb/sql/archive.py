"""The curated archive from the notebook side: run the compaction step, and read what it wrote
(manifests -> Arrow datasets) plus the rows past its watermark (from metadata and raw).

The same ``pik.services.compact.Compactor`` the scheduled Lambda runs, here wired to the stack's
clients; the layout is ``pik.core.curated``'s.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from pik import parquet
from pik.aws.archive import ArchiveBucket, CompactionLease, RecordedFeed
from pik.aws.dynamodb import EventIndex
from pik.aws.glue import GlueCatalog
from pik.aws.s3 import DocumentStore
from pik.core import curated, queries
from pik.core.records import ACCEPTED
from pik.core.timefmt import days_between, key_time, now
from pik.services.compact import Compactor

from .._errors import ScopeError
from .._times import Time, utc
from ..read.frames import ATTEMPT_COLUMNS, from_arrow_items, item_type
from ..read.objects import get_many, list_keys
from ..read.tables import gather, scan_segments

if TYPE_CHECKING:
    from ..read.stack import Stack

PARTITIONING = pa.schema([(name, pa.string()) for name in curated.PARTITION_COLUMNS])


#: kit.sql's fresh rows also ask the next hour's keys: a writer's clock may run a little ahead.
FRESH_CLOCK_SKEW = timedelta(minutes=5)


def compactor(stack: Stack, *, settle: str | timedelta = "60s") -> Compactor:
    """The compaction step on ``stack``'s clients; ``ScopeError`` for a negative ``settle``."""
    s3, dynamodb = stack.client("s3"), stack.client("dynamodb")
    bucket, table = stack.resources.raw_bucket_name, stack.resources.events_table_name
    try:
        delay = pd.Timedelta(settle).to_pytimedelta()
    except ValueError as exc:
        raise ScopeError(f"settle={settle!r}: not a duration (e.g. '60s')") from exc
    if delay < timedelta(0):
        raise ScopeError(
            f"settle={settle!r}: must be zero or more (rule: the watermark is now - settle; a "
            "negative settle puts it in the future and skips attempts recorded after the run)"
        )
    database = stack.resources.extra.get("athena_database")  # Athena's tables: register what is compacted
    return Compactor(
        index=EventIndex(table, client=dynamodb),
        documents=DocumentStore(bucket, client=s3),
        archive=ArchiveBucket(bucket, client=s3),
        feed=RecordedFeed(table, client=dynamodb, segments=1),
        lease=CompactionLease(table, client=dynamodb),
        encode=parquet.encode,
        decode=parquet.decode,
        now=now,
        settle=delay,
        holder=f"kit-{uuid.uuid4().hex[:12]}",
        catalog=GlueCatalog(database, client=stack.client("glue")) if database else None,
    )


def compact(
    stack: Stack,
    *,
    source: str | None = None,
    event_type: str | None = None,
    start: Time | None = None,
    end: Time | None = None,
    everything: bool = False,
    settle: str | timedelta = "60s",
) -> dict:
    """Compact partitions touched since the watermark (and advance it); or the partitions of
    ``source``/``event_type`` on the days of ``[start, end)``; or, ``everything=True``, every
    partition that has attempts. See ``Kit.compact``."""
    step = compactor(stack, settle=settle)
    if source or event_type or start is not None or end is not None:
        if not (source and event_type and start is not None and end is not None):
            raise ScopeError("compact a range with source=, event_type=, start= and end= together")
        return step.run([(source, event_type, day) for day in days_between(utc(start), utc(end))])
    return step.run(step.feed.partitions_all() if everything else None)


def watermark(stack: Stack) -> str | None:
    """The archive's watermark (key-time string): attempts recorded before it are compacted."""
    body = stack.documents.read(curated.WATERMARK_KEY)
    return curated.watermark_of(json.loads(body) if body else None)


@dataclass
class Parts:
    """The current parts of one layout, grouped by schema (name -> kind), with the partition base."""

    layout: str
    base: str
    groups: dict[tuple, list[str]] = field(default_factory=dict)

    def add(self, columns: dict[str, str], paths: Iterable[str]) -> None:
        self.groups.setdefault(tuple(columns.items()), []).extend(paths)


def manifests(stack: Stack, *, progress: bool = False) -> list[dict]:
    """Every partition's manifest (one GET each, on the stack's pool)."""
    keys = list_keys(stack, curated.MANIFEST_PREFIX)
    return [doc for doc in get_many(stack, keys, progress, "manifests", parse=json.loads) if doc is not None]


def current_parts(stack: Stack, *, progress: bool = False) -> dict[str, Parts]:
    """The parts the manifests list (never a part a rewrite is about to delete), per layout."""
    bucket = stack.resources.raw_bucket_name
    found = {layout: Parts(layout, f"{bucket}/{curated.PREFIX}/{layout}") for layout in curated.LAYOUTS}
    for manifest in manifests(stack, progress=progress):
        for layout in curated.LAYOUTS:
            files = manifest["files"][layout]
            if files:
                found[layout].add(manifest["columns"][layout], [f"{bucket}/{key}" for key in files])
    return found


def datasets(parts: Parts, filesystem: pafs.FileSystem) -> list[ds.Dataset]:
    """One Arrow dataset per schema group, with the partition columns from the Hive paths."""
    result = []
    for columns, paths in parts.groups.items():
        schema = parquet.schema(dict(columns))
        for name in curated.PARTITION_COLUMNS:
            schema = schema.append(pa.field(name, pa.string()))
        result.append(
            ds.dataset(
                paths,
                schema=schema,
                format="parquet",
                filesystem=filesystem,
                partitioning=ds.partitioning(PARTITIONING, flavor="hive"),
                partition_base_dir=parts.base,
            )
        )
    return result


def filesystem(stack: Stack) -> pafs.S3FileSystem:
    """pyarrow's S3 filesystem with the stack's credentials, at the endpoint boto3 resolved for S3."""
    credentials = stack.session.get_credentials().get_frozen_credentials()
    options: dict[str, Any] = {
        "access_key": credentials.access_key,
        "secret_key": credentials.secret_key,
        "session_token": credentials.token,
        "region": stack.session.region_name or "us-east-1",
    }
    endpoint = stack.endpoint("s3")  # the local stack's, or AWS_ENDPOINT_URL_S3 / a profile's (SDK rules)
    if endpoint:
        scheme, _, host = endpoint.partition("://")
        options.update(endpoint_override=host.rstrip("/"), scheme=scheme, allow_bucket_creation=False)
    return pafs.S3FileSystem(**options)


# --- rows past the watermark --------------------------------------------------------------
def fresh_attempts(stack: Stack, since: str | None) -> pa.Table:
    """Attempts *recorded* at or after ``since`` (every attempt when None), whatever their arrival
    time, from the events table's recorded index (a scan when None), with the attempts view's columns."""
    table = stack.resources.events_table_name
    if since is None:
        segments = scan_segments(stack)
        requests = [("Scan", queries.attempts_scan(table, segment, segments)) for segment in range(segments)]
    else:
        buckets = queries.recorded_buckets(since, key_time(now() + FRESH_CLOCK_SKEW))
        requests = [("Query", queries.recorded_since(table, bucket, since)) for bucket in buckets]
    shape = item_type(ATTEMPT_COLUMNS)
    pages = gather(stack, requests, False, "attempts", lambda *request: stack.reader.arrow_pages(*request, shape))
    frame = from_arrow_items(pa.chunked_array(pages, shape), ATTEMPT_COLUMNS)
    columns = {**curated.ATTEMPT_COLUMNS, **{name: "text" for name in curated.PARTITION_COLUMNS}}
    rows = frame.astype({name: "object" for name in ("status", "source", "event_type")}).to_dict("records")
    return parquet.table([_key_times(row) for row in rows], columns)


def fresh_events(stack: Stack, attempts: pa.Table) -> pa.Table:
    """The ACCEPTED rows of ``attempts`` joined with their raw objects, as events-view rows."""
    firsts = [row for row in attempts.to_pylist() if row["status"] == ACCEPTED]
    raws = get_many(stack, [row["s3_key"] for row in firsts], False, "raw", parse=json.loads)
    rows = []
    for item, raw in zip(firsts, raws, strict=True):
        if raw is None:
            continue  # metadata without raw: pik reconcile reports it
        row = curated.event_row(_key_times(item), raw)
        rows.append({**row, **{name: item[name] for name in curated.PARTITION_COLUMNS}})
    columns = {
        **curated.EVENT_COLUMNS,
        **curated.payload_kinds(rows),
        curated.PAYLOAD: "text",
        **{name: "text" for name in curated.PARTITION_COLUMNS},
    }
    return parquet.table(rows, columns)


def _key_times(row: dict) -> dict:
    """A frame row back to item values: times as key-time strings, missing values as None."""
    return {
        name: (
            None
            if _missing(value)
            else value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            if isinstance(value, datetime)
            else value
        )
        for name, value in row.items()
    }


def _missing(value: Any) -> bool:
    return value is None or value is pd.NaT or (isinstance(value, float) and value != value)
