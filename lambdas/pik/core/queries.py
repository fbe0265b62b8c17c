"""One request builder per index read: low-level DynamoDB ``Query``/``Scan`` request dicts.

Pure functions, stdlib only, values as typed AttributeValues (``{"S": ...}``), so the same
request serves the Lambdas' adapter (``pik.aws.dynamodb``, which follows the pages) and the
notebook kit's fast reader. ``limit`` becomes the request's ``Limit`` (items per page).

    >>> entity_window("events", "user-1", "2026-11-20T00", "2026-11-21T00")["KeyConditionExpression"]
    'ent_pk = :p AND ent_sk BETWEEN :a AND :b'

Reads and the keys they use:
- ``entity_window``    events table, entity index: one entity, event time in ``[low, high)``
- ``stream_day``       events table, arrival (or lateness) index: one source/type, one event day
- ``recorded_since``   events table, recorded index: one hour-shard, attempts recorded at or after a time
- ``attempts_scan``    events table, one segment of a parallel scan of attempt items
- ``gates_scan``       events table, one segment of a parallel scan of dedup gates (event id, raw key)
- ``event_items``      events table: one event's partition, its gate and every attempt
- ``aggregate_days``   aggregates table: one entity's versions for a day range
- ``replay_runs``      replay runs table, created-at index: newest first, optional window

``entity_cursor``/``stream_cursor`` give the key attributes that resume a query after an item.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from . import keys
from .records import ATTEMPT_ITEM

__all__ = [
    "ENTITY_WINDOW",
    "entity_window",
    "stream_day",
    "recorded_since",
    "recorded_buckets",
    "attempts_scan",
    "gates_scan",
    "event_items",
    "aggregate_days",
    "replay_runs",
    "entity_cursor",
    "stream_cursor",
    "arrivals_since",
]

ENTITY_WINDOW = "ent_pk = :p AND ent_sk BETWEEN :a AND :b"


def entity_window(table: str, entity_id: str, low: str, high: str, *, limit: int | None = None) -> dict[str, Any]:
    """Attempts of ``entity_id`` by event time; ``low``/``high`` are key-time strings.

    ``ent_sk`` is ``"<event_time>#<event_id>#<attempt_id>"``, so ``BETWEEN low AND high`` keeps
    ``low <= event_time < high`` (an item at exactly ``high`` sorts after it).
    """
    return _request(
        table, keys.ENTITY_INDEX, ENTITY_WINDOW, {":p": keys.entity_pk(entity_id), ":a": low, ":b": high}, limit=limit
    )


def stream_day(
    table: str, source: str, event_type: str, day: str, *, lateness: bool = False, limit: int | None = None
) -> dict[str, Any]:
    """Attempts of one source/type whose event date is ``day``, in arrival (or lateness) order."""
    index = keys.LATENESS_INDEX if lateness else keys.ARRIVAL_INDEX
    return _request(table, index, "std_pk = :p", {":p": keys.source_type_day_pk(source, event_type, day)}, limit=limit)


def recorded_since(table: str, bucket: str, since: str, *, limit: int | None = None) -> dict[str, Any]:
    """Attempts of one recorded-index key (``keys.recorded_bucket``: an hour and a shard) written at
    or after the key-time ``since``, in recorded order."""
    return _request(
        table, keys.RECORDED_INDEX, "rec_pk = :p AND rec_sk >= :w", {":p": bucket, ":w": since}, limit=limit
    )


def recorded_buckets(since: str, until: str) -> list[str]:
    """Every recorded-index key (hour x shard) from the hour of ``since`` to the hour of ``until``.

    >>> len(recorded_buckets("2026-11-20T08:59:00.000000Z", "2026-11-20T09:00:00.000000Z"))
    32
    """
    hour, last = datetime.strptime(since[:13], "%Y-%m-%dT%H"), datetime.strptime(until[:13], "%Y-%m-%dT%H")
    buckets = []
    while hour <= last:
        text = hour.strftime("%Y-%m-%dT%H")
        buckets += [keys.recorded_bucket(text, shard) for shard in range(keys.RECORDED_SHARDS)]
        hour += timedelta(hours=1)
    return buckets


def attempts_scan(
    table: str, segment: int, total_segments: int, *, limit: int | None = None, since: str | None = None
) -> dict[str, Any]:
    """Segment ``segment`` of ``total_segments`` of a parallel scan, attempt items only (that
    arrived at or after the key-time ``since``, when given)."""
    request: dict[str, Any] = {
        "TableName": table,
        "Segment": segment,
        "TotalSegments": total_segments,
        "FilterExpression": "item_type = :t",
        "ExpressionAttributeValues": {":t": {"S": ATTEMPT_ITEM}},
    }
    if since is not None:
        request["FilterExpression"] += " AND ingest_time >= :w"
        request["ExpressionAttributeValues"][":w"] = {"S": since}
    return _limited(request, limit)


def gates_scan(table: str, segment: int, total_segments: int, *, limit: int | None = None) -> dict[str, Any]:
    """Segment ``segment`` of ``total_segments`` of a parallel scan of dedup gates: event id and raw key."""
    request: dict[str, Any] = {
        "TableName": table,
        "Segment": segment,
        "TotalSegments": total_segments,
        "FilterExpression": "sk = :m",
        "ProjectionExpression": "event_id, s3_key",
        "ExpressionAttributeValues": {":m": {"S": keys.META_SK}},
    }
    return _limited(request, limit)


def event_items(table: str, event_id: str) -> dict[str, Any]:
    """Every item of one event: the dedup gate (``META``) and one item per ingest attempt."""
    return _request(table, None, "pk = :p", {":p": keys.event_pk(event_id)}, limit=None)


def aggregate_days(
    table: str, entity_id: str, start_day: str, end_day: str, *, limit: int | None = None
) -> dict[str, Any]:
    """Every version of every metric of ``entity_id`` for days ``start_day <= day <= end_day``."""
    return _request(
        table,
        None,
        "pk = :p AND sk BETWEEN :a AND :b",
        {":p": keys.aggregate_pk(entity_id), ":a": start_day, ":b": end_day + "~"},
        limit=limit,
    )


def replay_runs(
    table: str, low: str | None = None, high: str | None = None, *, limit: int | None = None
) -> dict[str, Any]:
    """Replay runs newest first, created in ``[low, high]`` when given (key-time strings)."""
    condition, values = "runs_pk = :p", {":p": keys.RUNS_GSI_PK}
    if low is not None and high is not None:
        condition, values[":a"], values[":b"] = condition + " AND created_at BETWEEN :a AND :b", low, high
    elif low is not None:
        condition, values[":a"] = condition + " AND created_at >= :a", low
    elif high is not None:
        condition, values[":b"] = condition + " AND created_at <= :b", high
    return _request(table, keys.RUNS_INDEX, condition, values, limit=limit, newest_first=True)


def entity_cursor(item: dict[str, Any]) -> dict[str, Any]:
    """Where an ``entity_window`` query resumes after ``item``."""
    return {k: item[k] for k in ("pk", "sk", "ent_pk", "ent_sk")}


def stream_cursor(item: dict[str, Any], *, lateness: bool = False) -> dict[str, Any]:
    """Where a ``stream_day`` query resumes after ``item``."""
    return {k: item[k] for k in ("pk", "sk", "std_pk", "lateness_sk" if lateness else "arrival_sk")}


def _request(
    table: str,
    index: str | None,
    condition: str,
    values: dict[str, str],
    *,
    limit: int | None,
    newest_first: bool = False,
) -> dict[str, Any]:
    request: dict[str, Any] = {"TableName": table}
    if index:
        request["IndexName"] = index
    request["KeyConditionExpression"] = condition
    request["ExpressionAttributeValues"] = {name: {"S": value} for name, value in values.items()}
    if newest_first:
        request["ScanIndexForward"] = False
    return _limited(request, limit)


def _limited(request: dict[str, Any], limit: int | None) -> dict[str, Any]:
    return {**request, "Limit": limit} if limit else request


def arrivals_since(table: str, ingest_time_key: str, segment: int, total_segments: int) -> dict[str, Any]:
    """Segment of a parallel scan: the partition (source, type, event date) of every attempt that
    arrived at or after ``ingest_time_key`` (the compaction feed; a filter, so it reads the table)."""
    return {
        "TableName": table,
        "Segment": segment,
        "TotalSegments": total_segments,
        "FilterExpression": "item_type = :t AND ingest_time >= :w",
        "ProjectionExpression": "#s, event_type, event_date",
        "ExpressionAttributeNames": {"#s": "source"},
        "ExpressionAttributeValues": {":t": {"S": ATTEMPT_ITEM}, ":w": {"S": ingest_time_key}},
    }
