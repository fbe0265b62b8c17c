"""The frames inside other results, and the analyses pushed into SQL, have a kind and a schema too
(``pik_nb.schemas``), and say where they came from: a replay's ``impact`` and ``impact_events``, a diff's
``added`` and ``removed``, an explanation's frames and its ``timeline()``, ``explain_dashboard``'s ``table`` and
``events()``, and ``pik_nb.sql.analyses``' tables. Each is checked on what the kit really returns, on the local
stack (moto's server, the handlers over HTTP, the processor behind the replay queue).

Then the whole public surface: every public ``Kit`` method and every function of ``pik_nb.__all__`` is either
called here on that stack, every DataFrame in its answer (a frame, a dict's values, a dataclass's fields, what
its methods return) checked for ``attrs["pik"]`` and its kind's schema, or listed as returning no frame: a new
method fails until it is one or the other."""

from __future__ import annotations

import dataclasses
import inspect
import json
from datetime import datetime, timedelta

import pandas as pd
import pytest

import pik_nb
from pik.core.timefmt import UTC
from pik_api import ingest_events
from pik_nb import schemas
from pik_nb.sql import analyses as sql_analyses
from tests.support.events import make_event
from tests.support.frames import conforms, refused
from tests.support.kit import local_kit
from tests.support.waits import wait_for

DAY = (datetime.now(UTC) - timedelta(days=3)).replace(hour=0, minute=0, second=0, microsecond=0)
END = DAY + timedelta(days=1)
ENTITY = "nested-1"


def _event(hour: int) -> dict:
    return make_event(entity_id=ENTITY, event_time=(DAY + timedelta(hours=hour)).isoformat(), payload={"amount": hour})


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    """Three events, one sent twice, replayed for real (version 1 of each metric); then a late fourth event, so
    a dry run previews version 2 and, once executed, a diff names the late event."""
    with local_kit(tmp_path_factory.mktemp("nested")) as kit:
        bodies = [_event(h) for h in (1, 2, 3)]
        ingest_events(kit.resources.api_url, [*bodies, bodies[0]], workers=1, progress=False)
        _execute(kit, versions=1)
        [late] = ingest_events(kit.resources.api_url, [_event(20)], workers=1, progress=False)
        preview = kit.replay(entity_id=ENTITY, start=DAY, end=END)
        _execute(kit, versions=2)
        yield {"kit": kit, "preview": preview, "late": late.body["event_id"], "first": bodies}


def _execute(kit, *, versions: int) -> None:
    kit.replay(entity_id=ENTITY, start=DAY, end=END, dry_run=False)
    wait_for(
        lambda: (v := kit.aggregates(entity_id=ENTITY, start=DAY, end=END)).shape[0] and v["version"].max() == versions,
        timeout_s=60,
        what=f"the processor to write version {versions}",
    )


def _scope_of_replay(info: dict) -> dict:
    return {k: info["scope"][k] for k in ("entity_id", "dry_run")}


# --- one test per kind ----------------------------------------------------------------------------------------
def test_a_dry_runs_impact_frames_have_their_schemas_and_say_the_request(local):
    kit, preview = local["kit"], local["preview"]
    impact, events = preview["impact"], preview["impact_events"]
    conforms(impact, "impact")
    conforms(events, "impact_events")
    assert impact["metric"].tolist() == ["count"] and impact["changed"].all()
    assert impact.loc[
        impact["metric"] == "count", ["now", "after", "version_now", "version_after"]
    ].values.tolist() == [[3.0, 4.0, 1, 2]]
    assert events[["event_id", "change"]].values.tolist() == [[local["late"], "enters"]]
    for frame, kind in ((impact, "impact"), (events, "impact_events")):
        info = frame.attrs["pik"]
        assert (info["kind"], info["stack"]) == (kind, repr(kit.stack))
        assert info["scope"]["replay_id"] == preview["replay_id"] and _scope_of_replay(info) == {
            "entity_id": ENTITY,
            "dry_run": True,
        }
        assert info["scope"]["start_time"].startswith(DAY.date().isoformat()) and "loaded_at" in info
    assert impact.attrs["complete"] and impact.attrs["entity_days"] == 1  # the summary stays beside provenance
    assert refused(impact, "metric") == "not an impact frame: metric has 1 null (the schema says never)"
    assert refused(events, "event_id") == "not an impact_events frame: event_id has 1 null (the schema says never)"


def test_the_impact_goes_back_to_the_apis_json_without_the_provenance(local):
    from pik_nb.read.impact import as_json

    plain = as_json(local["preview"])["impact"]
    assert "pik" not in plain and plain["complete"] is True and len(plain["rows"]) == 1


def test_a_diffs_added_and_removed_have_their_schemas_and_say_the_versions(local):
    kit = local["kit"]
    diff = kit.diff(ENTITY, DAY.date().isoformat())
    conforms(diff.added, "diff.added")
    conforms(diff.removed, "diff.removed")
    assert diff.added[["event_id", "cause"]].values.tolist() == [[local["late"], "late arrival"]]
    assert len(diff.removed) == 0 and diff.value_delta == 1.0
    for part in ("added", "removed"):
        info = getattr(diff, part).attrs["pik"]
        assert (info["kind"], info["stack"]) == (f"diff.{part}", repr(kit.stack))
        assert info["scope"] == {
            "entity_id": ENTITY,
            "day": DAY.date().isoformat(),
            "metric": "count",
            "old": 1,
            "new": 2,
        }
    assert refused(diff.added, "cause") == "not a diff.added frame: cause has 1 null (the schema says never)"
    # the pure compare carries the provenance of the arrivals it is given
    arrivals = kit.events(entity_id=ENTITY, start=DAY, end=END)
    pure = pik_nb.compare(diff.old, diff.new, [], [local["late"]], arrivals)
    assert pure.added.attrs["pik"] == {**arrivals.attrs["pik"], "analysis": "diff.added"}
    conforms(pure.added, "diff.added")


def test_an_explanations_frames_have_their_kinds_schemas_and_say_the_event(local):
    kit = local["kit"]
    event_id = kit.events(entity_id=ENTITY, start=DAY, end=END)["event_id"].iloc[0]
    explained = kit.explain(event_id)
    for part, kind in (("attempts", "events"), ("raw", "raw"), ("replays", "replays"), ("aggregates", "aggregates")):
        frame = getattr(explained, part)
        conforms(frame, kind, ordered=False)
        assert frame.attrs["pik"]["scope"] == {"event_id": event_id} and frame.attrs["pik"]["stack"] == repr(kit.stack)
    assert explained.attempts["status"].tolist() == ["ACCEPTED", "DUPLICATE"]
    timeline = explained.timeline()
    conforms(timeline, "explain.timeline")
    assert timeline.attrs["pik"] == {**explained.attempts.attrs["pik"], "kind": "explain.timeline"}
    assert timeline["what"].tolist()[:3] == ["event time", "ACCEPTED", "DUPLICATE"]


def test_the_sql_analyses_have_their_schemas_and_say_their_query(local):
    kit = local["kit"]
    results = {
        "sql.lateness": sql_analyses.lateness(kit.sql, by="source"),
        "sql.duplicates_per_source": sql_analyses.duplicates_per_source(kit.sql),
        "sql.gaps_daily": sql_analyses.gaps_daily(kit.sql),
    }
    conforms(results["sql.lateness"], "sql.lateness")  # the by keys are its index
    conforms(results["sql.duplicates_per_source"], "sql.duplicates_per_source")
    conforms(results["sql.gaps_daily"], "sql.gaps_daily", ordered=False)  # the keys come first
    for name, result in results.items():
        info = result.attrs["pik"]
        assert (info["kind"], info["analysis"], info["stack"]) == ("sql", name, repr(kit.stack))
        assert "FROM attempts" in info["scope"]["query"] and "loaded_at" in info
        assert schemas.describe(result).startswith(f"{name} of sql from {kit.stack!r} (query=")
    assert int(results["sql.lateness"].loc["checkout", "count"]) == 4  # make_event's source
    assert results["sql.duplicates_per_source"][["events", "attempts", "duplicates"]].values.tolist() == [[4, 5, 1]]
    assert len(results["sql.gaps_daily"]) == 0  # one day, no gap
    assert (
        refused(results["sql.duplicates_per_source"], "source")
        == "not a sql.duplicates_per_source frame: source has 1 null (the schema says never)"
    )
    untagged = sql_analyses.duplicates_per_source(lambda query: kit.sql(query).pipe(_without_attrs))
    assert "pik" not in untagged.attrs  # nothing to carry (a bare DuckDB connection): nothing invented


def test_the_sql_analyses_schemas_name_the_pandas_analyses_columns():
    from pik_nb.analyses import GAP_COLUMNS, LATENESS_COLUMNS
    from pik_nb.sql.duplicates import COUNT_COLUMNS

    assert schemas.SQL_LATENESS.names == LATENESS_COLUMNS  # read may not import analyses: a test keeps them equal
    assert schemas.SQL_GAPS_DAILY.names == GAP_COLUMNS
    assert schemas.SQL_DUPLICATES_PER_SOURCE.names == ["source", "event_type", *COUNT_COLUMNS, "duplicate_rate"]


def test_an_arrow_answer_says_where_it_came_from_in_its_schemas_metadata(local):
    kit, query = local["kit"], f"SELECT event_id FROM attempts WHERE status = 'ACCEPTED' AND entity_id = '{ENTITY}'"
    table = kit.sql(query, arrow=True)
    info = json.loads(table.schema.metadata[b"pik"])
    assert (info["kind"], info["stack"], info["scope"]) == ("sql", repr(kit.stack), {"query": query, "arrow": True})
    assert table.num_rows == 4 and table.schema.field("event_id").type == "string"


def _without_attrs(frame: pd.DataFrame) -> pd.DataFrame:
    frame.attrs = {}
    return frame


def test_gaps_daily_types_a_missing_day(local):
    kit = local["kit"]
    days = [DAY - timedelta(days=d) for d in (7, 6, 4)]  # 5 days back missing
    bodies = [make_event(entity_id="gappy", event_time=(d + timedelta(hours=1)).isoformat()) for d in days]
    ingest_events(kit.resources.api_url, bodies, workers=1, progress=False)
    gaps = sql_analyses.gaps_daily(kit.sql, where="entity_id = 'gappy'")
    conforms(gaps, "sql.gaps_daily", ordered=False)
    assert gaps["window"].tolist() == [pd.Timestamp(DAY - timedelta(days=5))] and gaps["gap_class"].tolist() == [
        "never_arrived"
    ]


def test_explain_dashboards_table_and_events_have_their_schemas_and_say_what_was_asked(local):
    from pik_nb.investigate.dashboard import TABLE_COLUMNS

    kit, day = local["kit"], DAY.date().isoformat()
    shown = pd.DataFrame({"window": [day], "value": [3]})
    explained = kit.explain_dashboard(shown, source="checkout", event_type="order_placed")
    conforms(explained.table, "dashboard.table")
    assert explained.table[["dashboard", "truth", "gap"]].values.tolist() == [[3, 4, -1]]
    info = explained.table.attrs["pik"]
    assert (info["kind"], info["stack"]) == ("dashboard.table", repr(kit.stack))
    assert info["scope"] == {
        "values": "1 rows",
        "metric": "count",
        "freq": "1D",
        "source": "checkout",
        "event_type": "order_placed",
    }
    truth = explained.events(day, "truth")
    conforms(truth, "dashboard.events")
    assert len(truth) == 4 and truth["sign"].tolist() == [1] * 4
    assert truth.attrs["pik"]["kind"] == "dashboard.events"
    assert truth.attrs["pik"]["scope"] == {
        **info["scope"],
        "window": DAY.isoformat(),
        "cause": "truth",
        "entity_id": None,
    }
    fractional = kit.explain_dashboard(shown.assign(value=3.5), source="checkout", event_type="order_placed")
    conforms(fractional.table, "dashboard.table")  # float64 numbers too
    assert list(TABLE_COLUMNS) == ["window", *schemas.DASHBOARD_NUMBERS]  # one list, kept equal


# --- the whole public surface ---------------------------------------------------------------------------------
#: Public Kit attributes that hold or return no DataFrame (each with why).
NO_FRAME = {
    "session": "boto3 session",
    "resources": "resource names",
    "endpoint_url": "a URL",
    "workers": "an int",
    "sign_api": "a bool",
    "client": "a boto3 client",
    "reader": "the fast reader",
    "progress": "a bool",
    "stack": "the Stack",
    "lineage": "OpenLineage RunEvents",
    "manifest": "a JSON document",
    "steer": "the run as the API answers (JSON)",
    "status": "resource names and records (JSON, pik status)",
    "compact": "counts (JSON)",
    "sql_engine": "a name",
    "doctor": "a report of lines",
}


def _kit_calls(local) -> dict:
    kit, day = local["kit"], DAY.date().isoformat()
    event_id = kit.events(entity_id=ENTITY, start=DAY, end=END)["event_id"].iloc[0]
    dashboard = pd.DataFrame({"window": [day], "value": [3]})
    return {
        "events": lambda: kit.events(entity_id=ENTITY, start=DAY, end=END),
        "raw": lambda: kit.raw(kit.events(entity_id=ENTITY, start=DAY, end=END)),
        "raw_dataset": lambda: kit.raw_dataset(source="checkout", event_type="order_placed", days=[day]),
        "rejected": lambda: kit.rejected(days=[datetime.now(UTC).date().isoformat()]),
        "aggregates": lambda: kit.aggregates(entity_id=ENTITY, start=DAY, end=END),
        "replays": lambda: kit.replays(),
        "reconcile": lambda: kit.reconcile(),
        "metrics": lambda: kit.metrics(DAY, END, "1h"),
        "sql": lambda: kit.sql("SELECT count(*) AS n FROM attempts"),
        "search": lambda: kit.search(source="checkout", event_type="order_placed", start=DAY, end=END),
        "replay": lambda: kit.replay(entity_id=ENTITY, start=DAY, end=END),
        "diff": lambda: kit.diff(ENTITY, day),
        "explain": lambda: kit.explain(event_id),
        "explain_dashboard": lambda: kit.explain_dashboard(
            dashboard, entity_id=ENTITY, source="checkout", event_type="order_placed"
        ),
    }


#: Functions of ``pik_nb.__all__`` that return frames (or results holding them), called on a loaded frame.
def _function_calls(local) -> dict:
    kit = local["kit"]
    events = kit.events(entity_id=ENTITY, start=DAY, end=END)
    diff = kit.diff(ENTITY, DAY.date().isoformat())
    return {
        "lateness": lambda: pik_nb.lateness(events, by="source"),
        "lateness_policy": lambda: pik_nb.lateness_policy(events, "1h"),
        "out_of_order": lambda: pik_nb.out_of_order(events),
        "duplicates": lambda: pik_nb.duplicates(events),
        "gaps": lambda: pik_nb.gaps(events, freq="1h"),
        "compare": lambda: pik_nb.compare(diff.old, diff.new, [], [local["late"]], events),
        # a class of pik_nb.__all__ whose methods answer kit's frames: the replay widget's flow
        "ReplayFlow.preview": lambda: pik_nb.ReplayFlow(kit).preview(
            pik_nb.Scope(DAY.isoformat(), END.isoformat(), ENTITY)
        ),
    }


#: ``pik_nb.__all__`` names that are not DataFrame-returning functions (classes, constants, plots, display).
NOT_A_FRAME_FUNCTION = {
    "connect": "a Kit",
    "humanize": "text",
    "humanize_frame": "the caller's frame, its durations as text (display)",
    "table": "the caller's frame, for display",
    "replay_widget": "a widget",
    **{name: "a figure" for name in pik_nb.__all__ if name.startswith("plot_")},
}


def _public_kit_names() -> set[str]:
    return {name for name in dir(pik_nb.Kit) if not name.startswith("_")} | {"stack", "progress"}


def test_every_public_kit_method_and_function_is_checked_or_said_to_return_no_frame(local):
    calls = _kit_calls(local)
    assert _public_kit_names() == set(calls) | set(NO_FRAME), "list a new Kit method in _kit_calls or NO_FRAME"
    callables = {
        name
        for name in pik_nb.__all__
        if inspect.isfunction(getattr(pik_nb, name)) and name not in NOT_A_FRAME_FUNCTION
    }
    assert callables == {n for n in _function_calls(local) if "." not in n}, "list it in _function_calls"


@pytest.mark.parametrize("group", ["kit", "functions"])
def test_every_frame_the_public_api_returns_says_where_it_came_from_and_has_its_schema(local, group):
    calls = _kit_calls(local) if group == "kit" else _function_calls(local)
    checked = []
    for name, call in calls.items():
        for where, frame in _frames(call(), name):
            info = frame.attrs.get("pik")
            assert isinstance(info, dict), f"{where} is untagged (no attrs['pik'])"
            assert info["stack"] == repr(local["kit"].stack) and info["loaded_at"], where
            kind = schemas.kind_of(frame)
            if kind is not None:  # an analysis without a schema of its own says its source's (its test: test_schemas)
                schemas.validate(frame)
                schemas.to_arrow(frame)
            checked.append((where, kind))
    if group == "kit":
        assert {kind for _, kind in checked} >= {"impact", "impact_events", "diff.added", "explain.timeline"}
        assert {w for w, _ in checked} >= {"explain_dashboard.table", "explain_dashboard.events()"}
    assert len(checked) >= (20 if group == "kit" else 10)


def _frames(result, where: str):
    """Every DataFrame in ``result``: itself, a dict's values, a dataclass's fields, its frame-returning methods."""
    if isinstance(result, pd.DataFrame):
        yield where, result
    elif isinstance(result, list):
        for i, value in enumerate(result):
            yield from _frames(value, f"{where}[{i}]")
    elif isinstance(result, dict):
        for key, value in result.items():
            yield from _frames(value, f"{where}[{key!r}]")
    elif dataclasses.is_dataclass(result):
        for field in dataclasses.fields(result):
            yield from _frames(getattr(result, field.name), f"{where}.{field.name}")
        for name, call in _frame_methods(result):
            yield from _frames(call(), f"{where}.{name}()")


def _frame_methods(result):
    """Methods of a result object that return frames, with the arguments a notebook would give."""
    if isinstance(result, pik_nb.Explanation):
        yield "timeline", result.timeline
    if isinstance(result, pik_nb.DashboardExplanation):
        window = result.table["window"].iloc[0]
        yield "events", lambda: result.events(window, "truth")
