"""Lateness: how long events took to arrive, per group, and what a watermark policy would drop."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pik.core.records import ACCEPTED

from .._format import counted, table
from .._times import duration
from ._provenance import derived
from .durations import humanize
from .plotting import pair

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

LATENESS_COLUMNS = [
    "count",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "max_ms",
    "late_count",
    "late_share",
    "negative_count",
    "out_of_order",
]


@derived("lateness")
def lateness(
    events: pd.DataFrame,
    by: str | Sequence[str] | None = None,
    *,
    threshold: str | pd.Timedelta = "1h",
    statuses: Sequence[str] | None = (ACCEPTED,),
) -> pd.DataFrame:
    """Lag statistics per group: count, p50/p90/p99/max lag (ms, linear percentiles), how many and
    what share arrived later than ``threshold``, negative lags (producer clock ahead) and
    out-of-order arrivals (an event older than one its entity had already delivered).

    Counts first arrivals (``statuses=("ACCEPTED",)``) unless told otherwise; ``None`` = all attempts.

    >>> lateness(events, by="source").loc["checkout", "p99_ms"]
    """
    rows = _selected(events, statuses)
    limit = duration(threshold, "threshold", positive=False) // pd.Timedelta(milliseconds=1)
    lag = rows["ingest_lag_ms"]
    keys = _keys(rows, by)
    frame = pd.DataFrame(
        {"lag": lag, "late": lag > limit, "negative": lag < 0, "out_of_order": out_of_order(rows)}
    ).assign(**{f"_k{i}": k for i, k in enumerate(keys)})
    group_keys = [c for c in frame.columns if c.startswith("_k")]
    grouped = frame.groupby(group_keys, observed=True, sort=True)
    result = grouped["lag"].agg(["count", "max"]).rename(columns={"max": "max_ms"})
    for q in (50, 90, 99):
        result[f"p{q}_ms"] = grouped["lag"].quantile(q / 100)
    result["late_count"] = grouped["late"].sum()
    result["late_share"] = result["late_count"] / result["count"]
    result["negative_count"] = grouped["negative"].sum()
    result["out_of_order"] = grouped["out_of_order"].sum()
    result.index.names = _names(by)
    return result[LATENESS_COLUMNS].astype(
        {"count": "int64", "max_ms": "int64", "late_count": "int64", "negative_count": "int64", "out_of_order": "int64"}
    )


@derived("out_of_order")
def out_of_order(events: pd.DataFrame) -> pd.Series:
    """True for an attempt whose event time is earlier than one its entity delivered before it."""
    order = events.sort_values(["entity_id", "ingest_time"], kind="stable")
    seen = order.groupby("entity_id", observed=True, sort=False)["event_time"].cummax()
    previous = seen.groupby(order["entity_id"], observed=True, sort=False).shift()
    return (order["event_time"] < previous).reindex(events.index)


@dataclass(frozen=True)
class LatenessPolicy:
    """What a watermark with ``allowed_lateness`` would have done: dropped rows and changed windows."""

    allowed_lateness: pd.Timedelta
    dropped: pd.DataFrame  # the attempts it drops, with ``window``, ``closed_at`` and ``late_by_ms``
    windows: pd.DataFrame  # per (entity_id, window): ``arrived``, ``dropped``, ``kept``, ``dropped_share``

    def _repr_html_(self) -> str:
        more = " (first 20 shown)" if len(self.windows) > 20 else ""
        drops, changes = counted(len(self.dropped), "event"), counted(len(self.windows), "window")
        return (
            f"<p>allowed lateness {humanize(self.allowed_lateness)}: drops <b>{drops}</b>, "
            f"changes <b>{changes}</b>{more}</p>" + table(self.windows.head(20))._repr_html_()
        )


@derived("lateness_policy")
def lateness_policy(
    events: pd.DataFrame, allowed_lateness: str | pd.Timedelta = "1h", *, freq: str = "1D"
) -> LatenessPolicy:
    """Replay-free what-if: windows of ``freq`` close ``allowed_lateness`` after they end (on the
    arrival clock); first arrivals after that are dropped.

    >>> policy = lateness_policy(events, allowed_lateness="2h")
    >>> len(policy.dropped), policy.windows[["entity_id", "window", "dropped"]]
    """
    allowed, step = duration(allowed_lateness, "allowed_lateness", positive=False), duration(freq, "freq")
    rows = _selected(events, (ACCEPTED,))
    window = rows["event_time"].dt.floor(step)
    closed_at = window + step + allowed
    late = rows["ingest_time"] > closed_at
    dropped = rows[late].assign(
        window=window[late],
        closed_at=closed_at[late],
        late_by_ms=(rows["ingest_time"] - closed_at)[late] // pd.Timedelta(milliseconds=1),
    )
    counts = pd.DataFrame({"entity_id": rows["entity_id"], "window": window, "dropped": late})
    windows = counts.groupby(["entity_id", "window"], observed=True).agg(
        arrived=("dropped", "size"), dropped=("dropped", "sum")
    )
    windows = windows[windows["dropped"] > 0].assign(kept=lambda w: w["arrived"] - w["dropped"])
    windows["dropped_share"] = windows["dropped"] / windows["arrived"]
    return LatenessPolicy(allowed, dropped.reset_index(drop=True), windows.reset_index())


def plot_lateness(
    events: pd.DataFrame,
    ax: Axes | Sequence[Axes] | None = None,
    *,
    sample: int = 20_000,
    statuses: Sequence[str] | None = (ACCEPTED,),
) -> Figure:
    """Lag distribution up to p99 (left) and the arrival timeline: each event's lag by its event
    time (right, sampled; red = producer clock ahead). ``ax`` may be two axes.

    >>> plot_lateness(events).savefig("lateness.png")
    """
    figure, (left, right) = pair(ax)
    rows = _selected(events, statuses)
    lags = rows["ingest_lag_ms"].to_numpy()
    p99_ms = float(np.percentile(lags, 99)) if len(lags) else 0.0
    unit, size = ("hours", 3_600_000) if p99_ms >= 3 * 3_600_000 else ("minutes", 60_000)  # no "5,000 minutes" axis
    values = lags / size
    if len(values):
        p50, p99 = np.percentile(values, [50, 99])
        left.hist(values[values <= p99], bins=60, color="tab:blue")
        for value, name in ((p50, "p50"), (p99, "p99")):
            left.axvline(value, color="black", linestyle="--", linewidth=1)
            left.annotate(
                f"{name} {humanize(value * size)}",
                (value, 1),
                xycoords=("data", "axes fraction"),
                rotation=90,
                va="top",
                ha="right",
                fontsize="small",
            )
    left.set(
        xlabel=f"lag ({unit}, up to p99)", ylabel="events", title=f"lag distribution ({counted(len(values), 'event')})"
    )
    shown = rows.sample(min(sample, len(rows)), random_state=0) if len(rows) > sample else rows
    right.scatter(
        shown["event_time"],
        shown["ingest_lag_ms"] / 3_600_000,
        s=3,
        alpha=0.4,
        c=np.where(shown["ingest_lag_ms"] < 0, "tab:red", "tab:blue"),
    )
    right.set(xlabel="event time", ylabel="lag (hours)", title="arrival timeline: lag by event time")
    right.tick_params(axis="x", labelrotation=30)
    return figure


def _selected(events: pd.DataFrame, statuses: Sequence[str] | None) -> pd.DataFrame:
    return events if statuses is None else events[events["status"].isin(list(statuses))]


def _keys(rows: pd.DataFrame, by: str | Sequence[str] | None) -> list[Any]:
    if by is None:
        return [np.full(len(rows), "all", dtype=object)]
    return [rows[name] for name in ([by] if isinstance(by, str) else list(by))]


def _names(by: str | Sequence[str] | None) -> list[str]:
    return ["group"] if by is None else ([by] if isinstance(by, str) else list(by))
