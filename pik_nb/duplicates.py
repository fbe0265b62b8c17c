"""Duplicates and conflicts: per event, per source, per arrival window, storms, conflicting payloads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from pik.core.records import ACCEPTED, CONFLICT, DUPLICATE

from ._plot import axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class Duplicates:
    """The result of ``duplicates(events)``; every frame is small (repeats only, or aggregated)."""

    duplicate_count: int  # DUPLICATE attempts (same event again)
    conflict_count: int  # CONFLICT attempts (same identity, other content)
    per_event: pd.DataFrame  # event_id, entity_id, source, event_type, duplicates, conflicts, attempts, first/last_repeat
    per_source: pd.DataFrame  # source, event_type, events, attempts, duplicates, conflicts, duplicate_rate
    per_window: pd.DataFrame  # window (arrival time floored to freq), duplicates, conflicts
    storms: pd.DataFrame  # the per_window rows with duplicates >= storm_threshold
    conflicts: pd.DataFrame  # one row per CONFLICT attempt with both payload hashes and raw keys

    def _repr_html_(self) -> str:
        return (f"<p><b>{self.duplicate_count}</b> duplicates, <b>{self.conflict_count}</b> conflicts, "
                f"<b>{len(self.storms)}</b> storm windows</p>" + self.per_source.to_html(index=False))


def duplicates(events: pd.DataFrame, *, freq: str = "1min", storm_threshold: int = 50) -> Duplicates:
    """Count repeats; a storm is an arrival window of ``freq`` with at least ``storm_threshold`` duplicates.

    >>> d = duplicates(events)
    >>> d.duplicate_count, d.conflict_count, d.conflicts[["event_id", "accepted_sha256", "conflicting_sha256"]]
    """
    status = events["status"]
    repeats = events[status.isin([DUPLICATE, CONFLICT])]
    flags = pd.DataFrame({"duplicates": repeats["status"] == DUPLICATE, "conflicts": repeats["status"] == CONFLICT})
    per_window = flags.groupby(repeats["ingest_time"].dt.floor(freq).rename("window")).sum().astype("int64").reset_index()
    return Duplicates(
        duplicate_count=int((status == DUPLICATE).sum()),
        conflict_count=int((status == CONFLICT).sum()),
        per_event=_per_event(repeats, flags),
        per_source=_per_source(events),
        per_window=per_window,
        storms=per_window[per_window["duplicates"] >= storm_threshold].reset_index(drop=True),
        conflicts=_conflicts(events, repeats[flags["conflicts"]]),
    )


def _per_event(repeats: pd.DataFrame, flags: pd.DataFrame) -> pd.DataFrame:
    grouped = pd.concat([repeats[["event_id", "entity_id", "source", "event_type", "ingest_time"]], flags], axis=1).groupby(
        "event_id", observed=True)
    result = grouped.agg(entity_id=("entity_id", "first"), source=("source", "first"), event_type=("event_type", "first"),
                         duplicates=("duplicates", "sum"), conflicts=("conflicts", "sum"),
                         first_repeat=("ingest_time", "min"), last_repeat=("ingest_time", "max"))
    result["attempts"] = result["duplicates"] + result["conflicts"] + 1
    return result.sort_values("attempts", ascending=False, kind="stable").reset_index()


def _per_source(events: pd.DataFrame) -> pd.DataFrame:
    counts = events.groupby(["source", "event_type", "status"], observed=True).size().unstack("status", fill_value=0)
    counts = counts.reindex(columns=[ACCEPTED, DUPLICATE, CONFLICT], fill_value=0)
    result = pd.DataFrame({"events": counts[ACCEPTED], "attempts": counts.sum(axis=1),
                           "duplicates": counts[DUPLICATE], "conflicts": counts[CONFLICT]})
    result["duplicate_rate"] = (result["duplicates"] + result["conflicts"]) / result["attempts"]
    return result.astype({c: "int64" for c in ("events", "attempts", "duplicates", "conflicts")}).reset_index()


def _conflicts(events: pd.DataFrame, conflict_rows: pd.DataFrame) -> pd.DataFrame:
    accepted = events[(events["status"] == ACCEPTED) & events["event_id"].isin(conflict_rows["event_id"])]
    first = accepted[["event_id", "payload_sha256", "s3_key"]].rename(
        columns={"payload_sha256": "accepted_sha256", "s3_key": "accepted_s3_key"})
    rows = conflict_rows[["event_id", "entity_id", "ingest_time", "attempt_id", "payload_sha256", "s3_key"]].rename(
        columns={"payload_sha256": "conflicting_sha256", "s3_key": "conflicting_s3_key"})
    return rows.merge(first, on="event_id", how="left").reset_index(drop=True)


def plot_duplicates(result: Duplicates | pd.DataFrame, ax: Axes | None = None, *, freq: str = "1min",
                    storm_threshold: int = 50) -> Figure:
    """Duplicates and conflicts per arrival window, storms marked; takes ``duplicates(...)`` or events.

    >>> plot_duplicates(duplicates(events)).savefig("duplicates.png")
    """
    if isinstance(result, pd.DataFrame):
        result = duplicates(result, freq=freq, storm_threshold=storm_threshold)
    figure, ax = axes(ax)
    windows = result.per_window
    ax.plot(windows["window"], windows["duplicates"], drawstyle="steps-mid", label="duplicates")
    ax.plot(windows["window"], windows["conflicts"], drawstyle="steps-mid", color="tab:red", label="conflicts")
    if len(result.storms):
        ax.scatter(result.storms["window"], result.storms["duplicates"], color="black", zorder=3, label="storm")
    ax.set(xlabel="arrival window", ylabel="attempts",
           title=f"{result.duplicate_count} duplicates, {result.conflict_count} conflicts")
    ax.legend(loc="upper right")
    ax.tick_params(axis="x", labelrotation=30)
    return figure
