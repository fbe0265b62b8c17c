"""Loaders for the metadata tables: attempts through the indexes, aggregate versions, replay runs."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Callable, Iterable, Sized

import pandas as pd
import pyarrow as pa
from tqdm.auto import tqdm

from pik.aws.dynamodb import AggregateStore, Table
from pik.core import keys
from pik.core.timefmt import days_between, key_time

from .errors import ScopeError
from .frames import AGGREGATE_COLUMNS, ATTEMPT_COLUMNS, RUN_COLUMNS, from_arrow_items, from_records, item_type
from .times import time_slices, utc

if TYPE_CHECKING:
    from .kit import Kit, Time

SCAN_SEGMENTS = 8
MAX_SLICES = 64  # parallel queries per entity window; more only adds requests
Request = tuple[str, dict]  # (operation, request body)


def events(kit: "Kit", *, entity_id: str | None, source: str | None, event_type: str | None,
           start: "Time | None", end: "Time | None", allow_scan: bool, page_size: int | None,
           progress: bool) -> pd.DataFrame:
    """Attempts in scope: per-entity windows cut into slices of about a day, streams per UTC day
    (the index partition), queried in parallel; see ``Kit.events``."""
    if entity_id is None and not (source and event_type) and not allow_scan:
        raise ScopeError("give entity_id=..., or source=... and event_type=..., with start and end "
                         "(or allow_scan=True to read the whole table)")
    low, high = (utc(start) if start is not None else None), (utc(end) if end is not None else None)
    scoped = entity_id is not None or bool(source)
    if (low is None) != (high is None) or (scoped and low is None) or (low is not None and not low < high):
        raise ScopeError("start and end are required, with start < end")
    table = kit.resources.events_table_name
    if entity_id is not None:
        requests = [_entity_query(table, entity_id, a, b, page_size) for a, b in time_slices(low, high, MAX_SLICES)]
    elif source:
        requests = [_stream_query(table, source, event_type, day, page_size) for day in days_between(low, high)]
    else:
        requests = [_scan(table, segment, page_size) for segment in range(SCAN_SEGMENTS)]
    shape = item_type(ATTEMPT_COLUMNS)
    pages = gather(kit, requests, progress, "attempts", lambda *request: kit.reader.arrow_pages(*request, shape))
    frame = from_arrow_items(pa.chunked_array(pages, shape), ATTEMPT_COLUMNS)
    if low is not None:
        frame = frame[(frame["event_time"] >= low) & (frame["event_time"] < high)]
    return frame.sort_values(["event_time", "ingest_time"], kind="stable").reset_index(drop=True)


def gather(kit: "Kit", requests: list[Request], progress: bool, what: str,
           pages: Callable[..., Iterable[Sized]] | None = None) -> list:
    """Run every request (all pages each) on the kit's thread pool; the pages, in request order.

    ``pages`` reads one request's pages (default ``kit.reader.pages``: lists of item dicts).
    """
    bar = tqdm(desc=what, unit=" items", disable=not progress, delay=1.0)
    read = pages or kit.reader.pages

    def run(request: Request) -> list:
        got = []
        for page in read(*request):
            got.append(page)
            bar.update(len(page))
        return got

    with ThreadPoolExecutor(max_workers=max(1, min(kit.workers, len(requests)))) as pool:
        parts = list(pool.map(run, requests))
    bar.close()
    return [page for part in parts for page in part]


def items(pages: list[list[dict]]) -> list[dict]:
    return [item for page in pages for item in page]


def _entity_query(table: str, entity_id: str, low: str, high: str, page_size: int | None) -> Request:
    # ent_sk is "<event_time>#...": BETWEEN low AND high keeps event_time in [low, high).
    return "Query", _paged({
        "TableName": table, "IndexName": keys.ENTITY_INDEX,
        "KeyConditionExpression": "ent_pk = :p AND ent_sk BETWEEN :a AND :b",
        "ExpressionAttributeValues": {":p": {"S": keys.entity_pk(entity_id)}, ":a": {"S": low}, ":b": {"S": high}},
    }, page_size)


def _stream_query(table: str, source: str, event_type: str, day: str, page_size: int | None) -> Request:
    return "Query", _paged({
        "TableName": table, "IndexName": keys.ARRIVAL_INDEX, "KeyConditionExpression": "std_pk = :p",
        "ExpressionAttributeValues": {":p": {"S": keys.source_type_day_pk(source, event_type, day)}},
    }, page_size)


def _scan(table: str, segment: int, page_size: int | None) -> Request:
    return "Scan", _paged({
        "TableName": table, "Segment": segment, "TotalSegments": SCAN_SEGMENTS,
        "FilterExpression": "item_type = :t", "ExpressionAttributeValues": {":t": {"S": "attempt"}},
    }, page_size)


def _paged(request: dict, page_size: int | None) -> dict:
    return {**request, "Limit": page_size} if page_size else request


def aggregates(kit: "Kit", *, entity_id: str, start: "Time", end: "Time", metric: str | None) -> pd.DataFrame:
    """Every version for the UTC days touched by ``[start, end)``; see ``Kit.aggregates``."""
    days = days_between(utc(start), utc(end))
    store = AggregateStore(kit.resources.aggregates_table_name, client=kit.client("dynamodb"))
    rows = [row for row in store.versions(entity_id, days[0], days[-1])
            if row["day"] in days and (metric is None or row["metric"] == metric)]
    frame = from_records(rows, AGGREGATE_COLUMNS)
    return frame.sort_values(["day", "metric", "version"], kind="stable").reset_index(drop=True)


def replays(kit: "Kit", *, start: "Time | None", end: "Time | None") -> pd.DataFrame:
    """Replay runs from the runs index, newest first; see ``Kit.replays``."""
    table = Table(kit.resources.replays_table_name, client=kit.client("dynamodb"))
    condition, values = "runs_pk = :p", {":p": keys.RUNS_GSI_PK}
    if start is not None or end is not None:
        condition += " AND created_at BETWEEN :a AND :b"
        values[":a"] = key_time(utc(start)) if start is not None else ""
        values[":b"] = key_time(utc(end)) if end is not None else "~"
    runs = [_flat_run(run) for run in table.query(condition, values, index=keys.RUNS_INDEX, forward=False)]
    return from_records(runs, RUN_COLUMNS)


def _flat_run(run: dict) -> dict:
    request = run.get("request") or {}
    scope = {name: request.get(name) for name in ("entity_id", "source", "event_type", "start", "end")}
    return {**run, **scope, "include_duplicates": request.get("include_duplicates", False)}
