"""The analyses pushed into SQL: the same tables as ``lateness``, ``duplicates(...).per_source`` and
``gaps(freq="1D")``, computed by the engine over a whole archive instead of a loaded frame.

Each takes ``sql``, a function from a query to a DataFrame (``kit.sql``, or a DuckDB connection's
``lambda q: con.sql(q).df()``), and a ``where`` condition on the ``attempts`` view
(``pik_nb.sql.queries.scope(...)`` builds one that prunes partitions). The SQL is written in the
dialect of the engine ``sql`` runs on (``pik_nb.sql.dialect.of(sql)``: Athena's for a ``kit.sql``
on a stack deployed with it); ``dialect=`` overrides, e.g. for ``lambda q: kit.sql(q, engine="athena")``.

    >>> from pik_nb import sql_analyses
    >>> sql_analyses.lateness(kit.sql, by="source", where=scope(start="2026-11-01", end="2026-12-01"))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from ..analyses.gaps import GAP_CLASSES, GAP_COLUMNS
from ..analyses.lateness import LATENESS_COLUMNS
from . import queries as queries_sql
from .dialect import of

Sql = Callable[[str], pd.DataFrame]
_DAY = pd.Timedelta(days=1)


def lateness(
    sql: Sql,
    by: str | Sequence[str] = "source",
    *,
    threshold: str | pd.Timedelta = "1h",
    where: str = "TRUE",
    dialect: str | None = None,
) -> pd.DataFrame:
    """``pik_nb.lateness(events, by=by, threshold=threshold)`` over every first arrival in ``where``.

    >>> lateness(kit.sql, by="source").loc["checkout", "p99_ms"]
    """
    keys = [by] if isinstance(by, str) else list(by)
    limit = pd.Timedelta(threshold) // pd.Timedelta(milliseconds=1)
    spoken = of(dialect) if dialect else of(sql)
    frame = sql(queries_sql.lateness(keys, threshold_ms=limit, where=where, dialect=spoken))
    for name in keys:
        frame[name] = frame[name].astype("str")
    result = frame.set_index(keys)[LATENESS_COLUMNS]
    ints = ("count", "max_ms", "late_count", "negative_count", "out_of_order")
    return result.astype({**{c: "int64" for c in ints}, **{c: "float64" for c in LATENESS_COLUMNS if c not in ints}})


def duplicates_per_source(sql: Sql, *, where: str = "TRUE") -> pd.DataFrame:
    """``pik_nb.duplicates(events).per_source`` over every attempt in ``where``.

    >>> duplicates_per_source(kit.sql)[["source", "duplicates", "duplicate_rate"]]
    """
    frame = sql(queries_sql.duplicates_per_source(where=where))
    ints = {c: "int64" for c in ("events", "attempts", "duplicates", "conflicts")}
    return frame.astype({"source": "str", "event_type": "str", **ints, "duplicate_rate": "float64"})


def gaps_daily(
    sql: Sql, *, by: str = "entity_id", per_stream: bool = True, where: str = "TRUE", dialect: str | None = None
) -> pd.DataFrame:
    """``pik_nb.gaps(events, freq="1D", by=by)`` (without aggregates or rejected requests) over
    every attempt in ``where``: one row per missing day of a stream (``by``, source, event_type,
    then ``GAP_COLUMNS``; ``per_stream=False``: per ``by`` alone), ``never_arrived`` or ``only_duplicates``.

    >>> gaps_daily(kit.sql, where=scope(source="checkout", start="2026-11-01", end="2026-12-01"))
    """
    keys = queries_sql.stream_keys(by, per_stream)
    spoken = of(dialect) if dialect else of(sql)
    frame = sql(queries_sql.gaps_daily(where=where, by=by, per_stream=per_stream, dialect=spoken))
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
    return result[[*keys, *GAP_COLUMNS]].reset_index(drop=True)
