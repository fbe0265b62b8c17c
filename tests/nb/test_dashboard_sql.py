"""explain_dashboard's SQL (DuckDB, for real) builds the same cells as the pandas core, for a count
and for a sum, so the archive path and the in-memory path fit the same semantics."""

from __future__ import annotations

import pandas as pd
import pytest

from pik_nb.investigate import dashboard
from pik_nb.sql import dashboard as dashboard_sql
from pik_nb.sql import local_connection, run
from pik_nb.sql.dashboard import typed_cells
from tests.nb.generate import synthetic, write_curated

START, END = pd.Timestamp("2026-11-05T00:00Z"), pd.Timestamp("2026-11-15T00:00Z")


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    attempts, _ = synthetic(3000, entities=5, days=20, seed=3)
    burst = attempts.index[(attempts["status"] == "ACCEPTED").to_numpy()][::20]  # a late burst: 2 to 30 h late
    late = pd.to_timedelta((burst.to_numpy() % 29 + 2) * 60, unit="min")
    attempts.loc[burst, "ingest_time"] += late
    attempts.loc[burst, "ingest_lag_ms"] += late // pd.Timedelta(milliseconds=1)
    root = tmp_path_factory.mktemp("curated")
    events = write_curated(attempts, root)
    con = local_connection(str(root))
    yield attempts, events, (lambda query: run(con, query))
    con.close()


def _near(frame: pd.DataFrame) -> pd.DataFrame:
    low, high = START - dashboard_sql.SLACK_BEFORE, END + dashboard_sql.SLACK_AFTER
    return frame[(frame["event_time"] >= low) & (frame["event_time"] < high)]


@pytest.mark.parametrize("field,by_entity", [(None, True), ("amount", True), (None, False)])
def test_sql_cells_equal_the_pandas_cells(archive, field, by_entity):
    attempts, events, sql = archive
    scoped = _near(attempts[attempts["source"] == "web"])
    scoped = scoped if by_entity else scoped.assign(entity_id="")
    values = events.set_index("s3_key")["amount"] if field else None
    expected = dashboard.cells(
        dashboard.arrivals(scoped, values=values)
        .query("kind != 'conflict_latest'")
        .query("kind != 'conflict'" if field else "kind == kind"),
        "1D",
    )
    got = typed_cells(
        sql(
            dashboard_sql.cells(
                "web", "order_placed", None, START, END, field=field, conflicts=field is None, by_entity=by_entity
            )
        )
    )
    keys = list(dashboard.CELL_KEYS)
    got, expected = got.sort_values(keys).reset_index(drop=True), expected.sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(got[keys + ["n"]], expected[keys + ["n"]], check_dtype=False)
    assert got["total"].round(6).tolist() == expected["total"].round(6).tolist()


def test_a_dashboard_planted_on_the_archive_is_explained_from_sql(archive):
    attempts, _, sql = archive
    scoped = _near(attempts[attempts["source"] == "web"])
    arrivals = dashboard.arrivals(scoped)
    sem = dashboard.Semantics(cutoff=pd.Timedelta(hours=6), dedup=False)
    shown = dashboard.compute(arrivals, sem, "1D")
    shown = shown[(shown["window"] >= START) & (shown["window"] < END)]
    cells = typed_cells(sql(dashboard_sql.cells("web", "order_placed", None, START, END, by_entity=False)))
    ex = dashboard.explain(shown, cells_=cells, arrivals_of=lambda s, e: arrivals)
    assert ex.semantics.time_basis == "event_time" and not ex.semantics.dedup
    assert ex.semantics.cutoff == pd.Timedelta(hours=6) and ex.semantics.fit == 1.0
    assert (ex.table["unexplained"] == 0).all() and (ex.table["late"] < 0).any()
