"""kit.metrics: the same health frame from the handlers' EMF lines and from CloudWatch (moto)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import boto3
import pandas as pd
import pytest

import pik_nb
from pik.core.timefmt import UTC
from pik.handlers import ingest
from pik_nb import ScopeError
from pik_nb.analyses import health
from tests.support.events import api_event, make_event
from tests.support.lambdas import LambdaContext

T0 = (datetime.now(UTC) - timedelta(hours=2)).replace(second=0, microsecond=0)


def ingest_at(body, arrived: datetime) -> None:
    ingest.handler(api_event("/ingest", body, arrived_ms=int(arrived.timestamp() * 1000)), LambdaContext())


def test_the_handlers_emf_lines_become_counts_and_lag_percentiles_per_period(stack, capsys):
    event = make_event(entity_id="h-1", event_time=(T0 - timedelta(hours=1)).isoformat())
    ingest_at(event, T0 + timedelta(seconds=10))  # ACCEPTED, lag 1 h 10 s
    ingest_at(event, T0 + timedelta(seconds=20))  # DUPLICATE
    ingest_at(
        {"events": [make_event(entity_id="h-2", event_time=(T0 - timedelta(minutes=30)).isoformat()), "bad"]},
        T0 + timedelta(minutes=2),
    )  # ACCEPTED (lag 32 min) + REJECTED
    lines = capsys.readouterr().out.splitlines()
    frame = health.from_emf(lines, T0 - timedelta(minutes=1), T0 + timedelta(minutes=4), "1min")
    assert list(frame.columns) == health.COLUMNS and len(frame) == 5
    assert frame.index[0] == pd.Timestamp(T0 - timedelta(minutes=1)) and str(frame.index.tz) == "UTC"
    assert frame["IngestCount"].tolist() == [0, 1, 0, 1, 0]
    assert frame["DuplicateCount"].tolist() == [0, 1, 0, 0, 0]
    assert frame["RejectedCount"].tolist() == [0, 0, 0, 1, 0]
    assert frame["IngestRequestCount"].tolist() == [0, 2, 0, 2, 0]
    lag = frame["IngestLagMs_p50"]
    assert (
        lag.iloc[1] == 3_615_000.0
        and lag.iloc[3] == 1_920_000.0
        and lag.isna().tolist() == [True, False, True, False, True]
    )


def test_a_local_kit_reads_the_stacks_lambda_log(tmp_path, stack, capsys):
    ingest_at(make_event(entity_id="log-1"), T0 + timedelta(seconds=30))
    log = tmp_path / "lambda.log"
    log.write_text("not json\n" + capsys.readouterr().out + '{"_aws": "broken"}\n')
    kit = pik_nb.connect(
        session=boto3.session.Session(region_name="us-east-1"), **stack.outputs, lambda_log_file=str(log)
    )
    frame = kit.metrics(T0, T0 + timedelta(hours=1), "1h")
    assert frame["IngestCount"].tolist() == [1, 0]  # periods start on the hour: [floor(T0), T0 + 1 h)
    assert frame["IngestLagMs_p99"].notna().tolist() == [True, False]


def test_cloudwatch_is_asked_for_sums_and_lag_percentiles_and_read_back(stack):
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    dims = [{"Name": "service", "Value": "pik"}]
    cloudwatch.put_metric_data(
        Namespace="Pik",
        MetricData=[
            {
                "MetricName": "IngestCount",
                "Dimensions": dims,
                "Timestamp": T0 + timedelta(seconds=5),
                "Value": 3,
                "Unit": "Count",
            },
            {
                "MetricName": "IngestCount",
                "Dimensions": dims,
                "Timestamp": T0 + timedelta(minutes=2),
                "Value": 4,
                "Unit": "Count",
            },
            {
                "MetricName": "ConflictCount",
                "Dimensions": dims,
                "Timestamp": T0 + timedelta(minutes=2),
                "Value": 1,
                "Unit": "Count",
            },
            {
                "MetricName": "IngestLagMs",
                "Dimensions": dims,
                "Timestamp": T0 + timedelta(seconds=5),
                "Values": [10, 30],
                "Unit": "Milliseconds",
            },
            {
                "MetricName": "IngestCount",
                "Dimensions": [{"Name": "service", "Value": "other"}],
                "Timestamp": T0 + timedelta(seconds=5),
                "Value": 100,
                "Unit": "Count",
            },
        ],
    )
    kit = pik_nb.connect(session=boto3.session.Session(region_name="us-east-1"), **stack.outputs)
    asked: list[dict] = []

    def moto_has_no_percentiles(params, **_):  # record what pik asks, then ask moto for what it can answer
        asked.append({q["Label"]: q["MetricStat"]["Stat"] for q in params["MetricDataQueries"]})
        for query in params["MetricDataQueries"]:
            if query["MetricStat"]["Stat"] in ("p50", "p99"):
                query["MetricStat"]["Stat"] = "Minimum" if query["MetricStat"]["Stat"] == "p50" else "Maximum"

    kit.client("cloudwatch").meta.events.register(
        "before-parameter-build.monitoring.GetMetricData", moto_has_no_percentiles
    )
    frame = kit.metrics(T0, T0 + timedelta(minutes=3), 60)
    assert asked[0] == {**{name: "Sum" for name in health.COUNTS}, "IngestLagMs_p50": "p50", "IngestLagMs_p99": "p99"}
    assert frame["IngestCount"].tolist() == [3, 0, 4] and frame["ConflictCount"].tolist() == [0, 0, 1]
    assert frame["IngestLagMs_p50"].iloc[0] == 10.0 and frame["IngestLagMs_p99"].iloc[0] == 30.0
    assert frame["IngestLagMs_p50"].iloc[1:].isna().all()


@pytest.mark.parametrize("period", ["30s", "90s", 0, "bogus", None])
def test_a_period_is_whole_minutes_and_a_bad_one_is_named_with_an_example(period):
    with pytest.raises(
        ScopeError,
        match=r"period must be a whole number of minutes, at least one, like '5min', '1h' "
        r"or 300 \(seconds\): got " + re.escape(repr(period)),
    ):
        health.period_of(period)


@pytest.mark.parametrize("end", [T0, T0 - timedelta(hours=1)])
def test_metrics_with_start_not_before_end_is_a_clear_error(stack, end):
    kit = pik_nb.connect(session=boto3.session.Session(region_name="us-east-1"), **stack.outputs)
    with pytest.raises(
        ScopeError,
        match=f"start must be before end: got start={re.escape(T0.isoformat())}, end={re.escape(end.isoformat())}",
    ):
        kit.metrics(T0, end, "1h")
    with pytest.raises(ScopeError, match="start must be before end"):
        health.from_emf([], T0, end)


def test_the_columns_are_the_counts_docs_health_md_lists():
    table = (Path(__file__).parents[2] / "docs" / "health.md").read_text().split("## The dashboard")[0]
    documented = re.findall(r"^\| `(\w+)` \| Count \|", table, flags=re.M)
    assert documented == list(health.COUNTS)
    assert health.COLUMNS == [*documented, "IngestLagMs_p50", "IngestLagMs_p99"]


def test_plot_health_shades_the_window():
    frame = health.from_emf([], T0, T0 + timedelta(hours=3), "10min")
    frame.loc[frame.index[2], "IngestCount"] = 5
    frame.loc[frame.index[2], "IngestLagMs_p50"] = 3_600_000
    figure = pik_nb.plot_health(frame, window=(T0 + timedelta(hours=1), T0 + timedelta(hours=2)))
    rate, lag = figure.get_axes()
    assert rate.get_title() == "Ingest rate by status" and [line.get_label() for line in rate.get_lines()] == [
        "accepted"
    ]
    assert len(rate.patches) == 1 and len(lag.patches) == 1
    assert (rate.get_ylabel(), lag.get_ylabel()) == ("events per 10 min", "lag (hours)")  # issue 21, finding 8


def test_the_notebook_view_pads_the_window_and_the_summary_reads_the_whole_view():
    low, high, period = health.span("2026-11-20", "2026-11-23")
    assert (low, high, period) == (pd.Timestamp("2026-11-18T12:00Z"), pd.Timestamp("2026-11-24T12:00Z"), "120min")
    frame = health.from_emf([], "2026-11-19", "2026-11-22", "60min")
    frame.loc[frame.index[27], ["IngestRequestCount", "IngestCount", "RejectedCount"]] = [1300, 1200, 100]
    frame.loc[frame.index[27], "IngestLagMs_p99"] = 7_200_000  # 2026-11-20 03:00, inside the window
    frame.loc[frame.index[50], ["IngestRequestCount", "ConflictCount"]] = [2, 2]
    frame.loc[frame.index[50], "IngestLagMs_p99"] = 68_400_000  # 2026-11-21 02:00, after it: the plotted peak
    assert health.summary(frame, "2026-11-20", "2026-11-21") == (
        "from 2026-11-19 00:00 to 2026-11-22 00:00 UTC (the plotted range), 1,302 events arrived (1,200 accepted, "
        "2 conflicts, 100 rejected); lag p99 peaked at 19 h in the period starting 2026-11-21 02:00 UTC, after it."
    )


def test_the_view_covers_when_the_windows_events_arrived():
    """A user's events of last month, ingested today: the metrics (dated at arrival) are in view."""
    now = pd.Timestamp.now(tz="UTC")
    arrived = pd.Series([now - pd.Timedelta(minutes=30), now - pd.Timedelta(minutes=5)])
    low, high, period = health.span("2026-10-01", "2026-10-04", arrivals=arrived)
    assert low == pd.Timestamp("2026-09-29T12:00Z") and high == (now - pd.Timedelta(minutes=5)).floor(
        "min"
    ) + pd.Timedelta(minutes=1)
    assert health.span("2026-10-01", "2026-10-04", arrivals=arrived.iloc[:0]) == health.span("2026-10-01", "2026-10-04")


def test_an_empty_view_says_nothing_arrived_and_names_cloudwatch_only_for_a_deployed_stack(stack):
    local = health.from_emf([], "2026-11-19", "2026-11-22", "60min")
    assert health.summary(local, "2026-11-20", "2026-11-21") == (
        "nothing arrived from 2026-11-19 00:00 to 2026-11-22 00:00 UTC in this local run's Lambda log (metrics are "
        "dated at arrival; the log starts empty at every `pik local up`)."
    )
    deployed = health.from_cloudwatch(
        boto3.client("cloudwatch", region_name="us-east-1"), "2026-11-19", "2026-11-22", "1h"
    )
    assert "CloudWatch" in health.summary(deployed, "2026-11-20", "2026-11-21")


def emf_times(lines: list[str]) -> dict[str, set[pd.Timestamp]]:
    rows = health.samples(lines)
    return {name: set(rows[rows["metric"] == name]["time"]) for name in set(rows["metric"])}


def test_every_ingest_metric_of_a_conflict_is_dated_at_the_request_time(stack, capsys):
    first, then = T0 - timedelta(hours=3), T0 - timedelta(hours=1)  # both hours before the real clock
    event = make_event(
        entity_id="c-1", idempotency_key="conflict-1", event_time=(first - timedelta(hours=1)).isoformat()
    )
    ingest_at(event, first)
    capsys.readouterr()
    ingest_at({**event, "payload": {"value": 99}}, then)  # CONFLICT, one event
    ingest_at({"events": [{**event, "payload": {"value": 98}}, "bad"]}, then)  # CONFLICT + REJECTED, a batch
    times = emf_times(capsys.readouterr().out.splitlines())
    assert times["ConflictCount"] == {pd.Timestamp(then)} and times["RejectedCount"] == {pd.Timestamp(then)}
    assert set().union(*times.values()) == {pd.Timestamp(then)}


@pytest.mark.parametrize("start", ["garbage", None, "NaT", float("nan")])
def test_a_bound_that_is_no_time_is_a_scope_error_not_a_traceback(start):
    from pik_nb.analyses import health

    with pytest.raises(pik_nb.ScopeError, match=r"^start must be a date or time like 2026-11-20"):
        health.from_emf([], start, "2026-11-21", "1min")


def test_a_window_that_would_build_too_many_rows_is_refused_with_the_bound():
    from pik_nb.analyses import health

    with pytest.raises(
        pik_nb.ScopeError,
        match=r"^52,596,000 periods of 1 min from 2026-11-20 to 2126-11-21 "
        r"exceed the bound of 100,000 rows",
    ):
        health.from_emf([], "2026-11-20", "2126-11-21", "1min")
    assert len(health.from_emf([], "2026-11-20", "2026-11-21", "1min")) == 1440
