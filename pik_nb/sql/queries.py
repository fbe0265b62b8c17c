"""The common SQL, written once for both engines: DuckDB (``kit.sql`` locally) and Athena (Trino).

Only syntax both accept; what differs comes from ``pik_nb.sql.dialect`` (``dialect=`` takes an
engine name or a ``Dialect``). Values are
rendered as literals (``literal``): strings quoted, times as ``TIMESTAMP '...'`` in UTC.

    >>> print(search("checkout", "order_placed", "2026-11-20", "2026-11-21", "amount > 100")[:61])
    SELECT * FROM events WHERE source = 'checkout' AND event_type

The analyses return the same columns as their pandas versions (``pik_nb.lateness``,
``duplicates(...).per_source``, ``gaps`` with ``freq="1D"``): ``pik_nb.sql.analyses`` runs them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import duckdb

from pik.core.records import ACCEPTED, CONFLICT, DUPLICATE

from .._errors import ScopeError
from .._times import Time, utc
from .dialect import Dialect, of

_MICROSECOND = timedelta(microseconds=1)


def literal(value: object) -> str:
    """A SQL literal both engines read the same way.

    >>> literal("it's"), literal(3), literal(utc("2026-11-20"))
    ("'it''s'", '3', "TIMESTAMP '2026-11-20 00:00:00.000000'")
    """
    if isinstance(value, datetime):
        return "TIMESTAMP '" + utc(value).strftime("%Y-%m-%d %H:%M:%S.%f") + "'"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def scope(
    *,
    source: str | None = None,
    event_type: str | None = None,
    start: Time | None = None,
    end: Time | None = None,
    entity_id: str | None = None,
) -> str:
    """A WHERE condition on the partition columns (so both engines prune files) and event time.

    >>> print(scope(source="checkout", start="2026-11-20", end="2026-11-21").replace(" AND ", "\\nAND "))
    source = 'checkout'
    AND event_date >= '2026-11-20'
    AND event_date <= '2026-11-20'
    AND event_time >= TIMESTAMP '2026-11-20 00:00:00.000000'
    AND event_time < TIMESTAMP '2026-11-21 00:00:00.000000'
    """
    terms = [
        f"{name} = {literal(value)}"
        for name, value in (("source", source), ("event_type", event_type), ("entity_id", entity_id))
        if value is not None
    ]
    if start is not None:
        terms.append(f"event_date >= {literal(utc(start).date().isoformat())}")
    if end is not None:
        last = utc(end) - _MICROSECOND
        terms.append(f"event_date <= {literal(last.date().isoformat())}")
    if start is not None:
        terms.append(f"event_time >= {literal(utc(start))}")
    if end is not None:
        terms.append(f"event_time < {literal(utc(end))}")
    return " AND ".join(terms) or "TRUE"


def condition(where: str) -> str:
    """``where`` as one parenthesised boolean condition, which cannot leave the query it is put in:
    it must parse (DuckDB's parser) as exactly one expression and hold no comment, so no ``)``,
    ``--`` or ``;`` in it can close the scope, drop a LIMIT or start a statement. ``ScopeError`` else.

    >>> condition("amount > 100 AND country = 'DE'")
    "(amount > 100 AND country = 'DE')"
    >>> condition("TRUE) OR (TRUE")
    Traceback (most recent call last):
    pik_nb._errors.ScopeError: where='TRUE) OR (TRUE' is not one SQL condition: Parser Error: syntax error ...
    """
    if any(kind == duckdb.token_type.comment for _, kind in duckdb.tokenize(where)):
        raise ScopeError(f"where={where!r} holds a comment (-- or /* */): give one SQL condition without one")
    try:
        duckdb.SQLExpression(where)
    except duckdb.Error as exc:
        raise ScopeError(f"where={where!r} is not one SQL condition: {exc}") from None
    return f"({where})"


def search(
    source: str | None,
    event_type: str | None,
    start: Time | None,
    end: Time | None,
    where: str | None = None,
    limit: int | None = None,
) -> str:
    """Events (one row per ACCEPTED event) in scope matching ``where`` (SQL over payload columns),
    at most ``limit`` (a positive whole number; None: all)."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ScopeError(f"limit must be a positive whole number (or None for every match), not {limit!r}")
    terms = scope(source=source, event_type=event_type, start=start, end=end)
    if where is not None and where.strip():
        terms += f" AND {condition(where)}"
    return f"SELECT * FROM events WHERE {terms} ORDER BY event_time, event_id" + (
        f" LIMIT {limit}" if limit is not None else ""
    )


def lateness(
    by: str | Sequence[str] = "source",
    *,
    threshold_ms: int = 3_600_000,
    where: str = "TRUE",
    dialect: str | Dialect = "duckdb",
) -> str:
    """``pik_nb.lateness(events, by=...)`` over the ``attempts`` view: count, p50/p90/p99 (linear
    interpolation between order statistics, as pandas), max, late (lag > threshold), negative and
    out-of-order first arrivals per group.

    Percentiles: DuckDB's ``quantile_cont``; on Athena (whose ``approx_percentile`` is approximate)
    the same interpolation from ``row_number()`` ranks — exact, and it runs on DuckDB too, which is
    how the tests check that both give pandas' numbers.
    """
    keys = [by] if isinstance(by, str) else list(by)
    group = ", ".join(keys)
    exact = of(dialect).exact_percentile

    def percentile(q: float) -> str:
        if exact:
            return f"quantile_cont(lag, {q})"
        low, high = f"floor((n - 1) * {q})", f"ceil((n - 1) * {q})"
        return (
            f"max(CASE WHEN r = {low} THEN lag END) + (max((n - 1) * {q}) - max({low})) * "
            f"(max(CASE WHEN r = {high} THEN lag END) - max(CASE WHEN r = {low} THEN lag END))"
        )

    ranks = (
        ""
        if exact
        else (
            f", row_number() OVER (PARTITION BY {group} ORDER BY lag) - 1 AS r,"
            f" count(*) OVER (PARTITION BY {group}) AS n"
        )
    )
    return f"""
WITH firsts AS (
  SELECT {group}, entity_id, event_time, ingest_time, ingest_lag_ms AS lag,
         max(event_time) OVER (PARTITION BY entity_id ORDER BY ingest_time, event_time
                               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS seen
  FROM attempts WHERE status = '{ACCEPTED}' AND ({where})
), ranked AS (
  SELECT {group}, lag, CASE WHEN event_time < seen THEN 1 ELSE 0 END AS ooo{ranks}
  FROM firsts
)
SELECT {group}, count(*) AS count,
       {percentile(0.5)} AS p50_ms, {percentile(0.9)} AS p90_ms, {percentile(0.99)} AS p99_ms,
       max(lag) AS max_ms,
       sum(CASE WHEN lag > {int(threshold_ms)} THEN 1 ELSE 0 END) AS late_count,
       CAST(sum(CASE WHEN lag > {int(threshold_ms)} THEN 1 ELSE 0 END) AS DOUBLE) / count(*) AS late_share,
       sum(CASE WHEN lag < 0 THEN 1 ELSE 0 END) AS negative_count,
       sum(ooo) AS out_of_order
FROM ranked GROUP BY {group} ORDER BY {group}"""


def duplicates_per_source(where: str = "TRUE") -> str:
    """``duplicates(events).per_source`` over the ``attempts`` view."""
    return f"""
SELECT source, event_type,
       sum(CASE WHEN status = '{ACCEPTED}' THEN 1 ELSE 0 END) AS events,
       count(*) AS attempts,
       sum(CASE WHEN status = '{DUPLICATE}' THEN 1 ELSE 0 END) AS duplicates,
       sum(CASE WHEN status = '{CONFLICT}' THEN 1 ELSE 0 END) AS conflicts,
       CAST(sum(CASE WHEN status IN ('{DUPLICATE}', '{CONFLICT}') THEN 1 ELSE 0 END) AS DOUBLE) / count(*)
         AS duplicate_rate
FROM attempts WHERE status IN ('{ACCEPTED}', '{DUPLICATE}', '{CONFLICT}') AND ({where})
GROUP BY source, event_type ORDER BY source, event_type"""


def streams() -> str:
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


def stream_keys(by: str = "entity_id", per_stream: bool = True) -> list[str]:
    """The columns a gap is judged per: ``by``, and its stream (source, event_type) unless
    ``per_stream=False`` (as ``pik_nb.gaps``).

    >>> stream_keys(), stream_keys("source"), stream_keys(per_stream=False)
    (['entity_id', 'source', 'event_type'], ['source', 'event_type'], ['entity_id'])
    """
    return [by, *[c for c in ("source", "event_type") if per_stream and c != by]]


def gaps_daily(
    *, where: str = "TRUE", by: str = "entity_id", per_stream: bool = True, dialect: str | Dialect = "duckdb"
) -> str:
    """``gaps(events, freq="1D", by=by)`` over the ``attempts`` view (no aggregates or rejected
    requests, so the classes are ``never_arrived`` and ``only_duplicates``), judged per stream as
    ``gaps`` is (``stream_keys``): an entity's on-time ``web`` day does not hide its missing
    ``mobile_app`` day. Each key's cadence is its most common step between days with first arrivals
    (ties: the shorter), and the expected days run from its first to its last active day. ``day``
    numbers count from 1970-01-01."""
    keys = stream_keys(by, per_stream)
    cols = ", ".join(keys)

    def keys_of(alias: str) -> str:
        return ", ".join(f"{alias}.{k}" for k in keys)

    def same(left: str, right: str) -> str:
        return " AND ".join(f"{left}.{k} = {right}.{k}" for k in keys)

    series = of(dialect).series("0", "CAST(floor(CAST(s.high - s.low AS DOUBLE) / s.cadence) AS BIGINT)")
    return f"""
WITH active AS (
  SELECT {cols}, date_diff('day', DATE '1970-01-01', CAST(event_time AS DATE)) AS day,
         sum(CASE WHEN status = '{ACCEPTED}' THEN 1 ELSE 0 END) AS firsts,
         sum(CASE WHEN status <> '{ACCEPTED}' THEN 1 ELSE 0 END) AS repeats
  FROM attempts WHERE ({where})
  GROUP BY {cols}, date_diff('day', DATE '1970-01-01', CAST(event_time AS DATE))
), steps AS (
  SELECT {cols}, day - lag(day) OVER (PARTITION BY {cols} ORDER BY day) AS step FROM active WHERE firsts > 0
), modal AS (
  SELECT {cols}, step FROM (
    SELECT {cols}, step, row_number() OVER (PARTITION BY {cols} ORDER BY count(*) DESC, step) AS k
    FROM steps WHERE step IS NOT NULL GROUP BY {cols}, step) ranked WHERE k = 1
), span AS (
  SELECT {keys_of("a")}, min(a.day) AS low, max(a.day) AS high, coalesce(max(m.step), 1) AS cadence
  FROM active a LEFT JOIN modal m ON {same("m", "a")} GROUP BY {keys_of("a")}
), expected AS (
  SELECT {keys_of("s")}, s.low + k * s.cadence AS day, s.cadence
  FROM span s CROSS JOIN UNNEST({series}) AS t(k)
)
SELECT {keys_of("e")}, e.day, e.cadence, coalesce(a.repeats, 0) AS repeats
FROM expected e LEFT JOIN active a ON {same("a", "e")} AND a.day = e.day
WHERE coalesce(a.firsts, 0) = 0
ORDER BY {keys_of("e")}, e.day"""
