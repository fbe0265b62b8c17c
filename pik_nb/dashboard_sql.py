"""``explain_dashboard``'s SQL over the archive's ``attempts`` and ``events`` views: the cells (the
bulk of the work, pushed into the engine) and the arrivals behind one window.

Written once for DuckDB and Athena (Trino): only constructs both accept (``date_trunc``,
``date_diff('second', ...)``, ``INTERVAL '1' DAY``, ``CAST(... AS DOUBLE)``), no dialect switch needed.
Windows of one day or one hour (``date_trunc``); other lengths go through the in-memory path.

    >>> print(cells("checkout", "order_placed", None, "2026-11-20", "2026-11-27")[:30])
    <BLANKLINE>
    WITH a0 AS (
      SELECT status
"""

from __future__ import annotations

import re

import pandas as pd

from pik.core.records import ACCEPTED, CONFLICT, DUPLICATE

from .queries_sql import literal, scope
from .times import Time, utc

#: Windows the SQL path groups by, as ``date_trunc`` units and SQL intervals.
UNITS = {pd.Timedelta(days=1): ("day", "INTERVAL '1' DAY"),
         pd.Timedelta(hours=1): ("hour", "INTERVAL '1' HOUR")}
#: How far outside the dashboard's windows an arrival's event time may lie and still arrive inside them
#: (late arrivals dated before, events dated ahead by clock skew after).
SLACK_BEFORE, SLACK_AFTER = pd.Timedelta(days=3), pd.Timedelta(days=1)


def valid_field(name: str | None) -> bool:
    """A payload field the events view holds as a column (``pik.core.curated.payload_fields``)."""
    return bool(name) and re.fullmatch(r"[a-z_][a-z0-9_]{0,63}", name or "") is not None


def unit(freq: str) -> tuple[str, str]:
    """``("day", "INTERVAL '1' DAY")`` for ``"1D"``; ``KeyError`` for a window SQL does not group by."""
    return UNITS[pd.Timedelta(freq)]


def _attempts(source: str | None, event_type: str | None, entity_id: str | None, start: Time, end: Time,
              field: str | None, statuses: tuple[str, ...]) -> str:
    """CTEs ending in ``a``: the attempts in scope with ``value`` (1, or the event's payload ``field``)."""
    near = dict(start=utc(start) - SLACK_BEFORE, end=utc(end) + SLACK_AFTER)
    where = scope(source=source, event_type=event_type, entity_id=entity_id, **near)
    listed = ", ".join(literal(s) for s in statuses)
    head = (f"a0 AS (\n  SELECT status, entity_id, event_id, event_time, ingest_time, s3_key FROM attempts\n"
            f"  WHERE {where} AND status IN ({listed})\n)")
    if field is None:
        return head + ", a AS (SELECT a0.*, CAST(1 AS DOUBLE) AS value FROM a0)"
    return (head + f", e0 AS (SELECT event_id, {field} AS v FROM events WHERE {where}),\n"
            "a AS (SELECT a0.*, CAST(e0.v AS DOUBLE) AS value\n"
            "      FROM a0 LEFT JOIN e0 ON e0.event_id = a0.event_id)")


def _kinds(freq: str) -> str:
    trunc, interval = unit(freq)
    return f"""
  SELECT CASE status WHEN '{ACCEPTED}' THEN 'accepted' WHEN '{DUPLICATE}' THEN 'duplicate' ELSE 'conflict' END
           AS kind, entity_id, event_id, event_time, ingest_time, s3_key, status, value,
         date_trunc('{trunc}', event_time) AS win, date_trunc('{trunc}', ingest_time) AS arrival_win,
         date_trunc('{trunc}', event_time) + {interval} AS win_end
  FROM a"""


def cells(source: str | None, event_type: str | None, entity_id: str | None, start: Time, end: Time, *,
          field: str | None = None, freq: str = "1D", conflicts: bool = True) -> str:
    """``pik_nb.dashboard.cells`` of the accepted, duplicate (and, for a count, conflict) attempts
    whose event time lies near ``[start, end)``; ``field``: sum that payload field of the event."""
    statuses = (ACCEPTED, DUPLICATE, CONFLICT) if conflicts else (ACCEPTED, DUPLICATE)
    return f"""
WITH {_attempts(source, event_type, entity_id, start, end, field, statuses)}, k AS ({_kinds(freq)}
)
SELECT kind, entity_id, win, arrival_win,
       CASE WHEN ingest_time < win_end THEN -1
            ELSE CAST(floor(date_diff('second', win_end, ingest_time) / 60.0) AS BIGINT) END AS delay,
       count(*) AS n, sum(coalesce(value, 0)) AS total
FROM k GROUP BY 1, 2, 3, 4, 5"""


def arrivals(source: str | None, event_type: str | None, entity_id: str | None, start: Time, end: Time, *,
             field: str | None = None, freq: str = "1D", conflicts: bool = True) -> str:
    """The attempts behind the window ``[start, end)``: dated in it, or arriving in it."""
    statuses = (ACCEPTED, DUPLICATE, CONFLICT) if conflicts else (ACCEPTED, DUPLICATE)
    low, high = literal(utc(start)), literal(utc(end))
    return f"""
WITH {_attempts(source, event_type, entity_id, start, end, field, statuses)}, k AS ({_kinds(freq)}
)
SELECT kind, event_id, entity_id, event_time, ingest_time AS arrival, coalesce(value, 0) AS value,
       status, s3_key
FROM k WHERE (event_time >= {low} AND event_time < {high}) OR (ingest_time >= {low} AND ingest_time < {high})
ORDER BY event_time, ingest_time"""


def selected(where: str, field: str | None) -> str:
    """The ACCEPTED events ``where`` selects (a replay run's scope), with the value a sum would add."""
    head = (f"WITH a0 AS (SELECT event_id, entity_id, event_time, s3_key FROM attempts "
            f"WHERE status = '{ACCEPTED}' AND ({where}))")
    if field is None:
        return head + " SELECT a0.*, CAST(1 AS DOUBLE) AS value FROM a0"
    return (head + f", e0 AS (SELECT event_id, {field} AS v FROM events WHERE {where}) "
            "SELECT a0.*, coalesce(CAST(e0.v AS DOUBLE), 0) AS value "
            "FROM a0 LEFT JOIN e0 ON e0.event_id = a0.event_id")
