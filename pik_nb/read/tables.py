"""Loaders for the metadata tables: attempts through the indexes, aggregate versions, replay runs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sized
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
from tqdm.auto import tqdm

from pik.aws.dynamodb import AggregateStore, Table
from pik.core import queries
from pik.core.targets import target_label
from pik.core.timefmt import days_between, key_time

from .._errors import ScopeError
from .._times import time_slices, utc
from .frames import AGGREGATE_COLUMNS, ATTEMPT_COLUMNS, RUN_COLUMNS, from_arrow_items, from_records, item_type

if TYPE_CHECKING:
    from .._times import Time
    from .stack import Stack

SCAN_SEGMENTS = 8
MAX_SLICES = 64  # parallel queries per entity window; more only adds requests
Request = tuple[str, dict]  # (operation, request body)


def events(
    stack: Stack,
    *,
    entity_id: str | None = None,
    source: str | None = None,
    event_type: str | None = None,
    start: Time | None = None,
    end: Time | None = None,
    allow_scan: bool = False,
    page_size: int | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Attempts in scope: streams per UTC day (the index partition); on AWS, entity windows cut into
    slices of about a day and scans into segments, all queried in parallel; see ``Kit.events``."""
    if entity_id is None and not (source and event_type) and not allow_scan:
        raise ScopeError(
            "give entity_id=..., or source=... and event_type=..., with start and end "
            "(or allow_scan=True to read the whole table)"
        )
    low, high = (utc(start) if start is not None else None), (utc(end) if end is not None else None)
    scoped = entity_id is not None or bool(source)
    if (low is None) != (high is None) or (scoped and low is None) or (low is not None and not low < high):
        raise ScopeError("start and end are required, with start < end")
    table = stack.resources.events_table_name
    if entity_id is not None:
        slices = time_slices(low, high, MAX_SLICES if stack.fan_out > 1 else 1)
        requests = [("Query", queries.entity_window(table, entity_id, a, b, limit=page_size)) for a, b in slices]
    elif source:
        requests = [
            ("Query", queries.stream_day(table, source, event_type, day, limit=page_size))
            for day in days_between(low, high)
        ]
    else:
        segments = scan_segments(stack)
        requests = [
            ("Scan", queries.attempts_scan(table, segment, segments, limit=page_size)) for segment in range(segments)
        ]
    shape = item_type(ATTEMPT_COLUMNS)
    pages = gather(stack, requests, progress, "attempts", lambda *request: stack.reader.arrow_pages(*request, shape))
    frame = from_arrow_items(pa.chunked_array(pages, shape), ATTEMPT_COLUMNS)
    if low is not None:
        frame = frame[(frame["event_time"] >= low) & (frame["event_time"] < high)]
    return frame.sort_values(["event_time", "ingest_time"], kind="stable").reset_index(drop=True)


def gather(
    stack: Stack,
    requests: list[Request],
    progress: bool,
    what: str,
    pages: Callable[..., Iterable[Sized]] | None = None,
) -> list:
    """Run every request (all pages each) on the stack's thread pool; the pages, in request order.

    ``pages`` reads one request's pages (default ``stack.reader.pages``: lists of item dicts).
    """
    bar = tqdm(desc=what, unit=" items", disable=None if progress else True, delay=1.0)
    read = pages or stack.reader.pages

    def run(request: Request) -> list:
        got = []
        for page in read(*request):
            got.append(page)
            bar.update(len(page))
        return got

    with ThreadPoolExecutor(max_workers=max(1, min(stack.workers, len(requests)))) as pool:
        parts = list(pool.map(run, requests))
    bar.close()
    return [page for part in parts for page in part]


def items(pages: list[list[dict]]) -> list[dict]:
    return [item for page in pages for item in page]


def scan_segments(stack: Stack) -> int:
    """Parallel scan segments worth reading: ``SCAN_SEGMENTS`` on AWS, one on a local endpoint."""
    return min(SCAN_SEGMENTS, stack.fan_out)


def aggregates(stack: Stack, *, entity_id: str, start: Time, end: Time, metric: str | None = None) -> pd.DataFrame:
    """Every version for the UTC days touched by ``[start, end)``; see ``Kit.aggregates``."""
    days = days_between(utc(start), utc(end))
    store = AggregateStore(stack.resources.aggregates_table_name, client=stack.client("dynamodb"))
    rows = [
        row
        for row in store.versions(entity_id, days[0], days[-1])
        if row["day"] in days and (metric is None or row["metric"] == metric)
    ]
    frame = from_records(rows, AGGREGATE_COLUMNS)
    return frame.sort_values(["day", "metric", "version"], kind="stable").reset_index(drop=True)


def replays(stack: Stack, *, start: Time | None = None, end: Time | None = None) -> pd.DataFrame:
    """Replay runs from the runs index, newest first; see ``Kit.replays``."""
    table = Table(stack.resources.replays_table_name, client=stack.client("dynamodb"))
    request = queries.replay_runs(
        table.name, key_time(utc(start)) if start is not None else None, key_time(utc(end)) if end is not None else None
    )
    runs = [_flat_run(run) for run in table.read(request)]
    return from_records(runs, RUN_COLUMNS)


def _flat_run(run: dict) -> dict:
    request = run.get("request") or {}
    scope = {name: request.get(name) for name in ("entity_id", "source", "event_type", "start", "end")}
    return {
        **run,
        **scope,
        "include_duplicates": request.get("include_duplicates", False),
        "target": target_label(request.get("target")),
        "rate_per_second": request.get("rate_per_second"),
        "event_ids_count": request.get("event_ids_count"),
    }
