"""Duplicates through SQL: ``pik_nb.duplicates(events).per_source``'s table over every attempt in the
``attempts`` view — the query text (``query``: one text, DuckDB and Athena spell it alike) and its
typed answer (``duplicates_per_source``). The pandas version is ``pik_nb.analyses.duplicates``.

    >>> print(query().splitlines()[1])
    SELECT source, event_type,
    >>> duplicates_per_source(kit.sql)[["source", "duplicates", "duplicate_rate"]]      # doctest: +SKIP
"""

from __future__ import annotations

import pandas as pd

from pik.core.records import ACCEPTED, CONFLICT, DUPLICATE

from ..analyses import carry
from .dialect import Sql

COUNT_COLUMNS = ("events", "attempts", "duplicates", "conflicts")


def query(where: str = "TRUE") -> str:
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


def duplicates_per_source(sql: Sql, *, where: str = "TRUE") -> pd.DataFrame:
    """``pik_nb.duplicates(events).per_source`` over every attempt in ``where``.

    >>> duplicates_per_source(kit.sql)[["source", "duplicates", "duplicate_rate"]]      # doctest: +SKIP
    """
    frame = sql(query(where=where))
    ints = {c: "int64" for c in COUNT_COLUMNS}
    typed = frame.astype({"source": "str", "event_type": "str", **ints, "duplicate_rate": "float64"})
    return carry(typed, frame, "sql.duplicates_per_source")
