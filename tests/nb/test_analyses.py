"""Pure analyses on frames whose truth is known by construction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure

import pik_nb
from pik_nb.read.frames import AGGREGATE_COLUMNS, from_records
from tests.nb.generate import BASE, frame, synthetic


def day(n: int, hours: float = 12) -> pd.Timestamp:
    return BASE + pd.Timedelta(days=n, hours=hours)


@pytest.fixture(scope="module")
def generated():
    return synthetic(20_000, entities=50, days=10, seed=7)


def test_lag_percentiles_match_a_direct_numpy_computation(generated):
    events, _ = generated
    result = pik_nb.lateness(events, by="source", threshold="30min")
    for source, rows in events[events["status"] == "ACCEPTED"].groupby("source", observed=True):
        lags = rows["ingest_lag_ms"].to_numpy()
        assert result.loc[source, ["p50_ms", "p90_ms", "p99_ms"]].tolist() == pytest.approx(
            np.percentile(lags, [50, 90, 99])
        )
        assert result.loc[source, "max_ms"] == lags.max() and result.loc[source, "count"] == len(lags)
        assert result.loc[source, "late_count"] == (lags > 30 * 60_000).sum()
        assert result.loc[source, "negative_count"] == (lags < 0).sum()
    overall = pik_nb.lateness(events, statuses=None)
    assert overall.loc["all", "count"] == len(events)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=-(10**9), max_value=10**10), min_size=1, max_size=60))
def test_lag_percentiles_match_numpy_for_any_lags(lags):
    events = frame(
        [
            {
                "event_id": f"e{i}",
                "entity_id": "x",
                "event_time": day(1),
                "ingest_time": day(1) + pd.Timedelta(milliseconds=lag),
                "status": "ACCEPTED",
            }
            for i, lag in enumerate(lags)
        ]
    )
    result = pik_nb.lateness(events).loc["all"]
    assert result[["p50_ms", "p90_ms", "p99_ms"]].tolist() == pytest.approx(np.percentile(lags, [50, 90, 99]))
    assert (result["max_ms"], result["negative_count"]) == (max(lags), sum(lag < 0 for lag in lags))


def test_out_of_order_arrivals_are_those_older_than_something_already_delivered():
    events = frame(
        [
            {
                "event_id": "a",
                "entity_id": "x",
                "event_time": day(1, 1),
                "ingest_time": day(1, 2),
                "status": "ACCEPTED",
            },
            {
                "event_id": "b",
                "entity_id": "x",
                "event_time": day(1, 3),
                "ingest_time": day(1, 4),
                "status": "ACCEPTED",
            },
            {
                "event_id": "c",
                "entity_id": "x",
                "event_time": day(1, 2),
                "ingest_time": day(1, 5),
                "status": "ACCEPTED",
            },
            {
                "event_id": "d",
                "entity_id": "y",
                "event_time": day(1, 0),
                "ingest_time": day(1, 6),
                "status": "ACCEPTED",
            },
        ]
    )
    assert list(pik_nb.out_of_order(events)) == [False, False, True, False]
    assert pik_nb.lateness(events, by="entity_id")["out_of_order"].to_dict() == {"x": 1, "y": 0}


def test_duplicate_and_conflict_counts_are_exact(generated):
    events, truth = generated
    result = pik_nb.duplicates(events)
    assert (result.duplicate_count, result.conflict_count) == (truth.duplicates, truth.conflicts)
    assert len(result.per_event) == truth.duplicated_events
    assert result.per_event["attempts"].sum() == truth.duplicates + truth.conflicts + truth.duplicated_events
    assert result.per_source[["events", "duplicates", "conflicts"]].sum().tolist() == [
        truth.accepted,
        truth.duplicates,
        truth.conflicts,
    ]
    conflicts = result.conflicts
    assert len(conflicts) == truth.conflicts
    assert (conflicts["accepted_sha256"] == "p" + conflicts["event_id"]).all()
    assert (conflicts["conflicting_sha256"] == "p" + conflicts["event_id"] + "-other").all()


def test_a_storm_is_a_window_at_or_above_the_threshold():
    rows = [
        {"event_id": "s", "entity_id": "x", "event_time": day(1, 0), "ingest_time": day(1, 1), "status": "ACCEPTED"}
    ]
    rows += [
        {
            "event_id": "s",
            "entity_id": "x",
            "event_time": day(1, 0),
            "ingest_time": day(1, 2) + pd.Timedelta(seconds=i),
            "status": "DUPLICATE",
        }
        for i in range(5)
    ]
    rows += [
        {"event_id": "s", "entity_id": "x", "event_time": day(1, 0), "ingest_time": day(1, 3), "status": "DUPLICATE"}
    ]
    result = pik_nb.duplicates(frame(rows), freq="1min", storm_threshold=5)
    assert result.storms[["window", "duplicates"]].values.tolist() == [[day(1, 2), 5]]
    assert result.per_event[["event_id", "duplicates", "attempts"]].values.tolist() == [["s", 6, 7]]


def test_a_file_ingested_twice_is_a_storm_that_says_every_event_was_sent_again():
    first = [
        {
            "event_id": f"f{i}",
            "entity_id": "x",
            "event_time": day(1, 0),
            "ingest_time": day(1, 1) + pd.Timedelta(seconds=i),
            "status": "ACCEPTED",
        }
        for i in range(50)
    ]
    again = [
        {**row, "ingest_time": row["ingest_time"] + pd.Timedelta(minutes=10), "status": "DUPLICATE"} for row in first
    ]
    text = pik_nb.duplicates(frame(first + again), freq="1min").storm_summary()
    assert text.endswith(
        "(up to 50 duplicates in a window, against 50 new events per window on average: "
        "each of the 50 events of checkout/order_placed was sent again)"
    ), text
    retried = pik_nb.duplicates(frame(first + again[:30] + again[:30]), freq="1min").storm_summary()
    assert retried.endswith("(up to 60 duplicates in a window, against 50 new events per window on average)"), retried


def test_storm_sentences_name_their_window_as_a_person_would():
    first = [
        {
            "event_id": f"f{i}",
            "entity_id": "x",
            "event_time": day(1, 0),
            "status": "ACCEPTED",
            "ingest_time": day(1, 1) + pd.Timedelta(seconds=i),
        }
        for i in range(50)
    ]
    again = [
        {**row, "ingest_time": row["ingest_time"] + pd.Timedelta(minutes=10), "status": "DUPLICATE"} for row in first
    ]
    one = pik_nb.duplicates(frame(first + again), freq="1D").storm_summary()
    assert one.startswith(f"a duplicate storm: 50 duplicates in a 1-day window from {day(1):%Y-%m-%d} 00:00 UTC"), one
    spread = [{**row, "ingest_time": day(1, 2) + pd.Timedelta(minutes=i % 3)} for i, row in enumerate(again)]
    three = pik_nb.duplicates(frame(first + spread), freq="1min", storm_threshold=5).storm_summary()
    assert three.startswith("a duplicate storm: 50 duplicates in 3 windows of 1 minute between "), three
    none = pik_nb.duplicates(frame(first), freq="1h").storm_summary()
    assert none == "no duplicate storm (50 or more duplicates in a 1-hour window would be one)", none
    assert "window of 1D" not in one + three + none and "1min" not in three


def gap_story():
    """x: daily, days 1-10, with day 4 empty, 6 rejected, 8 only a conflict, 9 late; y: every 2 days."""
    rows = []
    for n in (1, 2, 3, 5, 7, 10):
        rows.append(
            {
                "event_id": f"x{n}",
                "entity_id": "x",
                "event_time": day(n),
                "ingest_time": day(n, 13),
                "status": "ACCEPTED",
            }
        )
    rows.append(
        {"event_id": "x8", "entity_id": "x", "event_time": day(8), "ingest_time": day(8, 13), "status": "CONFLICT"}
    )
    rows.append(
        {"event_id": "x9", "entity_id": "x", "event_time": day(9), "ingest_time": day(10, 2), "status": "ACCEPTED"}
    )
    for n in (1, 3, 5, 9):
        rows.append(
            {
                "event_id": f"y{n}",
                "entity_id": "y",
                "event_time": day(n),
                "ingest_time": day(n, 13),
                "status": "ACCEPTED",
            }
        )
    for n in range(1, 11):
        rows.append(
            {
                "event_id": f"z{n}",
                "entity_id": "z",
                "event_time": day(n),
                "ingest_time": day(n, 13),
                "status": "ACCEPTED",
            }
        )
    aggregates = from_records(
        [
            {
                "entity_id": "x",
                "day": day(9).date().isoformat(),
                "metric": "count",
                "version": 1,
                "value": 0,
                "computed_at": day(10, 0.5).isoformat(),
            }
        ],
        AGGREGATE_COLUMNS,
    )
    rejected = pd.DataFrame({"entity_id": pd.array(["x", None], dtype="str"), "event_time": [day(6), pd.NaT]})
    return frame(rows), aggregates, rejected


def test_gaps_are_exactly_the_missing_windows_with_their_class():
    events, aggregates, rejected = gap_story()
    result = pik_nb.gaps(events, freq="1D", aggregates=aggregates, rejected=rejected, end=BASE + pd.Timedelta(days=12))
    found = [(row.entity_id, (row.window - BASE).days, row.gap_class) for row in result.itertuples()]
    assert found == [
        ("x", 4, "never_arrived"),
        ("x", 6, "only_rejected"),
        ("x", 8, "only_duplicates"),
        ("x", 9, "arrived_late"),
        ("x", 11, "never_arrived"),
        ("y", 7, "never_arrived"),
        ("y", 11, "never_arrived"),
        ("z", 11, "never_arrived"),
    ]
    assert result.loc[result["entity_id"] == "y", "cadence"].unique().tolist() == [pd.Timedelta(days=2)]
    assert (result["window_end"] - result["window"] == pd.Timedelta(days=1)).all()


def test_without_aggregates_or_rejected_the_classes_fall_back():
    events, _, _ = gap_story()
    result = pik_nb.gaps(events)
    found = [(row.entity_id, (row.window - BASE).days, row.gap_class) for row in result.itertuples()]
    assert found == [
        ("x", 4, "never_arrived"),
        ("x", 6, "never_arrived"),
        ("x", 8, "only_duplicates"),
        ("y", 7, "never_arrived"),
    ]


def test_lateness_policy_drops_what_arrives_after_the_window_closes():
    events = frame(
        [
            {
                "event_id": "on",
                "entity_id": "x",
                "event_time": day(1, 10),
                "ingest_time": day(2, 0.5),
                "status": "ACCEPTED",
            },
            {
                "event_id": "off",
                "entity_id": "x",
                "event_time": day(1, 11),
                "ingest_time": day(2, 1.5),
                "status": "ACCEPTED",
            },
            {
                "event_id": "dup",
                "entity_id": "x",
                "event_time": day(1, 11),
                "ingest_time": day(3, 0),
                "status": "DUPLICATE",
            },
            {
                "event_id": "y",
                "entity_id": "y",
                "event_time": day(1, 10),
                "ingest_time": day(1, 11),
                "status": "ACCEPTED",
            },
        ]
    )
    policy = pik_nb.lateness_policy(events, allowed_lateness="1h")
    assert list(policy.dropped["event_id"]) == ["off"]
    assert policy.dropped["late_by_ms"].tolist() == [30 * 60_000]
    assert policy.windows[["entity_id", "arrived", "dropped", "kept"]].values.tolist() == [["x", 2, 1, 1]]


def test_every_plot_returns_a_figure_and_draws_on_given_axes(generated):
    events, _ = generated
    gap_events, aggregates, rejected = gap_story()
    figures = [
        pik_nb.plot_lateness(events),
        pik_nb.plot_duplicates(events),
        pik_nb.plot_gaps(pik_nb.gaps(gap_events, aggregates=aggregates, rejected=rejected)),
    ]
    assert all(isinstance(f, Figure) for f in figures)
    canvas = Figure()
    ax = canvas.add_subplot()
    assert pik_nb.plot_duplicates(pik_nb.duplicates(events), ax=ax) is canvas
    for figure in figures:
        figure.savefig(__import__("io").BytesIO(), format="png")


@pytest.mark.parametrize("lag_hours, unit", [(0.5, "minutes"), (2.9, "minutes"), (83, "hours")])
def test_the_lag_axis_reads_in_hours_once_p99_passes_three_hours(lag_hours, unit):
    rows = [
        {
            "event_id": f"e{i}",
            "entity_id": "x",
            "event_time": day(1, 0),
            "ingest_time": day(1, 0) + pd.Timedelta(hours=lag_hours),
            "status": "ACCEPTED",
        }
        for i in range(5)
    ]
    left, right = pik_nb.plot_lateness(frame(rows)).axes
    assert left.get_xlabel() == f"lag ({unit}, up to p99)" and right.get_ylabel() == "lag (hours)"
    assert left.get_title() == "lag distribution (5 events)"


def test_a_table_hides_a_meaningless_index_scrolls_and_reads_numbers_as_numbers():
    shown = pik_nb.table(
        pd.DataFrame(
            {
                "source": ["web", "pos"],
                "count": [57.0, 3.0],
                "late_share": [0.25, 0.0],
                "p99_ms": [252_610_800.0, 850.0],
            }
        )
    )
    html = shown._repr_html_()
    assert html.startswith('<div class="pik-table" style="overflow-x: auto; max-width: 100%">')
    assert ">57<" in html and "57.0" not in html and ">25.0%<" in html and ">2 d 22 h<" in html
    assert repr(shown).splitlines()[1].split() == ["web", "57", "25.0%", "2", "d", "22", "h"]  # no 0/1 index
    assert "row_heading" not in html


def test_compare_names_a_code_version_change_and_removed_events():
    arrivals = frame(
        [
            {
                "event_id": e,
                "entity_id": "x",
                "event_time": day(1, h),
                "ingest_time": day(1, h + 1),
                "status": "ACCEPTED",
            }
            for e, h in (("a", 1), ("b", 2), ("c", 3))
        ]
    )
    old = {
        "entity_id": "x",
        "day": "2026-11-02",
        "metric": "count",
        "version": 1,
        "value": 3.0,
        "code_version": "metrics-v1",
        "computed_at": day(2),
        "replay_id": None,
    }
    new = {**old, "version": 2, "value": 2.0, "code_version": "metrics-v2", "computed_at": day(3)}
    diff = pik_nb.compare(old, new, ["a", "b", "c"], ["a", "b"], arrivals)
    assert (diff.value_delta, list(diff.removed["event_id"]), list(diff.removed["cause"])) == (
        -1.0,
        ["c"],
        ["code version change"],
    )
    assert diff.added.empty and diff.causes == ["code version change"]
    figure = pik_nb.plot_diff(diff)
    assert isinstance(figure, Figure)


def incident_frame(incident) -> pd.DataFrame:
    """The attempts a stack holds after staging ``incident`` with simulated arrival (sent_at = arrival)."""
    return frame(
        [
            {
                "event_id": e.event_id,
                "entity_id": e.body["entity_id"],
                "source": e.body["source"],
                "event_type": e.body["event_type"],
                "event_time": pd.Timestamp(e.body["event_time"]),
                "ingest_time": pd.Timestamp(e.sent_at),
                "status": e.expected,
            }
            for e in incident.events
            if e.expected != "REJECTED"
        ]
    )


def test_the_demo_storm_is_found_with_default_settings_at_a_small_size():
    from pik_local.story import generate

    incident = generate(2000, seed=11)
    truth, events = incident.truth, incident_frame(incident)
    stream = events[events["source"] == truth.focus_source]
    scoped = stream[
        (stream["entity_id"] == truth.focus_entity)
        & (stream["event_time"] >= truth.incident_start)
        & (stream["event_time"] < truth.incident_end)
    ]
    for scope in (events, stream, scoped):  # everything, the focus stream, the incident notebook's scope
        result = pik_nb.duplicates(scope)
        assert len(result.storms) >= 1 and result.storm_min >= 5
        storm_repeats = scope[(scope["status"] == "DUPLICATE") & scope["event_id"].isin(truth.storm_event_ids)]
        assert result.stormed >= 0.5 * len(storm_repeats)  # most of the storm lies in storm windows
        assert result.storm_summary().startswith(f"a duplicate storm: {result.stormed} duplicates in ")
    assert len(pik_nb.duplicates(stream, freq="1min", storm_threshold=50).storms) == 0  # the old fixed rule missed it


def test_background_duplication_is_no_storm(generated):
    events, truth = generated  # about one attempt in ten repeated, spread evenly
    result = pik_nb.duplicates(events)
    assert result.duplicate_count == truth.duplicates and result.storms.empty
    assert result.normal >= 5 and result.storm_summary().startswith("no duplicate storm")


def test_the_gaps_calendar_has_a_labelled_column_per_day_and_one_cell_per_missing_day():
    rows = [
        {"event_id": f"x{n}", "entity_id": "x", "event_time": day(n), "ingest_time": day(n, 13), "status": "ACCEPTED"}
        for n in (1, 2, 3, 5, 6, 7)
    ]
    missing = pik_nb.gaps(frame(rows), freq="1D")
    assert len(missing) == 1
    for figure, first, days in (
        (pik_nb.plot_gaps(missing), 1, 7),
        (pik_nb.plot_gaps(missing, start=day(0, 0), end=day(10, 0)), 0, 10),
    ):
        ax = figure.axes[0]
        labels = [t.get_text() for t in ax.get_xticklabels()]
        assert labels == [day(n, 0).strftime("%Y-%m-%d") for n in range(first, first + days)]
        cells = np.asarray(ax.images[0].get_array())
        assert cells.shape == (1, days) and (cells > 0).sum() == 1 and cells[0, 4 - first] > 0
        assert ax.get_xlabel() == "day" and [t.get_text() for t in ax.get_yticklabels()] == ["x"]


def test_new_figures_display_as_png_with_alternative_text():
    events = frame(
        [{"event_id": "a", "entity_id": "x", "event_time": day(1), "ingest_time": day(1, 13), "status": "ACCEPTED"}]
    )
    data, metadata = pik_nb.plot_lateness(events)._repr_mimebundle_()
    assert data["image/png"] and metadata["image/png"]["alt"].startswith("Figure: lag distribution (1 event)")
    assert "arrival timeline" in metadata["image/png"]["alt"]


def test_an_entitys_missing_day_in_one_stream_is_a_gap_though_its_other_streams_arrived():
    """Issue 21: on-time web events must not hide the day the entity's mobile_app events were missing."""
    rows = [
        {
            "event_id": f"{source}{n}",
            "entity_id": "x",
            "source": source,
            "event_type": kind,
            "event_time": day(n),
            "ingest_time": day(n, 13),
            "status": "ACCEPTED",
        }
        for source, kind in (("web", "order_placed"), ("mobile_app", "workout_completed"))
        for n in range(1, 8)
        if (source, n) != ("mobile_app", 4)
    ]
    rows.append(
        {
            "event_id": "late4",
            "entity_id": "x",
            "source": "mobile_app",
            "event_type": "workout_completed",
            "event_time": day(4),
            "ingest_time": day(6),
            "status": "ACCEPTED",
        }
    )
    aggregates = from_records(
        [
            {
                "entity_id": "x",
                "day": day(4).date().isoformat(),
                "metric": "count",
                "version": 1,
                "value": 1,
                "computed_at": day(5).isoformat(),
            }
        ],
        AGGREGATE_COLUMNS,
    )
    result = pik_nb.gaps(frame(rows), aggregates=aggregates)
    found = [(r.entity_id, r.source, r.event_type, (r.window - BASE).days, r.gap_class) for r in result.itertuples()]
    assert found == [("x", "mobile_app", "workout_completed", 4, "arrived_late")]
    assert pik_nb.gaps(frame(rows), aggregates=aggregates, per_stream=False).empty  # the entity as a whole had day 4
    figure = pik_nb.plot_gaps(result)
    assert figure.axes[0].get_title() == "1 missing day"


def test_the_duplicates_plot_draws_each_window_and_each_conflict_where_it_happened():
    """Issue 21: no line holding a storm's value across the empty windows after it; conflicts at arrival."""
    rows = [
        {
            "event_id": f"e{n}",
            "entity_id": "x",
            "event_time": day(1, 0),
            "ingest_time": day(1, n / 60),
            "status": "ACCEPTED",
        }
        for n in range(60 * 12)
    ]  # one a minute for 12 hours
    rows += [
        {
            "event_id": f"e{n}",
            "entity_id": "x",
            "event_time": day(1, 0),
            "ingest_time": day(1, 1 + n / 600),
            "status": "DUPLICATE",
        }
        for n in range(40)
    ]  # a storm in the second hour
    rows += [
        {"event_id": "e5", "entity_id": "x", "event_time": day(1, 0), "ingest_time": day(1, 9.5), "status": "CONFLICT"}
    ]
    result = pik_nb.duplicates(frame(rows), freq="1h")
    ax = pik_nb.plot_duplicates(result).axes[0]
    assert all(line.get_drawstyle() == "default" for line in ax.get_lines())
    bars = [(pd.Timestamp(patch.get_x() * 86_400, unit="s", tz="UTC"), patch.get_height()) for patch in ax.patches]
    assert bars == [(day(1, 1), 40)]  # one bar: the storm's hour; nothing drawn over the empty hours after it
    (conflict,) = [line for line in ax.get_lines() if line.get_label() == "conflict (at arrival)"]
    at = [pd.Timestamp(x * 86_400, unit="s", tz="UTC").round("s") for x in conflict.get_xdata(orig=False)]
    assert at == [day(1, 9.5)]
    assert ax.get_title() == "40 duplicates, 1 conflict"


def test_the_checklist_counts_only_replays_whose_scope_covered_the_investigation():
    """Issue 21: a replay of another entity or stream in the same hours does not tick "replay scoped"."""
    from pik_nb.notebook import Investigation
    from pik_nb.read.frames import RUN_COLUMNS

    def run(replay_id, *, entity=None, source=None, event_type=None, dry_run=False, start=None, end=None):
        start, end = start or day(1, 0), end or day(2, 0)
        return {
            "replay_id": replay_id,
            "dry_run": dry_run,
            "entity_id": entity,
            "source": source,
            "event_type": event_type,
            "start": start.isoformat(),
            "end": end.isoformat(),
        }

    runs = from_records(
        [
            run("other-entity", entity="y"),
            run("mine", entity="x"),
            run("dry", entity="x", dry_run=True),
            run("stream", source="mobile_app", event_type="workout_completed"),
            run("web", source="web", event_type="order_placed"),
            run("mine-mobile", entity="x", source="mobile_app", event_type="workout_completed"),
            run("before", entity="x", start=day(-5, 0), end=day(0, 0)),
        ],
        RUN_COLUMNS,
    )
    window = {"start": day(1, 0), "end": day(3, 0)}
    events = frame(
        [
            {
                "event_id": "a",
                "entity_id": "x",
                "source": "mobile_app",
                "event_type": "workout_completed",
                "event_time": day(1),
                "ingest_time": day(1, 13),
                "status": "ACCEPTED",
            }
        ]
    )

    def covering(**scope):
        inv = Investigation(None, **window, **scope)
        inv.events = events[events["entity_id"] == scope["entity_id"]] if "entity_id" in scope else events
        return sorted(inv.covering(runs)["replay_id"])

    assert covering(entity_id="x") == ["mine", "mine-mobile", "stream"]  # not web: x has no web events
    mobile = {"source": "mobile_app", "event_type": "workout_completed"}
    assert covering(entity_id="x", **mobile) == ["mine", "mine-mobile", "stream"]
    assert covering(source="mobile_app", event_type="workout_completed") == ["stream"]
    assert covering(entity_id="z") == []


def test_rejected_requests_naming_a_stream_that_never_delivered_make_no_gaps():
    """The bad deploy's requests (source "mobile_app/v2", refused) are no stream the entity should have."""
    rows = [
        {
            "event_id": f"m{n}",
            "entity_id": "x",
            "source": "mobile_app",
            "event_type": "workout_completed",
            "event_time": day(n),
            "ingest_time": day(n, 13),
            "status": "ACCEPTED",
        }
        for n in (1, 2, 3, 5)
    ]
    rejected = pd.DataFrame(
        {
            "entity_id": ["x", "x"],
            "source": ["mobile_app/v2", "mobile_app"],
            "event_type": ["workout_completed"] * 2,
            "event_time": [day(2), day(4)],
        }
    )
    result = pik_nb.gaps(frame(rows), rejected=rejected, start=day(1, 0), end=day(6, 0))
    assert [(r.source, (r.window - BASE).days, r.gap_class) for r in result.itertuples()] == [
        ("mobile_app", 4, "only_rejected")
    ]


def test_a_table_hides_the_row_numbers_a_sort_or_tail_leaves_and_keeps_a_named_index():
    """Issue 21, finding 8: ``table(versions.sort_values(...).tail(20))`` showed 7/2/5 row numbers."""
    rows = pd.DataFrame({"day": ["2026-11-30", "2026-12-01", "2026-12-02"], "version": [1, 2, 1]})
    latest = pik_nb.table(rows.sort_values("version", kind="stable").tail(2))  # rows 2 and 1
    assert "row_heading" not in latest._repr_html_()
    assert [line.split() for line in repr(latest).splitlines()] == [
        ["day", "version"],
        ["2026-12-02", "1"],
        ["2026-12-01", "2"],
    ]
    named = pik_nb.table(rows.set_index("version"))
    assert "row_heading" in named._repr_html_() and repr(named).splitlines()[0].split() == ["day"]


def test_a_lateness_policy_reads_its_counts_and_shares_as_a_person_does():
    """Issue 21, finding 8: the policy's HTML said "drops 1 events, changes 1 windows" over a raw frame
    (index 0, ``dropped_share`` 1.000000)."""
    rows = [
        {
            "event_id": f"e{i}",
            "entity_id": "x",
            "event_time": day(1, i),
            "ingest_time": day(1, i) + lag,
            "status": "ACCEPTED",
        }
        for i, lag in enumerate([pd.Timedelta(minutes=5), pd.Timedelta(days=2)])
    ]
    html = pik_nb.lateness_policy(frame(rows), allowed_lateness="1h")._repr_html_()
    assert html.startswith(
        '<p>allowed lateness 1 h: drops <b>1 event</b>, changes <b>1 window</b></p><div class="pik-table"'
    )
    assert ">50.0%<" in html and "0.5" not in html.replace("50.0%", "") and "row_heading" not in html
    assert 'class="dataframe"' not in html  # pik_nb.table, not pandas' own table


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda e: pik_nb.lateness(e, threshold="soon"), "threshold='soon'"),
        (lambda e: pik_nb.lateness_policy(e, allowed_lateness="a bit"), "allowed_lateness='a bit'"),
        (lambda e: pik_nb.lateness_policy(e, freq="0s"), "freq='0s'"),
        (lambda e: pik_nb.gaps(e, freq="garbage"), "freq='garbage'"),
        (lambda e: pik_nb.duplicates(e, freq="daily"), "freq='daily'"),
    ],
)
def test_a_window_or_threshold_that_is_no_duration_is_a_scope_error_naming_it(call, message):
    """Issue 21, finding 6: pandas answered "unit abbreviation w/o a number" without saying which argument."""
    events = frame(
        [{"event_id": "e", "entity_id": "x", "event_time": day(1, 0), "ingest_time": day(1, 1), "status": "ACCEPTED"}]
    )
    with pytest.raises(pik_nb.ScopeError) as refused:
        call(events)
    assert str(refused.value) == f"{message} is not a duration like '1h', '15min' or '1D'"
