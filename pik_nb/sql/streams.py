"""What the stack holds, per stream, through SQL (``pik status``, ``kit.status()["streams"]``): the
query text (``query``: one text, DuckDB and Athena spell it alike). Its answer is shown as the
engine gives it (one record per stream), so it has no typing of its own.

    >>> print(query().splitlines()[1])
    SELECT source, event_type, count(*) AS attempts,
"""

from __future__ import annotations

from pik.core.records import ACCEPTED, CONFLICT, DUPLICATE


def query() -> str:
    """What the stack holds, per stream: attempts, first arrivals (events), duplicates, conflicts,
    entities and the oldest and newest arrival (what ``pik status`` shows)."""
    return f"""
SELECT source, event_type, count(*) AS attempts,
       sum(CASE WHEN status = '{ACCEPTED}' THEN 1 ELSE 0 END) AS events,
       sum(CASE WHEN status = '{DUPLICATE}' THEN 1 ELSE 0 END) AS duplicates,
       sum(CASE WHEN status = '{CONFLICT}' THEN 1 ELSE 0 END) AS conflicts,
       count(DISTINCT entity_id) AS entities, min(event_time) AS first_event_time,
       max(event_time) AS last_event_time, max(ingest_time) AS newest_arrival
FROM attempts GROUP BY source, event_type ORDER BY source, event_type"""
