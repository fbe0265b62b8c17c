"""Duplicates and conflicts: per event, per source, per arrival window, storms, conflicting payloads."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from pik.core.records import ACCEPTED, CONFLICT, DUPLICATE

from .._format import a_window, counted, period, table
from .._times import duration
from ._provenance import derived
from .plotting import axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


# Candidate storm windows, finest first: ``freq="auto"`` takes the first in which the scope's
# normal traffic is at least ``_NORMAL_PER_WINDOW`` first arrivals, so "normal" is a count, not noise.
_WINDOWS = ("1min", "5min", "15min", "1h", "6h", "1D")
_NORMAL_PER_WINDOW = 10


@dataclass(frozen=True)
class Duplicates:
    """The result of ``duplicates(events)``; every frame is small (repeats only, or aggregated)."""

    duplicate_count: int  # DUPLICATE attempts (same event again)
    conflict_count: int  # CONFLICT attempts (same identity, other content)
    per_event: (
        pd.DataFrame
    )  # event_id, entity_id, source, event_type, duplicates, conflicts, attempts, first/last_repeat
    per_source: pd.DataFrame  # source, event_type, events, attempts, duplicates, conflicts, duplicate_rate
    per_window: (
        pd.DataFrame
    )  # source, event_type, window (arrival floored to freq), duplicates, conflicts, normal, ratio
    storms: pd.DataFrame  # the per_window rows whose duplicates make a storm (see ``duplicates``)
    conflicts: pd.DataFrame  # one row per CONFLICT attempt with both payload hashes and raw keys
    freq: str = "1min"  # the arrival window used
    normal: float = 0.0  # the typical (median) stream's normal first arrivals per window
    storm_min: float = 0.0  # duplicates a window of that typical stream needs to be a storm

    @property
    def stormed(self) -> int:
        """Duplicate attempts that arrived inside storm windows."""
        return int(self.storms["duplicates"].sum())

    def storm_summary(self) -> str:
        """The storms in one sentence, for a finding.

            >>> duplicates(events).storm_summary()  # doctest: +ELLIPSIS
            'a duplicate storm: 31 duplicates in a 1-day window from 2026-11-27 00:00 UTC in mobile_app/...'

        A storm whose streams had every event sent again (a re-ingested file, a producer replaying its
        outbox) says so: ``... against 50 new events per window on average: each of the 50 events of
        checkout/order_placed was sent again)``.
        """
        if self.storms.empty:
            return f"no duplicate storm ({self.storm_min:.0f} or more duplicates in {a_window(self.freq)} would be one)"
        first, last = self.storms["window"].min(), self.storms["window"].max() + pd.Timedelta(self.freq)
        span = (
            f"from {first:%Y-%m-%d %H:%M}"
            if len(self.storms) == 1
            else f"between {first:%Y-%m-%d %H:%M} and {last:%Y-%m-%d %H:%M}"
        )
        windows = a_window(self.freq) if len(self.storms) == 1 else f"{len(self.storms)} windows of {period(self.freq)}"
        streams = ", ".join(sorted({f"{r.source}/{r.event_type}" for r in self.storms.itertuples()}))
        normal = self.storms["normal"].max()
        return (
            f"a duplicate storm: {self.stormed} duplicates in {windows} {span} UTC in {streams} "
            f"(up to {self.storms['duplicates'].max()} duplicates in a window, against {normal:,.0f} new events per "
            f"window on average{self._resent()})"
        )

    def _resent(self) -> str:
        """``": each of the 50 events of s/t was sent again"`` when every event of the storm's
        streams has a duplicate (the whole stream sent twice), else ``""``."""
        stormed = self.storms[["source", "event_type"]].drop_duplicates()
        streams = self.per_source.merge(stormed, on=["source", "event_type"])
        repeated = (
            self.per_event[self.per_event["duplicates"] > 0].groupby(["source", "event_type"], observed=True).size()
        )
        whole = [r for r in streams.itertuples() if r.events and repeated.get((r.source, r.event_type), 0) >= r.events]
        if not whole or len(whole) != len(streams):
            return ""
        total = sum(r.events for r in whole)
        names = ", ".join(f"{r.source}/{r.event_type}" for r in whole)
        return f": each of the {total:,} events of {names} was sent again"

    def _repr_html_(self) -> str:
        return (
            f"<p><b>{counted(self.duplicate_count, 'duplicate')}</b>, <b>{counted(self.conflict_count, 'conflict')}"
            f"</b>; {html.escape(self.storm_summary())}</p>" + table(self.per_source)._repr_html_()
        )


@derived("duplicates")
def duplicates(
    events: pd.DataFrame,
    *,
    freq: str = "auto",
    storm_factor: float = 1.0,
    min_storm: int = 5,
    storm_threshold: int | None = None,
) -> Duplicates:
    """Count repeats and find storms: arrival windows of ``freq`` where a stream's duplicates reach
    ``storm_factor`` times that stream's normal rate of first arrivals (ACCEPTED per window over its
    arrival span), and at least ``min_storm``; ``storm_threshold`` sets a fixed count instead.

    ``freq="auto"``: the finest of 1min, 5min, 15min, 1h, 6h, 1D in which the typical (median)
    stream has 10 or more first arrivals per window, so a storm is measured against each stream's own
    traffic: retries that double a stream's volume are a storm, whether it carries 5 events an hour
    or 5,000 a minute, and a quiet stream's storm is not drowned by a busy neighbour.

    >>> d = duplicates(events)
    >>> d.duplicate_count, d.conflict_count, d.storms[["source", "window", "duplicates", "normal"]]
    """
    status = events["status"]
    repeats = events[status.isin([DUPLICATE, CONFLICT])]
    flags = pd.DataFrame({"duplicates": repeats["status"] == DUPLICATE, "conflicts": repeats["status"] == CONFLICT})
    first_arrivals = events.loc[status == ACCEPTED, ["source", "event_type", "ingest_time"]]
    if freq != "auto":
        duration(freq, "freq")  # a window that is no duration is refused here, by name
    freq = _storm_window(first_arrivals) if freq == "auto" else freq
    normal = _normal_rates(first_arrivals, freq)
    keys = [repeats["source"], repeats["event_type"], repeats["ingest_time"].dt.floor(freq).rename("window")]
    per_window = flags.groupby(keys, observed=True).sum().astype("int64").reset_index()
    per_window["normal"] = per_window.join(normal, on=["source", "event_type"])["normal"].fillna(0.0).to_numpy()
    per_window["ratio"] = per_window["duplicates"] / per_window["normal"].where(per_window["normal"] > 0)
    level = (
        pd.Series(float(storm_threshold), index=per_window.index)
        if storm_threshold is not None
        else (storm_factor * per_window["normal"]).clip(lower=float(min_storm))
    )
    stream_normal = float(normal.median()) if len(normal) else 0.0
    return Duplicates(
        duplicate_count=int((status == DUPLICATE).sum()),
        conflict_count=int((status == CONFLICT).sum()),
        per_event=_per_event(repeats, flags),
        per_source=_per_source(events),
        per_window=per_window,
        storms=per_window[per_window["duplicates"] >= level].reset_index(drop=True),
        conflicts=_conflicts(events, repeats[flags["conflicts"]]),
        freq=freq,
        normal=stream_normal,
        storm_min=float(storm_threshold)
        if storm_threshold is not None
        else max(float(min_storm), storm_factor * stream_normal),
    )


def _normal_rates(first_arrivals: pd.DataFrame, freq: str) -> pd.Series:
    """Per stream (source, event_type): first arrivals per window of ``freq`` over its arrival span."""
    grouped = first_arrivals.groupby(["source", "event_type"], observed=True)["ingest_time"]
    span = grouped.max().dt.floor(freq) - grouped.min().dt.floor(freq)
    return (grouped.size() / (span // pd.Timedelta(freq) + 1)).rename("normal")


def _storm_window(first_arrivals: pd.DataFrame) -> str:
    return next((f for f in _WINDOWS if _normal_rates(first_arrivals, f).median() >= _NORMAL_PER_WINDOW), _WINDOWS[-1])


def _per_event(repeats: pd.DataFrame, flags: pd.DataFrame) -> pd.DataFrame:
    grouped = pd.concat(
        [repeats[["event_id", "entity_id", "source", "event_type", "ingest_time"]], flags], axis=1
    ).groupby("event_id", observed=True)
    result = grouped.agg(
        entity_id=("entity_id", "first"),
        source=("source", "first"),
        event_type=("event_type", "first"),
        duplicates=("duplicates", "sum"),
        conflicts=("conflicts", "sum"),
        first_repeat=("ingest_time", "min"),
        last_repeat=("ingest_time", "max"),
    )
    result["attempts"] = result["duplicates"] + result["conflicts"] + 1
    return result.sort_values("attempts", ascending=False, kind="stable").reset_index()


def _per_source(events: pd.DataFrame) -> pd.DataFrame:
    counts = events.groupby(["source", "event_type", "status"], observed=True).size().unstack("status", fill_value=0)
    counts = counts.reindex(columns=[ACCEPTED, DUPLICATE, CONFLICT], fill_value=0)
    result = pd.DataFrame(
        {
            "events": counts[ACCEPTED],
            "attempts": counts.sum(axis=1),
            "duplicates": counts[DUPLICATE],
            "conflicts": counts[CONFLICT],
        }
    )
    result["duplicate_rate"] = (result["duplicates"] + result["conflicts"]) / result["attempts"]
    return result.astype({c: "int64" for c in ("events", "attempts", "duplicates", "conflicts")}).reset_index()


def _conflicts(events: pd.DataFrame, conflict_rows: pd.DataFrame) -> pd.DataFrame:
    accepted = events[(events["status"] == ACCEPTED) & events["event_id"].isin(conflict_rows["event_id"])]
    first = accepted[["event_id", "payload_sha256", "s3_key"]].rename(
        columns={"payload_sha256": "accepted_sha256", "s3_key": "accepted_s3_key"}
    )
    rows = conflict_rows[["event_id", "entity_id", "ingest_time", "attempt_id", "payload_sha256", "s3_key"]].rename(
        columns={"payload_sha256": "conflicting_sha256", "s3_key": "conflicting_s3_key"}
    )
    return rows.merge(first, on="event_id", how="left").reset_index(drop=True)


def plot_duplicates(
    result: Duplicates | pd.DataFrame, ax: Axes | None = None, *, freq: str = "auto", storm_threshold: int | None = None
) -> Figure:
    """Duplicates and conflicts per arrival window, storms marked; takes ``duplicates(...)`` or events.

    >>> plot_duplicates(duplicates(events)).savefig("duplicates.png")
    """
    if isinstance(result, pd.DataFrame):
        result = duplicates(result, freq=freq, storm_threshold=storm_threshold)
    figure, ax = axes(ax)
    windows = result.per_window.groupby("window")[["duplicates", "conflicts"]].sum().reset_index()
    windows = windows[windows["duplicates"] > 0]
    width = pd.Timedelta(result.freq)  # one bar per window that had duplicates; empty windows stay empty
    ax.bar(windows["window"], windows["duplicates"], width=width, align="edge", label="duplicates per window")
    if len(result.conflicts):  # each conflict where it arrived, on the floor of the axes
        ax.plot(
            result.conflicts["ingest_time"],
            [0] * len(result.conflicts),
            linestyle="none",
            marker="|",
            markersize=14,
            color="tab:red",
            label="conflict (at arrival)",
        )
    if len(result.storms):
        ax.scatter(
            result.storms["window"] + width / 2, result.storms["duplicates"], color="black", zorder=3, label="storm"
        )
    ax.axhline(result.storm_min, color="grey", linestyle=":", linewidth=1, label="storm level (typical stream)")
    ax.set(
        xlabel=f"arrival time ({period(result.freq, adjective=True)} windows)",
        ylabel="duplicate attempts per window",
        title=f"{counted(result.duplicate_count, 'duplicate')}, {counted(result.conflict_count, 'conflict')}",
    )
    ax.legend(loc="upper right")
    ax.tick_params(axis="x", labelrotation=30)
    return figure
