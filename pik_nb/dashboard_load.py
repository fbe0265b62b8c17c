"""``Kit.explain_dashboard``: the dashboard's numbers against what the stack recorded.

The attempts (accepted, duplicates, conflicts) are grouped into cells by the SQL engine over the
archive's views (``pik_nb.dashboard_sql``; DuckDB locally, Athena on a deployed stack, fresh rows
included); quarantined requests (``Kit.rejected``), replays' re-sends to external targets
(``Kit.replays`` and their scopes) and, for a sum, the conflicting payloads (``Kit.raw``) are few and
come through the kit's loaders. Everything then goes through the pure core, ``pik_nb.dashboard``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

import pandas as pd

from pik.core import keys

from . import dashboard, dashboard_sql, load, raw as raw_module, sql as sql_module
from .dashboard import CONFLICT, CONFLICT_LATEST, DashboardExplanation
from .errors import ScopeError
from .queries_sql import literal, scope
from .times import utc

if TYPE_CHECKING:
    from .stack import Stack

Sql = Callable[[str], pd.DataFrame]


def explain_dashboard(stack: "Stack", values: pd.DataFrame | str | Path, *, source: str | None = None,
                      event_type: str | None = None, entity_id: str | None = None, metric: str = "count",
                      field: str | None = None, freq: str = "1D", engine: str | None = None
                      ) -> DashboardExplanation:
    """See ``Kit.explain_dashboard``."""
    _check(source, event_type, entity_id, metric, field, freq)
    shown = dashboard.dashboard_values(values)
    if entity_id is not None and "entity_id" in shown.columns:
        shown = shown[shown["entity_id"] == entity_id].reset_index(drop=True)
    if shown.empty:
        raise ScopeError("the dashboard values have no window to explain")
    start, end = shown["window"].min(), shown["window"].max() + pd.Timedelta(freq)
    sum_of = field if metric == "sum" else None
    run: Sql = lambda query: sql_module.sql(stack, query, engine=engine)  # noqa: E731
    where = dict(source=source, event_type=event_type, entity_id=entity_id)
    sql_cells = run(dashboard_sql.cells(**where, start=start, end=end, field=sum_of, freq=freq,
                                        conflicts=sum_of is None))
    extra = _extra_arrivals(stack, run, where, start, end, sum_of)
    cells = _merge(_typed_cells(sql_cells), dashboard.cells(extra, freq))

    def arrivals_of(low: pd.Timestamp, high: pd.Timestamp) -> pd.DataFrame:
        found = run(dashboard_sql.arrivals(**where, start=low, end=high, field=sum_of, freq=freq,
                                           conflicts=sum_of is None))
        mine = extra[((extra["event_time"] >= low) & (extra["event_time"] < high))
                     | ((extra["arrival"] >= low) & (extra["arrival"] < high))]
        return pd.concat([_typed_arrivals(found), mine], ignore_index=True)

    return dashboard.explain(shown, cells_=cells, arrivals_of=arrivals_of, freq=freq, metric=metric)


def _check(source: str | None, event_type: str | None, entity_id: str | None, metric: str, field: str | None,
           freq: str) -> None:
    if entity_id is None and (source is None or event_type is None):
        raise ScopeError("explain_dashboard needs source and event_type, or entity_id")
    if metric not in ("count", "sum"):
        raise ScopeError(f"metric must be 'count' or 'sum', not {metric!r}")
    if metric == "sum" and not field:
        raise ScopeError("metric='sum' needs field= (a payload field; --field in the CLI)")
    if metric == "sum" and not dashboard_sql.valid_field(field):
        raise ScopeError(f"field {field!r} is not a payload column name (lower case letters, digits, _)")
    try:
        dashboard_sql.unit(freq)
    except (KeyError, ValueError) as exc:
        raise ScopeError(f"freq must be '1D' or '1h' over the archive, not {freq!r}") from exc


def _typed_cells(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.rename(columns={"win": "window", "arrival_win": "arrival_window"})
    for name in ("window", "arrival_window"):
        frame[name] = pd.to_datetime(frame[name], utc=True).astype("datetime64[us, UTC]")
    return frame.astype({"kind": "str", "entity_id": "str", "delay": "int64", "n": "int64",
                         "total": "float64"})


def _typed_arrivals(frame: pd.DataFrame) -> pd.DataFrame:
    for name in ("event_time", "arrival"):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    return frame.astype({"value": "float64"})


def _merge(*parts: pd.DataFrame) -> pd.DataFrame:
    frames = [part for part in parts if len(part)]
    if not frames:
        return parts[0]
    for frame in frames:
        for name in ("window", "arrival_window"):
            frame[name] = frame[name].astype("datetime64[us, UTC]")
    merged = pd.concat(frames, ignore_index=True)
    return merged.groupby(list(dashboard.CELL_KEYS), sort=True)[["n", "total"]].sum().reset_index()


def _extra_arrivals(stack: "Stack", run: Sql, where: dict, start: pd.Timestamp, end: pd.Timestamp,
                    field: str | None) -> pd.DataFrame:
    """Rejected requests, replays' re-sends and (for a sum) conflicting payloads, as arrivals."""
    parts = [_rejected(stack, where, start, end, field is not None),
             _replayed(stack, run, where, start, end, field)]
    if field is not None:
        parts.append(_conflicts(stack, run, where, start, end, field))
    parts = [part for part in parts if len(part)]
    if not parts:
        return pd.DataFrame({name: pd.Series(dtype="datetime64[us, UTC]" if name in ("event_time", "arrival")
                                             else "float64" if name == "value" else "str")
                             for name in dashboard.ARRIVAL_COLUMNS})
    return pd.concat(parts, ignore_index=True)


def _rejected(stack: "Stack", where: dict, start: pd.Timestamp, end: pd.Timestamp,
              field_sum: bool) -> pd.DataFrame:
    days = pd.date_range(start - dashboard_sql.SLACK_BEFORE, end + dashboard_sql.SLACK_BEFORE, freq="1D")
    found = raw_module.rejected(stack, days=[f"{day:%Y-%m-%d}" for day in days], progress=False)
    for name, value in where.items():
        if value is not None:
            found = found[found[name].astype("str") == value]
    return dashboard.rejected_arrivals(found, value=0.0 if field_sum else 1.0)


def _replayed(stack: "Stack", run: Sql, where: dict, start: pd.Timestamp, end: pd.Timestamp,
              field: str | None) -> pd.DataFrame:
    """What replay runs delivered to a target outside the stack (the dashboard's pipeline may have
    counted it again): each executed run's selection, at the run's start. A run that stopped early or
    whose target refused some ids delivered fewer (``sent`` < ``matched``): those are counted as sent."""
    runs = load.replays(stack)
    runs = runs[~runs["dry_run"] & (runs["target"] != "replay_queue") & (runs["sent"] > 0)]
    near = _near(where, start, end)
    parts = []
    for run_ in runs.itertuples():
        selection = _run_scope(stack, run_)
        if selection is None:
            continue
        sent = run(dashboard_sql.selected(f"{near} AND {selection}", field))
        parts.append(sent.assign(kind=dashboard.REPLAYED, status="REPLAYED", arrival=run_.created_at))
    if not parts:
        return pd.DataFrame(columns=list(dashboard.ARRIVAL_COLUMNS))
    frame = pd.concat(parts, ignore_index=True)
    frame["event_time"] = pd.to_datetime(frame["event_time"], utc=True)
    return frame[list(dashboard.ARRIVAL_COLUMNS)]


def _run_scope(stack: "Stack", run_: object) -> str | None:
    """A run's selection as SQL over the ``attempts`` view (its id list, or its entity/stream window)."""
    request = getattr(run_, "request", None) or {}
    if request.get("event_ids_sha256"):
        listed = raw_module.document(stack, keys.replay_ids_key(request["event_ids_sha256"]))
        ids = listed.get("event_ids", [])
        return f"event_id IN ({', '.join(literal(i) for i in ids)})" if ids else None
    terms = [scope(entity_id=request.get("entity_id"), source=request.get("source"),
                   event_type=request.get("event_type"), start=request.get("start"), end=request.get("end"))]
    return " AND ".join(terms)


def _near(where: dict, start: pd.Timestamp, end: pd.Timestamp) -> str:
    """The scope's condition over event times near the dashboard's windows (``dashboard_sql.SLACK_*``)."""
    low, high = utc(start) - dashboard_sql.SLACK_BEFORE, utc(end) + dashboard_sql.SLACK_AFTER
    return scope(**where, start=low, end=high)


def _conflicts(stack: "Stack", run: Sql, where: dict, start: pd.Timestamp, end: pd.Timestamp,
               field: str) -> pd.DataFrame:
    """For a sum: each conflicting payload's value (read from its raw object) and its change over the
    event's previous payload."""
    near = _near(where, start, end)
    attempts = run(f"SELECT * FROM attempts WHERE {near} AND status IN ('ACCEPTED', 'CONFLICT') "
                   f"AND event_id IN (SELECT event_id FROM attempts WHERE {near} AND status = 'CONFLICT')")
    if attempts.empty:
        return pd.DataFrame(columns=list(dashboard.ARRIVAL_COLUMNS))
    raw = raw_module.fetch(stack, attempts, progress=False)
    values = raw.set_index("s3_key")[f"payload.{field}"] if f"payload.{field}" in raw else None
    found = dashboard.arrivals(attempts, values=values)
    return found[found["kind"].isin([CONFLICT, CONFLICT_LATEST])]
