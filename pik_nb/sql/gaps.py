"""Gaps through SQL: ``pik_nb.gaps(events, freq="1D", by=...)``'s table (without aggregates or
rejected requests) over every attempt in the ``attempts`` view — the query text for DuckDB and
Athena (``query``; only the integer series differs) and its typed answer (``gaps_daily``). The
pandas version over a loaded frame is ``pik_nb.analyses.gaps``.

    >>> "generate_series(" in query(), "sequence(" in query(dialect="athena")
    (True, True)
    >>> gaps_daily(kit.sql, where=scope(source="checkout", start="2026-11-01", end="2026-12-01"))  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pik.core.records import ACCEPTED

from ..analyses import carry
from ..analyses.gaps import GAP_CLASSES, GAP_COLUMNS
from .dialect import Dialect, Sql, of

_DAY = pd.Timedelta(days=1)


def stream_keys(by: str = "entity_id", per_stream: bool = True) -> list[str]:
    """The columns a gap is judged per: ``by``, and its stream (source, event_type) unless
    ``per_stream=False`` (as ``pik_nb.gaps``).

    >>> stream_keys(), stream_keys("source"), stream_keys(per_stream=False)
    (['entity_id', 'source', 'event_type'], ['source', 'event_type'], ['entity_id'])
    """
    return [by, *[c for c in ("source", "event_type") if per_stream and c != by]]


def query(
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


def gaps_daily(
    sql: Sql, *, by: str = "entity_id", per_stream: bool = True, where: str = "TRUE", dialect: str | None = None
) -> pd.DataFrame:
    """``pik_nb.gaps(events, freq="1D", by=by)`` (without aggregates or rejected requests) over
    every attempt in ``where``: one row per missing day of a stream (``by``, source, event_type,
    then ``GAP_COLUMNS``; ``per_stream=False``: per ``by`` alone), ``never_arrived`` or
    ``only_duplicates``; asked in the dialect of the engine ``sql`` runs on (``dialect=`` overrides).

    >>> gaps_daily(kit.sql, where=scope(source="checkout", start="2026-11-01", end="2026-12-01"))  # doctest: +SKIP
    """
    keys = stream_keys(by, per_stream)
    spoken = of(dialect) if dialect else of(sql)
    frame = sql(query(where=where, by=by, per_stream=per_stream, dialect=spoken))
    window = (pd.to_datetime(frame["day"].astype("int64") * _DAY.value, utc=True)).astype("datetime64[us, UTC]")
    repeats = frame["repeats"].astype("int64").to_numpy()
    result = pd.DataFrame(
        {
            **{k: frame[k].astype("str") for k in keys},
            "window": window,
            "window_end": window + pd.Timedelta(_DAY.value),  # as gaps() does: an integer step in ns
            "gap_class": pd.Categorical(
                np.where(repeats > 0, "only_duplicates", "never_arrived"), categories=GAP_CLASSES
            ),
            "cadence": pd.to_timedelta(frame["cadence"].astype("int64") * _DAY.value),
            "late_arrivals": np.zeros(len(frame), "int64"),
            "repeats": repeats,
            "rejected": np.zeros(len(frame), "int64"),
        }
    )
    return carry(result[[*keys, *GAP_COLUMNS]].reset_index(drop=True), frame, "sql.gaps_daily")
