"""``explain_dashboard``'s SQL over the archive's ``attempts`` and ``events`` views: the cells (the
bulk of the work, pushed into the engine) and the arrivals behind one window.

Written once for DuckDB and Athena (Trino): only constructs both accept (``date_trunc``,
``date_diff('second', ...)``, ``INTERVAL '1' DAY``, ``CAST(... AS DOUBLE)``). One thing differs: a
summed payload field is the ``events`` view's typed column on DuckDB, but Athena's Glue ``events``
table declares only the common columns and ``payload`` (docs/scale.md), so on Athena the value is read
from the payload JSON (``Dialect.json_text``).
Windows of one day or one hour (``date_trunc``); other lengths go through the in-memory path.

    >>> print(cells("checkout", "order_placed", None, "2026-11-20", "2026-11-27")[:30])
    <BLANKLINE>
    WITH a0 AS (
      SELECT status
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from pik.core.records import ACCEPTED, CONFLICT, DUPLICATE

from .._errors import ScopeError
from .._times import Time, utc
from .dialect import DUCKDB, Dialect
from .queries import literal, scope

#: Windows the SQL path groups by, as ``date_trunc`` units and SQL intervals.
UNITS = {pd.Timedelta(days=1): ("day", "INTERVAL '1' DAY"), pd.Timedelta(hours=1): ("hour", "INTERVAL '1' HOUR")}
#: How far outside the dashboard's windows an arrival's event time may lie and still arrive inside them
#: (late arrivals dated before, events dated ahead by clock skew after).
SLACK_BEFORE, SLACK_AFTER = pd.Timedelta(days=3), pd.Timedelta(days=1)


def valid_field(name: str | None) -> bool:
    """A payload field the events view holds as a column (``pik.core.curated.payload_fields``)."""
    return bool(name) and re.fullmatch(r"[a-z_][a-z0-9_]{0,63}", name or "") is not None


def _value(field: str, dialect: Dialect) -> str:
    """The payload ``field`` of an ``events`` row: its typed column (DuckDB), or the JSON scalar (Athena).

    >>> from pik_nb.sql.dialect import ATHENA
    >>> _value("amount", DUCKDB), _value("amount", ATHENA)
    ('amount', "json_extract_scalar(payload, '$.amount')")
    """
    return field if dialect.name == "duckdb" else dialect.json_text("payload", f"$.{field}")


def unit(freq: str) -> tuple[str, str]:
    """``("day", "INTERVAL '1' DAY")`` for ``"1D"``; ``KeyError`` for a window SQL does not group by."""
    return UNITS[pd.Timedelta(freq)]


def _attempts(
    source: str | None,
    event_type: str | None,
    entity_id: str | None,
    start: Time,
    end: Time,
    field: str | None,
    statuses: tuple[str, ...],
    dialect: Dialect = DUCKDB,
) -> str:
    """CTEs ending in ``a``: the attempts in scope with ``value`` (1, or the event's payload ``field``)."""
    near = dict(start=utc(start) - SLACK_BEFORE, end=utc(end) + SLACK_AFTER)
    where = scope(source=source, event_type=event_type, entity_id=entity_id, **near)
    listed = ", ".join(literal(s) for s in statuses)
    head = (
        f"a0 AS (\n  SELECT status, entity_id, event_id, event_time, ingest_time, s3_key FROM attempts\n"
        f"  WHERE {where} AND status IN ({listed})\n)"
    )
    if field is None:
        return head + ", a AS (SELECT a0.*, CAST(1 AS DOUBLE) AS value FROM a0)"
    return (
        head + f", e0 AS (SELECT event_id, {_value(field, dialect)} AS v FROM events WHERE {where}),\n"
        "a AS (SELECT a0.*, CAST(e0.v AS DOUBLE) AS value\n"
        "      FROM a0 LEFT JOIN e0 ON e0.event_id = a0.event_id)"
    )


def _kinds(freq: str) -> str:
    trunc, interval = unit(freq)
    return f"""
  SELECT CASE status WHEN '{ACCEPTED}' THEN 'accepted' WHEN '{DUPLICATE}' THEN 'duplicate' ELSE 'conflict' END
           AS kind, entity_id, event_id, event_time, ingest_time, s3_key, status, value,
         date_trunc('{trunc}', event_time) AS win, date_trunc('{trunc}', ingest_time) AS arrival_win,
         date_trunc('{trunc}', event_time) + {interval} AS win_end
  FROM a"""


def cells(
    source: str | None,
    event_type: str | None,
    entity_id: str | None,
    start: Time,
    end: Time,
    *,
    field: str | None = None,
    freq: str = "1D",
    conflicts: bool = True,
    by_entity: bool = True,
    dialect: Dialect = DUCKDB,
) -> str:
    """``pik_nb.investigate.dashboard.cells`` of the accepted, duplicate (and, for a count, conflict)
    attempts whose event time lies near ``[start, end)``; ``field``: sum that payload field of the event.
    ``by_entity=False`` (a dashboard of the whole stream) leaves the entity out of the cells: a few
    thousand cells instead of one per entity and window."""
    statuses = (ACCEPTED, DUPLICATE, CONFLICT) if conflicts else (ACCEPTED, DUPLICATE)
    return f"""
WITH {_attempts(source, event_type, entity_id, start, end, field, statuses, dialect)}, k AS ({_kinds(freq)}
)
SELECT kind,{" entity_id," if by_entity else ""} win, arrival_win,
       CASE WHEN ingest_time < win_end THEN -1
            ELSE CAST(floor(date_diff('second', win_end, ingest_time) / 60.0) AS BIGINT) END AS delay,
       count(*) AS n, sum(coalesce(value, 0)) AS total
FROM k GROUP BY {"1, 2, 3, 4, 5" if by_entity else "1, 2, 3, 4"}"""


def arrivals(
    source: str | None,
    event_type: str | None,
    entity_id: str | None,
    start: Time,
    end: Time,
    *,
    field: str | None = None,
    freq: str = "1D",
    conflicts: bool = True,
    dialect: Dialect = DUCKDB,
) -> str:
    """The attempts behind the window ``[start, end)``: dated in it, or arriving in it."""
    statuses = (ACCEPTED, DUPLICATE, CONFLICT) if conflicts else (ACCEPTED, DUPLICATE)
    low, high = literal(utc(start)), literal(utc(end))
    return f"""
WITH {_attempts(source, event_type, entity_id, start, end, field, statuses, dialect)}, k AS ({_kinds(freq)}
)
SELECT kind, event_id, entity_id, event_time, ingest_time AS arrival, coalesce(value, 0) AS value,
       status, s3_key
FROM k WHERE (event_time >= {low} AND event_time < {high}) OR (ingest_time >= {low} AND ingest_time < {high})
ORDER BY event_time, ingest_time"""


def selected(where: str, field: str | None, dialect: Dialect = DUCKDB) -> str:
    """The ACCEPTED events ``where`` selects (a replay run's scope), with the value a sum would add."""
    head = (
        f"WITH a0 AS (SELECT event_id, entity_id, event_time, s3_key FROM attempts "
        f"WHERE status = '{ACCEPTED}' AND ({where}))"
    )
    if field is None:
        return head + " SELECT a0.*, CAST(1 AS DOUBLE) AS value FROM a0"
    return (
        head + f", e0 AS (SELECT event_id, {_value(field, dialect)} AS v FROM events WHERE {where}) "
        "SELECT a0.*, coalesce(CAST(e0.v AS DOUBLE), 0) AS value "
        "FROM a0 LEFT JOIN e0 ON e0.event_id = a0.event_id"
    )


def typed_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """The result of ``cells`` as the pandas cells: ``window``/``arrival_window`` UTC, counts int64."""
    frame = frame.rename(columns={"win": "window", "arrival_win": "arrival_window"})
    if "entity_id" not in frame:
        frame.insert(1, "entity_id", "")
    for name in ("window", "arrival_window"):
        frame[name] = pd.to_datetime(frame[name], utc=True).astype("datetime64[us, UTC]")
    return frame.astype({"kind": "str", "entity_id": "str", "delay": "int64", "n": "int64", "total": "float64"})


def typed_arrivals(frame: pd.DataFrame) -> pd.DataFrame:
    """The result of ``arrivals`` with UTC times and float values."""
    for name in ("event_time", "arrival"):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    return frame.astype({"value": "float64"})


@dataclass(frozen=True)
class DashboardArchive:
    """``kit.explain_dashboard``'s questions to the archive about one scope, through ``run`` (a query to
    a DataFrame: ``kit.sql``'s engine), in ``dialect`` (that engine's). ``field``: a sum of that payload
    field (``None``: a count).

    >>> archive = DashboardArchive(kit.sql, "checkout", "order_placed", None)      # doctest: +SKIP
    >>> archive.cells(pd.Timestamp("2026-11-20", tz="UTC"), pd.Timestamp("2026-11-27", tz="UTC"))
    """

    run: Callable[[str], pd.DataFrame]
    source: str | None
    event_type: str | None
    entity_id: str | None
    field: str | None = None
    freq: str = "1D"
    dialect: Dialect = DUCKDB

    def __post_init__(self) -> None:
        if self.field is not None and not valid_field(self.field):
            raise ScopeError(f"field {self.field!r} is not a payload column name (lower case letters, digits, _)")
        try:
            unit(self.freq)
        except (KeyError, ValueError) as exc:
            raise ScopeError(f"freq must be '1D' or '1h' over the archive, not {self.freq!r}") from exc

    @property
    def _scope(self) -> dict:
        return {"source": self.source, "event_type": self.event_type, "entity_id": self.entity_id}

    def near(self, start: Time, end: Time) -> str:
        """The scope's condition over event times near ``[start, end)`` (``SLACK_BEFORE``/``SLACK_AFTER``)."""
        return scope(**self._scope, start=utc(start) - SLACK_BEFORE, end=utc(end) + SLACK_AFTER)

    def cells(self, start: Time, end: Time, *, by_entity: bool = True) -> pd.DataFrame:
        """The cells of the accepted, duplicate (and for a count, conflict) attempts near the windows
        (``entity_id`` empty unless ``by_entity``)."""
        query = cells(
            **self._scope,
            start=start,
            end=end,
            field=self.field,
            freq=self.freq,
            conflicts=self.field is None,
            by_entity=by_entity,
            dialect=self.dialect,
        )
        return typed_cells(self.run(query))

    def arrivals(self, start: Time, end: Time) -> pd.DataFrame:
        """The attempts dated in ``[start, end)`` or arriving in it, as arrivals."""
        return typed_arrivals(
            self.run(
                arrivals(
                    **self._scope,
                    start=start,
                    end=end,
                    field=self.field,
                    freq=self.freq,
                    conflicts=self.field is None,
                    dialect=self.dialect,
                )
            )
        )

    def replayed(self, request: dict, ids: list[str] | None, start: Time, end: Time) -> pd.DataFrame:
        """The ACCEPTED events near the windows a replay run's ``request`` selected (its id list, or its
        entity/stream window): ``event_id, entity_id, event_time, s3_key, value``."""
        if ids is not None:
            if not ids:
                return pd.DataFrame(columns=["event_id", "entity_id", "event_time", "s3_key", "value"])
            condition = f"event_id IN ({', '.join(literal(i) for i in ids)})"
        else:
            condition = scope(
                **{name: request.get(name) for name in ("entity_id", "source", "event_type", "start", "end")}
            )
        found = self.run(selected(f"{self.near(start, end)} AND {condition}", self.field, self.dialect))
        found["event_time"] = pd.to_datetime(found["event_time"], utc=True)
        return found

    def conflicted(self, start: Time, end: Time) -> pd.DataFrame:
        """Every ACCEPTED and CONFLICT attempt of the events with a conflict near the windows."""
        near = self.near(start, end)
        conflicting = f"SELECT event_id FROM attempts WHERE {near} AND status = '{CONFLICT}'"
        return self.run(
            f"SELECT * FROM attempts WHERE {near} AND status IN ('{ACCEPTED}', '{CONFLICT}') "
            f"AND event_id IN ({conflicting})"
        )
