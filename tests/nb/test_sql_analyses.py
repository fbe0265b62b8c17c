"""The SQL analyses give the pandas analyses' tables on the same generated data (DuckDB, for real),
and the common search query finds exactly the planted matches."""

from __future__ import annotations

import pandas as pd
import pytest

import pik_nb
from pik_nb.sql import analyses as sql_analyses
from pik_nb.sql import local_connection, run
from pik_nb.sql import queries as queries_sql
from tests.nb.generate import synthetic, write_curated

NEVER, ONLY_DUPLICATES = ("entity-1", "2026-11-05"), ("entity-2", "2026-11-07")
ONE_STREAM = ("entity-3", "app", "2026-11-09")  # its web and pos events arrive that day: only per stream is it a gap


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    attempts, truth = synthetic(4000, entities=30, days=20, seed=7)
    entity, day = attempts["entity_id"], attempts["event_date"]
    planted = (entity == ONLY_DUPLICATES[0]) & (day == ONLY_DUPLICATES[1])
    one_stream = (entity == ONE_STREAM[0]) & (attempts["source"] == ONE_STREAM[1]) & (day == ONE_STREAM[2])
    attempts = attempts[
        ~((entity == NEVER[0]) & (day == NEVER[1])) & ~(planted & (attempts["status"] == "ACCEPTED")) & ~one_stream
    ]
    repeat = (
        attempts[attempts["entity_id"] == ONLY_DUPLICATES[0]]
        .iloc[[0]]
        .assign(
            status=pd.Categorical(["DUPLICATE"], categories=attempts["status"].cat.categories),
            event_time=pd.Timestamp(ONLY_DUPLICATES[1] + "T12:00:00Z").as_unit("us"),
            event_date=ONLY_DUPLICATES[1],
            attempt_id="planted",
        )
    )
    attempts = pd.concat([attempts, repeat]).sort_values("ingest_time", kind="stable").reset_index(drop=True)
    root = tmp_path_factory.mktemp("curated")
    events = write_curated(attempts, root)
    con = local_connection(str(root))
    yield attempts, events, (lambda query: run(con, query))
    con.close()


def test_lateness_in_sql_equals_pandas(archive):
    attempts, _, sql = archive
    for by, dialect in (("source", "duckdb"), (["source", "event_type"], "duckdb"), ("source", "athena")):
        expected = pik_nb.lateness(attempts, by=by, threshold="30min")
        got = sql_analyses.lateness(sql, by=by, threshold="30min", dialect=dialect)  # athena's SQL runs here too
        expected.index = (
            expected.index.set_levels([level.astype("str") for level in expected.index.levels])
            if isinstance(expected.index, pd.MultiIndex)
            else expected.index.astype("str")
        )
        # pandas orders a categorical group by its categories, SQL by value: compare in value order
        pd.testing.assert_frame_equal(got, expected.sort_index(), check_exact=False, rtol=1e-12, check_index_type=False)
    by_source = sql_analyses.lateness(sql, by="source")
    assert by_source["count"].sum() == (attempts["status"] == "ACCEPTED").sum()
    assert (
        by_source["negative_count"].sum()
        == ((attempts["status"] == "ACCEPTED") & (attempts["ingest_lag_ms"] < 0)).sum()
        > 0
    )


def test_duplicates_per_source_in_sql_equals_pandas(archive):
    attempts, _, sql = archive
    expected = pik_nb.duplicates(attempts).per_source.astype({"source": "str", "event_type": "str"})
    expected = expected.sort_values(["source", "event_type"]).reset_index(drop=True)
    got = sql_analyses.duplicates_per_source(sql)
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12)
    assert got["duplicates"].sum() == (attempts["status"] == "DUPLICATE").sum()


def _as_text(gaps: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """pandas' gaps with text keys in value order (a categorical sorts by its categories, SQL by value)."""
    gaps = gaps.astype({k: "str" for k in keys})
    return gaps.sort_values([*keys, "window"], kind="stable").reset_index(drop=True)


def test_daily_gaps_in_sql_equal_pandas_per_stream_and_find_the_planted_ones(archive):
    attempts, _, sql = archive
    keys = ["entity_id", "source", "event_type"]
    got = sql_analyses.gaps_daily(sql)
    athena = queries_sql.gaps_daily(dialect="athena")  # Trino SQL: tests/nb/test_athena_sql.py parses it
    assert athena.replace("sequence(", "generate_series(") == queries_sql.gaps_daily()  # only the series differs
    pd.testing.assert_frame_equal(got, _as_text(pik_nb.gaps(attempts, freq="1D", by="entity_id"), keys))
    found = {(row.entity_id, row.source, f"{row.window:%Y-%m-%d}"): row.gap_class for row in got.itertuples()}
    repeat_source = attempts.loc[attempts["attempt_id"] == "planted", "source"].astype("str").item()
    assert {found.get((NEVER[0], source, NEVER[1])) for source in ("web", "app", "pos")} == {"never_arrived"}
    assert found[(ONLY_DUPLICATES[0], repeat_source, ONLY_DUPLICATES[1])] == "only_duplicates"
    assert found[ONE_STREAM] == "never_arrived"
    one_day = attempts[(attempts["entity_id"] == ONE_STREAM[0]) & (attempts["event_date"] == ONE_STREAM[2])]
    assert set(one_day["source"].astype("str")) == {"web", "pos"}  # on-time streams the entity had that day


def test_daily_gaps_per_entity_alone_equal_pandas_and_miss_the_one_stream_day(archive):
    attempts, _, sql = archive
    got = sql_analyses.gaps_daily(sql, per_stream=False)
    expected = _as_text(pik_nb.gaps(attempts, freq="1D", by="entity_id", per_stream=False), ["entity_id"])
    pd.testing.assert_frame_equal(got, expected)
    found = {(row.entity_id, f"{row.window:%Y-%m-%d}"): row.gap_class for row in got.itertuples()}
    assert found == {NEVER: "never_arrived", ONLY_DUPLICATES: "only_duplicates"}  # no ONE_STREAM day


def test_a_scoped_where_prunes_to_the_same_answer_as_a_pandas_filter(archive):
    attempts, _, sql = archive
    where = queries_sql.scope(source="web", start="2026-11-03", end="2026-11-10")
    chosen = attempts[
        (attempts["source"] == "web")
        & (attempts["event_time"] >= pd.Timestamp("2026-11-03", tz="UTC"))
        & (attempts["event_time"] < pd.Timestamp("2026-11-10", tz="UTC"))
    ]
    got = sql_analyses.lateness(sql, by="source", where=where)
    assert list(got.index) == ["web"] and got.loc["web", "count"] == (chosen["status"] == "ACCEPTED").sum()


def test_the_search_query_finds_exactly_the_matching_events(archive):
    _, events, sql = archive
    query = queries_sql.search("app", "order_placed", "2026-11-02", "2026-11-09", "amount > 200 AND country = 'DE'")
    got = sql(query)
    start, end = pd.Timestamp("2026-11-02", tz="UTC"), pd.Timestamp("2026-11-09", tz="UTC")
    want = events[
        (events["source"] == "app")
        & (events["event_time"] >= start)
        & (events["event_time"] < end)
        & (events["amount"] > 200)
        & (events["country"] == "DE")
    ]
    assert len(want) > 0
    assert sorted(got["event_id"]) == sorted(want["event_id"])
    assert list(got["event_time"]) == sorted(got["event_time"])


def test_scope_values_are_literals_never_sql(archive):
    _, _, sql = archive
    hostile = "web' OR '1'='1"
    assert queries_sql.literal(hostile) == "'web'' OR ''1''=''1'"
    assert len(sql(queries_sql.search(hostile, None, None, None))) == 0  # matched as a (missing) source name
    assert sql_analyses.duplicates_per_source(sql, where=queries_sql.scope(source=hostile)).empty
