"""Pipeline health: pik's metrics over a window, one row per period, from CloudWatch or EMF lines.

A deployed stack's functions publish EMF metrics (namespace ``Pik``, dimension ``service=pik``)
that CloudWatch turns into metrics: ``from_cloudwatch`` reads them with ``GetMetricData``. The
local stack's functions print the same EMF lines into its Lambda log: ``from_emf`` aggregates
them the way CloudWatch would. Both give the same frame (``COLUMNS``):

    time (index, UTC, start of each period) | IngestRequestCount | IngestCount | DuplicateCount | ...
    (every count of ``pik.core.pipeline_metrics.COUNTS``, in its order) | IngestLagMs_p50 | IngestLagMs_p99

Counts are sums per period (0 when nothing happened); lag percentiles are NaN without events.
Metrics are dated at arrival (when the request reached the API), not at event time: the notebook's
view (``span``) covers both the incident window and when the window's events arrived.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from pik.core.pipeline_metrics import COUNTS, LAG, METRIC_COLUMNS, NAMESPACE, PERCENTILES, SERVICE

from .._errors import ScopeError
from .._format import counted
from .._times import Time, utc
from .durations import humanize
from .plotting import _new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLUMNS = METRIC_COLUMNS


def period_of(period: str | int | pd.Timedelta) -> pd.Timedelta:
    """``period_of("5min") == period_of(300)``; at least a minute, whole minutes (CloudWatch's rule).

    >>> period_of("1h").total_seconds()
    3600.0
    """
    rule = "period must be a whole number of minutes, at least one, like '5min', '1h' or 300 (seconds)"
    try:
        value = pd.Timedelta(seconds=period) if isinstance(period, (int, float)) else pd.Timedelta(period)
    except (ValueError, TypeError):
        raise ScopeError(f"{rule}: got {period!r}") from None
    if value < pd.Timedelta(minutes=1) or value % pd.Timedelta(minutes=1):
        raise ScopeError(f"{rule}: got {period!r}")
    return value


MAX_PERIODS = 100_000  # rows one call may build (69 days of minutes): a typo'd year is refused, not allocated


def _bound(name: str, value: Time) -> datetime:
    """A window bound pandas can read (``2026-11-20``, an aware or naive time, a Timestamp), else a ScopeError."""
    try:
        return utc(value)  # what is no time is utc's ScopeError (NaT, None and NaN included)
    except (ValueError, TypeError, OverflowError, ScopeError):
        raise ScopeError(
            f"{name} must be a date or time like 2026-11-20 or 2026-11-20T10:00:00Z: got {value!r}"
        ) from None


def _window(start: Time, end: Time, period: str | int | pd.Timedelta) -> tuple[datetime, datetime, pd.Timedelta]:
    low, high = _bound("start", start), _bound("end", end)
    if low >= high:
        raise ScopeError(f"start must be before end: got start={low.isoformat()}, end={high.isoformat()}")
    step = period_of(period)
    periods = (pd.Timestamp(high) - pd.Timestamp(low).floor(step)) / step
    if periods > MAX_PERIODS:
        raise ScopeError(
            f"{periods:,.0f} periods of {humanize(step)} from {low:%Y-%m-%d} to {high:%Y-%m-%d} exceed "
            f"the bound of {MAX_PERIODS:,} rows: choose a longer period or a shorter window"
        )
    return low, high, step


def _dated(frame: pd.DataFrame, source: str, start: datetime, end: datetime) -> pd.DataFrame:
    frame.attrs.update(source=source, start=pd.Timestamp(start), end=pd.Timestamp(end))
    return frame


def _grid(start: datetime, end: datetime, period: pd.Timedelta) -> pd.DatetimeIndex:
    first = pd.Timestamp(start).floor(period)
    return pd.date_range(first, pd.Timestamp(end), freq=period, inclusive="left", name="time")


def samples(lines: Iterable[str]) -> pd.DataFrame:
    """Every metric value of the EMF lines among ``lines`` (other log lines are skipped):
    columns ``time`` (UTC), ``metric``, ``value``.

    >>> samples(['{"_aws": {"Timestamp": 0, "CloudWatchMetrics": [{"Metrics": [{"Name": "IngestCount"}]}]},'
    ...          ' "IngestCount": [2.0]}'])["value"].tolist()
    [2.0]
    """
    times, names, values = [], [], []
    for line in lines:
        if '"_aws"' not in line:
            continue
        try:
            record = json.loads(line)
            meta = record["_aws"]
            declared = [m["Name"] for block in meta["CloudWatchMetrics"] for m in block["Metrics"]]
        except (ValueError, KeyError, TypeError):
            continue  # a line that only mentions "_aws"
        for name in declared:
            value = record.get(name)
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, (int, float)):
                    times.append(meta["Timestamp"])
                    names.append(name)
                    values.append(float(item))
    return pd.DataFrame(
        {
            "time": pd.to_datetime(pd.Series(times, dtype="int64"), unit="ms", utc=True),
            "metric": pd.Series(names, dtype="string"),
            "value": pd.Series(values, dtype="float64"),
        }
    )


def from_emf(lines: Iterable[str], start: Time, end: Time, period: str | int = "1min") -> pd.DataFrame:
    """The health frame of EMF lines over ``[start, end)``: sums per period, lag percentiles."""
    start, end, step = _window(start, end, period)
    grid = _grid(start, end, step)
    rows = samples(lines)
    rows = rows[(rows["time"] >= start) & (rows["time"] < end)]
    bucket = rows["time"].dt.floor(step)
    frame = pd.DataFrame(index=grid)
    counts = rows[rows["metric"].isin(COUNTS)].groupby([bucket, "metric"])["value"].sum().unstack("metric")
    for name in COUNTS:
        column = counts[name] if name in counts.columns else pd.Series(dtype="float64")
        frame[name] = column.reindex(grid).fillna(0).astype("int64")
    lag = rows[rows["metric"] == LAG].groupby(bucket[rows["metric"] == LAG])["value"]
    for p in PERCENTILES:
        frame[f"{LAG}_p{p}"] = lag.quantile(p / 100).reindex(grid).astype("float64")
    return _dated(frame[COLUMNS], "emf", start, end)


def from_emf_file(path: str | Path, start: Time, end: Time, period: str | int = "1min") -> pd.DataFrame:
    """``from_emf`` over a log file (the local stack's ``lambda.log``); empty frame if it is missing."""
    path = Path(path)
    if not path.exists():
        return from_emf([], start, end, period)
    with path.open(encoding="utf-8", errors="replace") as lines:
        return from_emf(lines, start, end, period)


def metric_queries(period: pd.Timedelta, *, namespace: str = NAMESPACE, service: str = SERVICE) -> list[dict]:
    """The ``GetMetricData`` queries of the health frame: a Sum per count, p50/p99 of the lag."""
    seconds = int(period.total_seconds())

    def query(index: int, name: str, stat: str, label: str) -> dict:
        metric = {"Namespace": namespace, "MetricName": name, "Dimensions": [{"Name": "service", "Value": service}]}
        return {
            "Id": f"m{index}",
            "Label": label,
            "ReturnData": True,
            "MetricStat": {"Metric": metric, "Period": seconds, "Stat": stat},
        }

    wanted = [(name, "Sum", name) for name in COUNTS] + [(LAG, f"p{p}", f"{LAG}_p{p}") for p in PERCENTILES]
    return [query(i, name, stat, label) for i, (name, stat, label) in enumerate(wanted)]


def from_cloudwatch(
    client: Any,
    start: Time,
    end: Time,
    period: str | int = "1min",
    *,
    namespace: str = NAMESPACE,
    service: str = SERVICE,
) -> pd.DataFrame:
    """The health frame from CloudWatch ``GetMetricData`` (every page) over ``[start, end)``."""
    start, end, step = _window(start, end, period)
    grid = _grid(start, end, step)
    queries = metric_queries(step, namespace=namespace, service=service)
    labels = {q["Id"]: q["Label"] for q in queries}
    series: dict[str, dict] = {label: {} for label in labels.values()}
    kwargs: dict[str, Any] = {
        "MetricDataQueries": queries,
        "StartTime": grid[0].to_pydatetime() if len(grid) else start,
        "EndTime": end,
        "ScanBy": "TimestampAscending",
    }
    while True:
        page = client.get_metric_data(**kwargs)
        for result in page["MetricDataResults"]:
            for when, value in zip(result["Timestamps"], result["Values"], strict=True):
                series[labels[result["Id"]]][pd.Timestamp(when).tz_convert("UTC")] = value
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    frame = pd.DataFrame(index=grid)
    for label in COLUMNS:
        column = pd.Series(series[label], dtype="float64").reindex(grid)
        frame[label] = column.fillna(0).astype("int64") if label in COUNTS else column
    return _dated(frame, "cloudwatch", start, end)


def span(
    start: Time, end: Time, *, arrivals: Iterable[Time] = (), points: int = 72
) -> tuple[pd.Timestamp, pd.Timestamp, str]:
    """A view around ``[start, end)``: half its length again on each side (capped at now), widened
    to every time in ``arrivals`` (metrics are dated at arrival: pass the window's events'
    ``ingest_time`` so late arrivals, and events ingested long after they happened, are in view),
    and a period of whole minutes giving about ``points`` rows: ``(view_start, view_end, "120min")``.

    >>> span("2026-11-20", "2026-11-23")[2]
    '120min'
    """
    low, high = pd.Timestamp(utc(start)), pd.Timestamp(utc(end))
    pad = (high - low) / 2
    view_low, view_high = low - pad, min(high + pad, pd.Timestamp.now(tz="UTC").ceil("min"))
    arrived = pd.to_datetime(pd.Series(list(arrivals), dtype="object"), utc=True).dropna()
    if len(arrived):
        view_low = min(view_low, arrived.min().floor("min"))
        view_high = max(view_high, arrived.max().floor("min") + pd.Timedelta(minutes=1))
    view_high = max(view_high, high)
    minutes = max(1, int((view_high - view_low) / pd.Timedelta(minutes=1) / points))
    nice = next((m for m in (1, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440) if m >= minutes), 1440)
    return view_low, view_high, f"{nice}min"


def _where(when: pd.Timestamp, start: pd.Timestamp, end: pd.Timestamp) -> str:
    return "inside the incident window" if start <= when < end else ("before" if when < start else "after") + " it"


def summary(health: pd.DataFrame, start: Time, end: Time) -> str:
    """One sentence on the whole health frame (the plotted range, metrics dated at arrival): events
    by status and the worst lag p99, placed against the incident window ``[start, end)``.

    >>> summary(frame, "2026-11-20", "2026-11-23")     # doctest: +SKIP
    'from 2026-11-18 12:00 to 2026-11-24 12:00 UTC (the plotted range), 1,204 events arrived (1,100 accepted, ...);
    lag p99 peaked at 26 h in the period starting 2026-11-21 10:00 UTC, inside the incident window.'
    """

    low, high = pd.Timestamp(utc(start)), pd.Timestamp(utc(end))
    first = health.attrs.get("start", health.index[0] if len(health) else low)
    last = health.attrs.get("end", health.index[-1] if len(health) else high)
    measured = f"from {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC"
    if health[list(COUNTS)].to_numpy().sum() == 0:
        if health.attrs.get("source") == "cloudwatch":
            return f"no ingest metrics {measured} (a deployed stack's metrics appear in CloudWatch within minutes)."
        return (
            f"nothing arrived {measured} in this local run's Lambda log (metrics are dated at arrival; the log "
            f"starts empty at every `pik local up`)."
        )
    total = int(health["IngestRequestCount"].sum())
    parts = [
        counted(health[c].sum(), one, many)
        for c, one, many in [
            ("IngestCount", "accepted", "accepted"),
            ("DuplicateCount", "duplicate", None),
            ("ConflictCount", "conflict", None),
            ("RejectedCount", "rejected", "rejected"),
            ("IngestErrorCount", "failed", "failed"),
        ]
        if health[c].sum()
    ]
    text = f"{measured} (the plotted range), {counted(total, 'event')} arrived ({', '.join(parts)})"
    p99 = health[f"{LAG}_p99"]
    if p99.notna().any():
        peak = p99.idxmax()
        text += (
            f"; lag p99 peaked at {humanize(p99.max())} in the period starting {peak:%Y-%m-%d %H:%M} UTC, "
            f"{_where(peak, low, high)}"
        )
    return text + "."


def plot_health(health: pd.DataFrame, *, window: tuple[Time, Time] | None = None) -> Figure:
    """Ingest rate by status and lag p50/p99 over time, ``window`` (e.g. the incident's) shaded.

    >>> plot_health(kit.metrics(start, end, "1h"), window=(incident_start, incident_end))   # doctest: +SKIP
    """
    figure = _new_figure(10, 5.5)
    rate, lag = figure.subplots(2, 1, sharex=True)
    statuses = {
        "IngestCount": "accepted",
        "DuplicateCount": "duplicate",
        "ConflictCount": "conflict",
        "RejectedCount": "rejected",
        "IngestErrorCount": "failed",
    }
    times = health.index.tz_convert("UTC").tz_localize(None) if len(health) else health.index
    for column, label in statuses.items():
        if health[column].any():
            rate.plot(times, health[column], label=label, drawstyle="steps-post")
    rate.set_title("Ingest rate by status")
    step = health.index.to_series().diff().min() if len(health) > 1 else None
    rate.set_ylabel(f"events per {humanize(step)}" if step is not None else "events per period")
    if rate.get_legend_handles_labels()[0]:
        rate.legend(loc="upper left", fontsize="small")
    for p in PERCENTILES:
        values = health[f"{LAG}_p{p}"] / 3_600_000
        if values.notna().any():
            lag.plot(times, values, marker=".", linestyle="-", label=f"p{p}")
    lag.set_title("Ingest lag (arrival minus event time)")
    lag.set_ylabel("lag (hours)")
    lag.set_xlabel("time (UTC)")
    if lag.get_legend_handles_labels()[0]:
        lag.legend(loc="upper left", fontsize="small")
    if window is not None:
        low, high = (pd.Timestamp(utc(t)).tz_localize(None) for t in window)
        for ax in (rate, lag):
            ax.axvspan(low, high, color="tab:red", alpha=0.12, label="incident window")
    figure.autofmt_xdate()
    return figure


__all__ = [
    "COLUMNS",
    "from_cloudwatch",
    "from_emf",
    "from_emf_file",
    "metric_queries",
    "plot_health",
    "samples",
    "span",
    "summary",
]
