"""Lateness through SQL: ``pik_nb.lateness(events, by=...)``'s table over every first arrival in
the ``attempts`` view — the query text for DuckDB and Athena (``query``) and its typed answer
(``lateness``). The pandas version over a loaded frame is ``pik_nb.analyses.lateness``.

    >>> "quantile_cont(lag, 0.5)" in query("source"), "quantile_cont" in query("source", dialect="athena")
    (True, False)
    >>> lateness(kit.sql, by="source").loc["checkout", "p99_ms"]      # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from pik.core.records import ACCEPTED

from ..analyses import carry
from ..analyses.lateness import LATENESS_COLUMNS
from .dialect import Dialect, Sql, of

INT_COLUMNS = ("count", "max_ms", "late_count", "negative_count", "out_of_order")


def query(
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


def lateness(
    sql: Sql,
    by: str | Sequence[str] = "source",
    *,
    threshold: str | pd.Timedelta = "1h",
    where: str = "TRUE",
    dialect: str | None = None,
) -> pd.DataFrame:
    """``pik_nb.lateness(events, by=by, threshold=threshold)`` over every first arrival in ``where``,
    asked in the dialect of the engine ``sql`` runs on (``dialect=`` overrides).

    >>> lateness(kit.sql, by="source").loc["checkout", "p99_ms"]      # doctest: +SKIP
    """
    keys = [by] if isinstance(by, str) else list(by)
    limit = pd.Timedelta(threshold) // pd.Timedelta(milliseconds=1)
    spoken = of(dialect) if dialect else of(sql)
    frame = sql(query(keys, threshold_ms=limit, where=where, dialect=spoken))
    for name in keys:
        frame[name] = frame[name].astype("str")
    result = frame.set_index(keys)[LATENESS_COLUMNS]
    typed = result.astype(
        {**{c: "int64" for c in INT_COLUMNS}, **{c: "float64" for c in LATENESS_COLUMNS if c not in INT_COLUMNS}}
    )
    return carry(typed, frame, "sql.lateness")
