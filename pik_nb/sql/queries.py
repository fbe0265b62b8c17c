"""The query text every SQL of pik shares, written once for both engines: DuckDB (``kit.sql``
locally) and Athena (Trino) — literals, the scope of a window, a user's ``where`` condition, and
``kit.search``'s query.

Only syntax both accept; what differs comes from ``pik_nb.sql.dialect`` (``dialect=`` takes an
engine name or a ``Dialect``). Values are
rendered as literals (``literal``): strings quoted, times as ``TIMESTAMP '...'`` in UTC.

    >>> print(search("checkout", "order_placed", "2026-11-20", "2026-11-21", "amount > 100")[:61])
    SELECT * FROM events WHERE source = 'checkout' AND event_type

Each analysis keeps its SQL (both dialects) and its result typing in its own module:
``pik_nb.sql.lateness``, ``.duplicates``, ``.gaps``, ``.streams`` (``pik status``). Their query
builders are here too, under the names they have always had (``lateness``, ``duplicates_per_source``,
``gaps_daily``, ``stream_keys``, ``streams``); ``pik_nb.sql.analyses`` gathers the typed analyses.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb

from pik.core.compat import retired_names

from .._errors import ScopeError
from .._times import Time, utc
from .duplicates import query as duplicates_per_source
from .gaps import query as gaps_daily
from .gaps import stream_keys
from .lateness import query as lateness
from .streams import query as streams

__all__ = [
    "literal",
    "scope",
    "condition",
    "search",
    "lateness",
    "duplicates_per_source",
    "gaps_daily",
    "stream_keys",
    "streams",
]

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


def _series_functions() -> dict[str, str]:
    """What ``SERIES`` was: each engine's inclusive integer series function, as its dialect spells it."""
    from .dialect import ATHENA, DUCKDB

    return {d.name: d.series("", "").partition("(")[0] for d in (DUCKDB, ATHENA)}


__getattr__ = retired_names(
    __name__,
    {"SERIES": (_series_functions, "is retired: ask pik_nb.sql.dialect.of(engine).series(low, high)")},
)
