"""``Kit.explain_dashboard``: the dashboard's numbers against what the stack recorded.

The attempts (accepted, duplicates, conflicts) are grouped into cells by the SQL engine over the
archive's views: an ``Archive`` (``pik_nb.sql.dashboard.DashboardArchive``, which the kit wires to
``kit.sql``'s engine: DuckDB locally, Athena on a deployed stack, fresh rows included). Quarantined
requests (``Kit.rejected``), replays' re-sends to external targets (``Kit.replays`` and their scopes)
and, for a sum, the conflicting payloads (``Kit.raw``) are few and come through the kit's loaders.
Everything then goes through the pure core, ``investigate.dashboard``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pandas as pd

from pik.core import keys

from .._errors import ScopeError
from ..read import objects as raw_module
from ..read import tables as load
from . import dashboard
from .dashboard import CONFLICT, CONFLICT_LATEST, DashboardExplanation

if TYPE_CHECKING:
    from ..read.stack import Stack


class Archive(Protocol):
    """What ``explain_dashboard`` asks the archive (``pik_nb.sql.dashboard.DashboardArchive``)."""

    source: str | None
    event_type: str | None
    entity_id: str | None
    field: str | None
    freq: str

    def cells(self, start: pd.Timestamp, end: pd.Timestamp, *, by_entity: bool = True) -> pd.DataFrame: ...

    def arrivals(self, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame: ...

    def replayed(
        self, request: dict, ids: list[str] | None, start: pd.Timestamp, end: pd.Timestamp
    ) -> pd.DataFrame: ...

    def conflicted(self, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame: ...


def check(source: str | None, event_type: str | None, entity_id: str | None, metric: str, field: str | None) -> None:
    """A scope (``source`` and ``event_type``, or ``entity_id``) and a metric the dashboard can show."""
    if entity_id is None and (source is None or event_type is None):
        raise ScopeError("explain_dashboard needs source and event_type, or entity_id")
    if metric not in ("count", "sum"):
        raise ScopeError(f"metric must be 'count' or 'sum', not {metric!r}")
    if metric == "sum" and not field:
        raise ScopeError("metric='sum' needs field= (a payload field; --field in the CLI)")


def explain_dashboard(
    stack: Stack, values: pd.DataFrame | str | Path, archive: Archive, *, metric: str = "count"
) -> DashboardExplanation:
    """See ``Kit.explain_dashboard``; ``archive`` holds the scope, the field summed and the windows'
    length."""
    shown = dashboard.dashboard_values(values)
    if archive.entity_id is not None and "entity_id" in shown.columns:
        shown = shown[shown["entity_id"] == archive.entity_id].reset_index(drop=True)
    if shown.empty:
        raise ScopeError("the dashboard values have no window to explain")
    start, end = shown["window"].min(), shown["window"].max() + pd.Timedelta(archive.freq)
    extra = _extra_arrivals(stack, archive, start, end)
    by_entity = "entity_id" in shown.columns  # a stream's dashboard: cells without the entity, far fewer
    cells = _merge(
        archive.cells(start, end, by_entity=by_entity),
        dashboard.cells(extra if by_entity else extra.assign(entity_id=""), archive.freq),
    )

    def arrivals_of(low: pd.Timestamp, high: pd.Timestamp) -> pd.DataFrame:
        mine = extra[
            ((extra["event_time"] >= low) & (extra["event_time"] < high))
            | ((extra["arrival"] >= low) & (extra["arrival"] < high))
        ]
        return pd.concat([archive.arrivals(low, high), mine], ignore_index=True)

    return dashboard.explain(shown, cells_=cells, arrivals_of=arrivals_of, freq=archive.freq, metric=metric)


def _merge(*parts: pd.DataFrame) -> pd.DataFrame:
    frames = [part for part in parts if len(part)]
    if not frames:
        return parts[0]
    for frame in frames:
        for name in ("window", "arrival_window"):
            frame[name] = frame[name].astype("datetime64[us, UTC]")
    merged = pd.concat(frames, ignore_index=True)
    return merged.groupby(list(dashboard.CELL_KEYS), sort=True)[["n", "total"]].sum().reset_index()


def _extra_arrivals(stack: Stack, archive: Archive, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Rejected requests, replays' re-sends and (for a sum) conflicting payloads, as arrivals."""
    parts = [_rejected(stack, archive, start, end), _replayed(stack, archive, start, end)]
    if archive.field is not None:
        parts.append(_conflicts(stack, archive, start, end))
    parts = [part for part in parts if len(part)]
    if not parts:
        return pd.DataFrame(
            {
                name: pd.Series(
                    dtype="datetime64[us, UTC]"
                    if name in ("event_time", "arrival")
                    else "float64"
                    if name == "value"
                    else "str"
                )
                for name in dashboard.ARRIVAL_COLUMNS
            }
        )
    return pd.concat(parts, ignore_index=True)


def _rejected(stack: Stack, archive: Archive, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Quarantined requests of the scope that arrived from a few days before the windows to a few after."""
    days = pd.date_range(start - pd.Timedelta(days=3), end + pd.Timedelta(days=3), freq="1D")
    today = pd.Timestamp.now(tz="UTC").floor("1D")
    dates = [f"{day:%Y-%m-%d}" for day in days if day <= today]
    found = raw_module.rejected(stack, days=dates, progress=False)
    for name in ("source", "event_type", "entity_id"):
        value = getattr(archive, name)
        if value is not None:
            found = found[(found[name].astype("str") == value).fillna(False).astype(bool)]
    return dashboard.rejected_arrivals(found, value=0.0 if archive.field else 1.0)


def _replayed(stack: Stack, archive: Archive, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """What replay runs delivered to a target outside the stack (the dashboard's pipeline may have
    counted it again): each executed run's selection, at the run's start. A run that stopped early or
    whose target refused some ids delivered fewer (``sent`` < ``matched``): those are counted as sent."""
    runs = load.replays(stack)
    runs = runs[~runs["dry_run"] & (runs["target"] != "replay_queue") & (runs["sent"] > 0)]
    parts = []
    for run in runs.itertuples():
        request = run.request if isinstance(run.request, dict) else {}
        ids = None
        if request.get("event_ids_sha256"):
            listed = raw_module.document(stack, keys.replay_ids_key(request["event_ids_sha256"]))
            ids = [str(i) for i in listed.get("event_ids", [])]
        sent = archive.replayed(request, ids, start, end)
        parts.append(sent.assign(kind=dashboard.REPLAYED, status="REPLAYED", arrival=run.created_at))
    if not parts:
        return pd.DataFrame(columns=list(dashboard.ARRIVAL_COLUMNS))
    return pd.concat(parts, ignore_index=True)[list(dashboard.ARRIVAL_COLUMNS)]


def _conflicts(stack: Stack, archive: Archive, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """For a sum: each conflicting payload's value (read from its raw object) and its change over the
    event's previous payload."""
    attempts = archive.conflicted(start, end)
    if attempts.empty:
        return pd.DataFrame(columns=list(dashboard.ARRIVAL_COLUMNS))
    raw = raw_module.fetch(stack, attempts, progress=False)
    column = f"payload.{archive.field}"
    values = raw.set_index("s3_key")[column] if column in raw else None
    found = dashboard.arrivals(attempts, values=values)
    return found[found["kind"].isin([CONFLICT, CONFLICT_LATEST])]
