"""Gaps: windows a key should have delivered (by its own cadence) but did not, and why.

Classes, first match wins:
- ``arrived_late``: first arrivals exist, all after the window's first aggregate version was computed;
- ``only_duplicates``: attempts exist but none was a first arrival (all DUPLICATE or CONFLICT, e.g.
  a producer reusing idempotency keys);
- ``only_rejected``: nothing reached the index, but the quarantine holds requests for the window;
- ``never_arrived``: no trace at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pik.core.records import ACCEPTED

from .._format import counted
from .._times import duration, utc
from ._provenance import derived
from .plotting import axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

GAP_CLASSES = ["never_arrived", "arrived_late", "only_rejected", "only_duplicates"]
GAP_COLUMNS = ["window", "window_end", "gap_class", "cadence", "late_arrivals", "repeats", "rejected"]


STREAM = ("source", "event_type")


@derived("gaps")
def gaps(
    events: pd.DataFrame,
    freq: str = "1D",
    by: str = "entity_id",
    *,
    aggregates: pd.DataFrame | None = None,
    rejected: pd.DataFrame | None = None,
    start=None,
    end=None,
    per_stream: bool = True,
) -> pd.DataFrame:
    """Missing windows per key, one row each (``by``, its stream, then ``GAP_COLUMNS``), classified (see module doc).

    A key is judged per stream (``by`` × source × event_type, unless ``per_stream=False``): an entity
    whose ``web`` events arrive every day still misses the day its ``mobile_app`` events did not.
    A key's cadence is its most common step between windows with first arrivals (ties: the shorter);
    expected windows run from its first to its last active window, or across ``[start, end)``.
    ``aggregates`` (``Kit.aggregates``) enables ``arrived_late``; ``rejected`` (``Kit.rejected``)
    enables ``only_rejected``.

    >>> gaps(events, freq="1D", aggregates=aggs, rejected=kit.rejected(days=7))
    """
    step = duration(freq, "freq").value
    keys = [by, *[c for c in STREAM if per_stream and c != by and c in events]]
    counts = _window_counts(events, keys, step, aggregates)
    if rejected is not None and len(rejected) and by in rejected:  # a rejected body names entity, source, type
        counts = counts.add(_rejected_counts(rejected, keys, step, events), fill_value=0)
    counts = counts.reindex(columns=["on_time", "late_arrivals", "repeats", "rejected"]).fillna(0).astype("int64")
    grid = _grid(counts, keys, step, start, end)
    found = grid.join(counts, on=[*keys, "idx"]).fillna(0)
    missing = found[found["on_time"] == 0].copy()
    missing["gap_class"] = pd.Categorical(
        np.select(
            [missing["late_arrivals"] > 0, missing["repeats"] > 0, missing["rejected"] > 0],
            ["arrived_late", "only_duplicates", "only_rejected"],
            "never_arrived",
        ),
        categories=GAP_CLASSES,
    )
    missing["window"] = pd.to_datetime(missing["idx"] * step, utc=True).astype("datetime64[us, UTC]")
    missing["window_end"] = missing["window"] + pd.Timedelta(step)
    missing["cadence"] = pd.to_timedelta(missing["cadence_steps"] * step)
    result = missing[[*keys, *GAP_COLUMNS]].astype({c: "int64" for c in ("late_arrivals", "repeats", "rejected")})
    result = result.sort_values([*keys, "window"], kind="stable").reset_index(drop=True)
    if len(grid):  # the calendar the gaps lie in, for ``plot_gaps``
        result.attrs.update(
            freq=freq,
            keys=keys,
            first=pd.Timestamp(int(grid["idx"].min()) * step, tz="UTC"),
            last=pd.Timestamp(int(grid["idx"].max()) * step, tz="UTC"),
        )
    return result


def _ns(times: pd.Series) -> np.ndarray:
    return times.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]").astype("int64")


def _window_counts(events: pd.DataFrame, keys: list[str], step: int, aggregates: pd.DataFrame | None) -> pd.DataFrame:
    """Per (key..., window index): on-time and late first arrivals, repeats."""
    first = (events["status"] == ACCEPTED).to_numpy()
    late = first & _after_aggregate(events, aggregates)
    flags = pd.DataFrame(
        {
            **{k: events[k].to_numpy() for k in keys},
            "idx": _ns(events["event_time"]) // step,
            "on_time": first & ~late,
            "late_arrivals": late,
            "repeats": ~first,
        }
    )
    return flags.groupby([*keys, "idx"], observed=True, sort=False).sum().astype("int64")


def _after_aggregate(events: pd.DataFrame, aggregates: pd.DataFrame | None) -> np.ndarray:
    """True where the attempt arrived after its (entity, day)'s first aggregate version."""
    if aggregates is None or not len(aggregates):
        return np.zeros(len(events), dtype=bool)
    first = aggregates.groupby(["entity_id", "day"], observed=True)["computed_at"].min().rename("computed_at")
    joined = events[["entity_id", "event_date", "ingest_time"]].join(first, on=["entity_id", "event_date"])
    return (joined["ingest_time"] > joined["computed_at"]).to_numpy()


def _rejected_counts(rejected: pd.DataFrame, keys: list[str], step: int, events: pd.DataFrame) -> pd.DataFrame:
    """Per (key..., window index): quarantined requests of the keys ``events`` has (a rejected body
    naming a stream that never delivered, e.g. an invalid source, is no stream to expect); without
    stream columns, a request counts for every stream of its key."""
    present = [k for k in keys if k in rejected]
    known = rejected[rejected["event_time"].notna() & rejected[present].notna().all(axis=1)]
    streams = events[keys].drop_duplicates().astype("str")
    known = known[[*present, "event_time"]].astype({k: "str" for k in present}).merge(streams, on=present)
    frame = pd.DataFrame(
        {**{k: known[k].to_numpy() for k in keys}, "idx": _ns(known["event_time"]) // step, "rejected": 1}
    )
    return frame.groupby([*keys, "idx"]).sum()


def _grid(counts: pd.DataFrame, keys: list[str], step: int, start, end) -> pd.DataFrame:
    """Every expected (key..., window index) at each key's cadence."""
    active = counts.reset_index()
    with_first = active[(active["on_time"] + active["late_arrivals"]) > 0].sort_values([*keys, "idx"])
    steps = with_first.assign(step=with_first.groupby(keys, observed=True)["idx"].diff()).dropna(subset=["step"])
    tally = steps.groupby([*keys, "step"], observed=True).size().rename("n").reset_index()
    modal = tally.sort_values([*keys, "n", "step"], ascending=[*[True] * len(keys), False, True])
    cadence = modal.drop_duplicates(keys).set_index(keys)["step"]
    span = active.groupby(keys, observed=True)["idx"].agg(["min", "max"])
    span["cadence_steps"] = cadence.reindex(span.index).fillna(1).astype("int64")
    low = span["min"] if start is None else _ceil_div(pd.Timestamp(utc(start)).value, step)
    high = span["max"] if end is None else -_ceil_div(-pd.Timestamp(utc(end)).value, step) - 1
    k_low = _ceil_div(low - span["min"], span["cadence_steps"])
    k_high = (high - span["min"]) // span["cadence_steps"]
    sizes = np.maximum(k_high - k_low + 1, 0).to_numpy()
    grid = span.index.repeat(sizes).to_frame(index=False)
    offsets = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    k = np.repeat(k_low.to_numpy(), sizes) + offsets
    cad = np.repeat(span["cadence_steps"].to_numpy(), sizes)
    return grid.assign(idx=np.repeat(span["min"].to_numpy(), sizes) + k * cad, cadence_steps=cad)


def _ceil_div(a, b):
    return -(-a // b)


def plot_gaps(
    result: pd.DataFrame, ax: Axes | None = None, *, by: str | None = None, max_keys: int = 50, start=None, end=None
) -> Figure:
    """Key × window calendar of ``gaps(...)``: one cell per key and window (a day for ``freq="1D"``,
    labelled), grey where nothing is missing, one colour per gap class; the ``max_keys`` keys with most gaps.

    The calendar spans ``[start, end)`` when given, else the windows ``gaps`` checked, so one
    missing day is one cell among the days around it.

    >>> plot_gaps(gaps(events, start="2026-11-20", end="2026-11-27"), start="2026-11-20", end="2026-11-27")
    """
    by = by or result.columns[0]
    result = result.assign(_row=_row_labels(result, by))
    figure, ax = axes(ax, height=max(2.5, min(12, 0.3 * result["_row"].nunique() + 2)))
    if result.empty:
        ax.set(title="no missing windows", xticks=[], yticks=[])
        return figure
    windows = _calendar(result, start, end)
    top = result["_row"].value_counts().index[:max_keys]
    shown = result[result["_row"].isin(top)]
    codes = shown.assign(code=shown["gap_class"].cat.codes + 1)
    matrix = codes.pivot(index="_row", columns="window", values="code").reindex(columns=windows).fillna(0)
    from matplotlib.colors import ListedColormap

    colours = ListedColormap(["#e6e6e6", "tab:red", "tab:orange", "tab:purple", "tab:blue"])
    ax.imshow(matrix.to_numpy(), aspect="auto", cmap=colours, vmin=0, vmax=len(GAP_CLASSES), interpolation="nearest")
    ax.set_xticks(np.arange(-0.5, len(windows)), minor=True)
    ax.set_yticks(np.arange(-0.5, len(matrix.index)), minor=True)
    ax.grid(which="minor", color="white", linewidth=2)
    ax.tick_params(which="minor", length=0)
    ax.set_yticks(range(len(matrix.index)), [str(k) for k in matrix.index])
    daily = pd.Timedelta(result.attrs.get("freq") or (result["window_end"] - result["window"]).min()) >= pd.Timedelta(
        "1D"
    )
    ticks = np.arange(len(windows)) if len(windows) <= 31 else np.linspace(0, len(windows) - 1, 12).astype(int)
    ax.set_xticks(
        ticks,
        [windows[i].strftime("%Y-%m-%d" if daily else "%m-%d %H:%M") for i in ticks],
        rotation=30 if len(ticks) > 7 or not daily else 0,
        ha="right" if len(ticks) > 7 or not daily else "center",
    )
    handles = [ax.bar(0, 0, color=colours(i), label=name) for i, name in enumerate(["no gap", *GAP_CLASSES])]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    ax.set(
        title=counted(len(result), "missing day" if daily else "missing window"),
        xlabel="day" if daily else "window",
        ylabel=by,
    )
    return figure


def _row_labels(result: pd.DataFrame, by: str) -> pd.Series:
    """One calendar row per key, naming its stream (``user_002 · mobile_app/workout_completed``) when
    the gaps lie in more than one stream."""
    names = result[by].astype(str)
    if not all(c in result and c != by for c in STREAM):
        return names
    streams = result["source"].astype(str) + "/" + result["event_type"].astype(str)
    return names + " · " + streams if streams.nunique() > 1 else names


def _calendar(result: pd.DataFrame, start, end) -> pd.DatetimeIndex:
    """Every window of the calendar: ``[start, end)``, else what ``gaps`` checked, else the gaps' own span."""
    step = result.attrs.get("freq") or (result["window_end"] - result["window"]).min()
    first = (
        pd.Timestamp(utc(start)).floor(step) if start is not None else result.attrs.get("first", result["window"].min())
    )
    last = (
        (pd.Timestamp(utc(end)) - pd.Timedelta(microseconds=1)).floor(step)
        if end is not None
        else result.attrs.get("last", result["window"].max())
    )
    first, last = min(first, result["window"].min()), max(last, result["window"].max())
    return pd.date_range(first, last, freq=step).astype(result["window"].dtype)
