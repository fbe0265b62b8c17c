"""explain_dashboard's core on planted truth: generated histories, a dashboard computed from a known
semantics, and the semantics given back with every window explained; noise lands where it was put."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pik_nb import ScopeError
from pik_nb.investigate import dashboard as d

START = pd.Timestamp("2026-11-20T00:00Z")
MINUTE = pd.Timedelta(minutes=1)


def history(seed: int, days: int = 8, entities: int = 2, per_day: int = 12) -> pd.DataFrame:
    """Late bursts, retry storms, conflicts, rejected requests, replays to an external target and
    events dated ahead by clock skew, as arrivals (``pik_nb.investigate.dashboard.ARRIVAL_COLUMNS``)."""
    rng = np.random.default_rng(seed)
    rows: list[dict] = []
    replay_at = START + pd.Timedelta(days=days + 1, hours=3)
    for i in range(days * per_day):
        event_time = START + int(rng.integers(0, days * 1440)) * MINUTE
        roll = rng.random()
        lag = (
            rng.integers(-180, 0)
            if roll < 0.08
            else rng.integers(6 * 60, 3 * 1440)
            if roll < 0.25
            else rng.integers(0, 120)
        ) * MINUTE  # skew ahead, a late burst, on time
        event = {
            "event_id": f"e{i}",
            "entity_id": f"c-{rng.integers(entities)}",
            "event_time": event_time,
            "s3_key": f"raw/e{i}",
            "value": float(rng.integers(1, 50)),
        }
        rows.append({**event, "kind": d.ACCEPTED, "arrival": event_time + lag, "status": "ACCEPTED"})
        rows += _after(event, event_time + lag, replay_at, rng)
    for j in range(int(rng.integers(0, 6))):
        at = START + int(rng.integers(0, days * 1440)) * MINUTE
        rows.append(
            {
                "event_id": f"r{j}",
                "entity_id": f"c-{rng.integers(entities)}",
                "event_time": at,
                "s3_key": f"rejected/r{j}",
                "value": 1.0,
                "kind": d.REJECTED,
                "arrival": at,
                "status": "REJECTED",
            }
        )
    return pd.DataFrame(rows)[list(d.ARRIVAL_COLUMNS)]


def _after(event: dict, arrival: pd.Timestamp, replay_at: pd.Timestamp, rng: np.random.Generator) -> list[dict]:
    """What may follow an event's first arrival: a retry storm, a conflict, a replay."""
    rows = []
    for r in range(int(rng.integers(1, 5)) if rng.random() < 0.15 else 0):  # a retry storm
        rows.append({**event, "kind": d.DUPLICATE, "arrival": arrival + (r + 1) * 7 * MINUTE, "status": "DUPLICATE"})
    if rng.random() < 0.1:  # another payload under the same key
        other = float(rng.integers(1, 50))
        at = arrival + int(rng.integers(1, 900)) * MINUTE
        rows.append({**event, "kind": d.CONFLICT, "arrival": at, "status": "CONFLICT", "value": other})
        rows.append(
            {**event, "kind": d.CONFLICT_LATEST, "arrival": at, "status": "CONFLICT", "value": other - event["value"]}
        )
    if rng.random() < 0.1:
        rows.append({**event, "kind": d.REPLAYED, "arrival": replay_at, "status": "REPLAYED"})
    return rows


semantics = st.builds(
    d.Semantics,
    time_basis=st.sampled_from(["event_time", "ingest_time"]),
    cutoff=st.one_of(st.none(), st.integers(0, 3 * 1440).map(lambda m: pd.Timedelta(minutes=m))),
    dedup=st.booleans(),
    conflicts=st.sampled_from(["first", "latest", "all"]),
    rejected=st.booleans(),
    replayed=st.booleans(),
)


def planted(arrivals: pd.DataFrame, sem: d.Semantics, by_entity: bool, metric: str) -> pd.DataFrame:
    if metric == "count":
        arrivals = arrivals.assign(value=np.where(arrivals["kind"] == d.CONFLICT_LATEST, 0.0, 1.0))
    return arrivals, d.compute(arrivals, sem, "1D", by_entity=by_entity)


def assert_adds_up(table: pd.DataFrame) -> None:
    assert (table["gap"] == table["dashboard"] - table["truth"]).all()
    assert (table[list(d.CAUSES)].sum(axis=1) + table["unexplained"] == table["gap"]).all()
    assert (table["late"] <= 0).all() and (table["duplicates"] >= 0).all()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), sem=semantics, by_entity=st.booleans(), metric=st.sampled_from(["count", "sum"]))
def test_a_planted_semantics_explains_every_window(seed, sem, by_entity, metric):
    arrivals, shown = planted(history(seed), sem, by_entity, metric)
    ex = d.explain(shown, arrivals, metric=metric)
    assert ex.semantics.fit == 1.0
    assert (ex.table["unexplained"] == 0).all()
    assert_adds_up(ex.table)
    again = d.compute(arrivals, ex.semantics, "1D", by_entity=by_entity)  # the semantics given back counts the same
    keys = ["window", "entity_id"] if by_entity else ["window"]
    merged = shown.merge(again, on=keys, how="left", suffixes=("", "_again")).fillna(0.0)
    assert (merged["value"] == merged["value_again"]).all()
    truth = arrivals[arrivals["kind"] == d.ACCEPTED].assign(window=lambda f: d.windows_of(f["event_time"], "1D"))
    shown_truth = truth.merge(shown[keys], on=keys, how="inner")  # the accepted events of the windows shown
    assert ex.table["truth"].sum() == shown_truth["value"].sum()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    sem=semantics,
    noisy=st.sets(st.integers(0, 7), min_size=1, max_size=2),
    signs=st.lists(st.sampled_from([-1, 1]), min_size=2, max_size=2),
)
def test_noise_stays_in_the_windows_it_was_added_to(seed, sem, noisy, signs):
    arrivals, shown = planted(history(seed), sem, False, "count")
    bound = len(arrivals) + 1  # no semantics can reach a value this far off
    for k, sign in zip(sorted(noisy), signs, strict=False):
        shown.loc[k, "value"] += sign * (bound + k)
    ex = d.explain(shown, arrivals)
    off = set(ex.table.index[ex.table["unexplained"] != 0])
    assert off == set(noisy)
    assert ex.semantics.fit == (len(shown) - len(noisy)) / len(shown)
    assert_adds_up(ex.table)
    assert "No candidate explains every window" in ex.summary()


def test_every_behaviour_is_given_back_when_the_history_shows_it():
    arrivals = history(7, days=10, per_day=40)
    sem = d.Semantics(cutoff=pd.Timedelta(hours=6), dedup=False, conflicts="latest", rejected=True, replayed=False)
    ex = d.explain(d.compute(arrivals, sem, "1D"), arrivals, metric="sum")
    assert ex.semantics == sem
    by_arrival = d.Semantics(time_basis="ingest_time", dedup=True, conflicts="all", rejected=False, replayed=True)
    ex = d.explain(d.compute(arrivals, by_arrival, "1D"), arrivals, metric="sum")
    assert ex.semantics == replace_cutoff(by_arrival)
    assert (ex.table["early"] != 0).any() and (ex.table["replayed"] > 0).any()


def replace_cutoff(sem: d.Semantics) -> d.Semantics:
    return d.Semantics(**{**sem.__dict__, "cutoff": None})


def test_the_cutoff_is_the_roundest_that_counts_the_same_arrivals():
    arrivals = history(3, days=10, per_day=30)
    ex = d.explain(d.compute(arrivals, d.Semantics(cutoff=pd.Timedelta(hours=6, minutes=7)), "1D"), arrivals)
    delays = d.cells(arrivals, "1D")["delay"]
    low, high = ex.semantics.cutoff // MINUTE, 6 * 60 + 7
    assert not ((delays >= min(low, high)) & (delays < max(low, high))).any()  # nothing tells them apart
    assert ex.semantics.cutoff % pd.Timedelta(minutes=5) == pd.Timedelta(0)


def test_the_events_behind_a_cause_are_its_number():
    sem = d.Semantics(cutoff=pd.Timedelta(hours=6), dedup=False, rejected=True, replayed=True)
    arrivals, shown = planted(history(11, days=8, per_day=30), sem, False, "count")
    ex = d.explain(shown, arrivals)
    for row in ex.table.itertuples():
        for cause in d.CAUSES:
            found = ex.events(row.window, cause)
            assert int((found["sign"] * found["value"]).sum()) == getattr(row, cause), (row.window, cause)
        assert len(ex.events(row.window, "truth")) == row.truth
    late = ex.events(ex.table.loc[ex.table["late"].idxmin(), "window"], "late")
    assert set(late.columns) >= {"event_id", "event_time", "arrival", "status", "s3_key"}
    assert json.loads(json.dumps(ex.semantics.to_dict()))["dedup"] is False  # what --json prints
    printed = str(ex).splitlines()  # what pik explain-dashboard prints
    assert printed[0].startswith("semantics: counts by event time, with a ") and printed[0].endswith(
        "(fits 100% of windows)"
    )
    assert printed[2].split()[:3] == ["window", "dashboard", "truth"] and printed[3].startswith("2026-11-20 ")


def test_summary_reads_like_the_incident_channel():
    table = pd.DataFrame(
        [
            {
                "window": pd.Timestamp("2026-11-30T00:00Z"),
                "dashboard": 980,
                "truth": 1021,
                "gap": -41,
                "late": -45,
                "early": 0,
                "duplicates": 4,
                "conflicts": 0,
                "rejected": 0,
                "replayed": 0,
                "unexplained": 0,
            }
        ]
    )
    sem = d.Semantics(cutoff=pd.Timedelta(hours=6), dedup=False)
    assert d.summary(table, sem) == (
        "Nov 30 shows 980, the truth is 1,021: 45 events arrived after the dashboard's 6 h cutoff, "
        "4 repeats were counted twice. The dashboard counts by event time, with a 6 h cutoff, without dedup "
        "— this reproduces 1 of 1 windows exactly."
    )


def test_dashboard_values_name_what_is_missing(tmp_path):
    with pytest.raises(ScopeError, match="missing value"):
        d.dashboard_values(pd.DataFrame({"window": ["2026-11-30"]}))
    path = tmp_path / "dash.csv"
    path.write_text("window,value\n2026-11-30,980\n2026-12-01,1021\n")
    values = d.dashboard_values(path)
    assert values["window"].tolist() == [pd.Timestamp("2026-11-30T00:00Z"), pd.Timestamp("2026-12-01T00:00Z")]
    assert values["value"].tolist() == [980.0, 1021.0]


def test_a_count_of_one_reads_in_the_singular():
    """Issue 21, finding 8: "1 repeat was counted twice", never "1 repeats were"."""
    row = {"window": pd.Timestamp("2026-11-20T00:00Z"), "dashboard": 5, "truth": 2, "gap": 3, "late": -1, "early": 1}
    row |= {"duplicates": 1, "conflicts": 0, "rejected": 1, "replayed": 1, "unexplained": 0}
    assert d.summary(pd.DataFrame([row]), d.Semantics(cutoff=pd.Timedelta(hours=6), dedup=False)).split(".")[0] == (
        "Nov 20 shows 5, the truth is 2: 1 event arrived after the dashboard's 6 h cutoff, 1 event counted here "
        "belongs to another window by event time, 1 repeat was counted twice, 1 rejected request was counted, "
        "1 replay re-send was counted again"
    )


@pytest.mark.parametrize(
    "name, content, message",
    [
        (
            "bad-window.csv",
            b"window,value\n2026-11-20,3\ngarbage,4\n",
            "window 'garbage' in row 2 is not a date or time",
        ),
        ("bad-value.csv", b"window,value\n2026-11-20,abc\n", "value 'abc' in row 1 is not a number"),
        ("empty.csv", b"", "empty.csv is not a readable CSV file of window,value rows: No columns to parse from file"),
        ("latin1.csv", b"window,value,entity_id\n2026-11-20,3,caf\xe9\n", "latin1.csv is not a readable CSV file"),
        ("broken.parquet", b"garbage", "broken.parquet is not a readable Parquet file of window,value rows: "),
    ],
)
def test_a_dashboard_file_that_cannot_be_read_is_a_scope_error_naming_the_file_or_the_value(
    tmp_path, name, content, message
):
    """Issue 21, finding 6: ``pik explain-dashboard`` printed a pandas or Arrow traceback for these; a
    ``ScopeError`` is the CLI's one ``Error:`` line."""
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ScopeError) as raised:
        d.dashboard_values(path)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_a_sum_reads_with_the_one_number_format():
    """A fraction reads as ``pik_nb.table`` shows it (``1,021.5``), not with a second formatter's ``1,021.50``."""
    row = {"window": pd.Timestamp("2026-11-20T00:00Z"), "dashboard": 1021.5, "truth": 1000.25, "gap": 21.25}
    row |= {"late": 0, "early": 0, "duplicates": 21.25, "conflicts": 0, "rejected": 0, "replayed": 0, "unexplained": 0}
    sentence = d.summary(pd.DataFrame([row]), d.Semantics(dedup=False), metric="sum").split(":")[0]
    assert sentence == "Nov 20 shows 1,021.5, the truth is 1,000.25"
