"""explain_dashboard at scale: 30 days x 10 million attempts of one stream, in SQL and the naive way.

    .venv/bin/python benchmarks/dashboard.py                    # 10M attempts (a few minutes, ~6 GB RAM)
    .venv/bin/python benchmarks/dashboard.py --events 1000000   # quicker

Method (docs/performance.md has the figures): the attempts are generated as Parquet in the compacted
layout by ``benchmarks/archive.py`` (lognormal lags, 1% producer clocks ahead, 5% duplicates, 0.5%
conflicts) plus a late burst (2% arrive 2-30 h late), all in one stream so one dashboard covers every
attempt. A nightly job's dashboard (by event time, a 6 h cutoff, no dedup) is planted on it, then
explained two ways:

- **SQL** (what ``kit.explain_dashboard`` does): DuckDB groups the attempts into cells
  (``pik_nb.sql.dashboard.cells``), the grid of semantics is scored on the cells, and the events behind
  the worst window are fetched with ``dashboard_sql.arrivals``;
- **naive pandas**: read every attempt into a DataFrame, build the arrivals and their cells in pandas,
  then the same fit (the fit is shared: what differs is where the 10M rows are grouped).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import archive  # noqa: E402
from pik.core import curated  # noqa: E402
from pik_nb.investigate import dashboard  # noqa: E402
from pik_nb.sql import dashboard as dashboard_sql  # noqa: E402
from pik_nb.sql import local_connection, run  # noqa: E402

SOURCE, TYPE = "web", "order_placed"
NIGHTLY = dashboard.Semantics(cutoff=pd.Timedelta(hours=6), dedup=False)


def late_burst(attempts: pa.Table, share: float = 0.02) -> pa.Table:
    """``share`` of the attempts arrive 2 to 30 hours later (a producer's outage, then its backlog)."""
    rng = np.random.default_rng(5)
    n = attempts.num_rows
    shift = np.where(rng.random(n) < share, rng.integers(2 * 3600, 30 * 3600, n), 0) * 1_000_000
    ingest = attempts["ingest_time"].combine_chunks().cast(pa.int64()).to_numpy() + shift
    column = attempts.schema.get_field_index("ingest_time")
    return attempts.set_column(column, "ingest_time", pa.array(ingest).cast(pa.timestamp("us", "UTC")))


def sql_way(root: Path, values: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> dashboard.DashboardExplanation:
    con = local_connection(str(root))
    archive_ = dashboard_sql.DashboardArchive(lambda query: run(con, query), SOURCE, TYPE, None)
    cells = archive_.cells(start, end, by_entity=False)  # a stream's dashboard: no entity in the cells
    ex = dashboard.explain(values, cells_=cells, arrivals_of=archive_.arrivals)
    worst = ex.table.loc[ex.table["gap"].abs().idxmax(), "window"]
    ex.late = ex.events(worst, "late")  # the events behind the worst window, timed too
    return ex


def naive_way(root: Path, values: pd.DataFrame) -> dashboard.DashboardExplanation:
    columns = ["event_id", "status", "entity_id", "event_time", "ingest_time", "s3_key"]
    attempts = (
        ds.dataset(root / curated.PREFIX / curated.ATTEMPTS, format="parquet", partitioning="hive")
        .to_table(columns=columns)
        .to_pandas()
    )
    arrivals = dashboard.arrivals(attempts).assign(entity_id="")  # as the SQL way: no entity in the cells
    ex = dashboard.explain(values, arrivals)
    worst = ex.table.loc[ex.table["gap"].abs().idxmax(), "window"]
    ex.late = ex.events(worst, "late")
    return ex


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000, help="attempts to generate [10,000,000]")
    parser.add_argument("--skip-naive", action="store_true", help="time only the SQL way")
    args = parser.parse_args()
    archive.SOURCES, archive.TYPES = [SOURCE], [TYPE]  # one stream: the dashboard covers every attempt
    root = Path(tempfile.mkdtemp(prefix="pik-dashboard-"))
    try:
        t0 = time.perf_counter()
        attempts, events = archive.generate(args.events)
        attempts = late_burst(attempts)
        archive.write(attempts, root, curated.ATTEMPTS)
        archive.write(events, root, curated.EVENTS)
        print(f"generated and wrote {attempts.num_rows:,} attempts in {time.perf_counter() - t0:.1f} s under {root}")
        del attempts, events
        start = pd.Timestamp(archive.BASE_MS, unit="ms", tz="UTC")
        end = start + pd.Timedelta(days=archive.DAYS)
        con = local_connection(str(root))
        cells = dashboard_sql.DashboardArchive(lambda query: run(con, query), SOURCE, TYPE, None).cells(
            start, end, by_entity=False
        )
        con.close()
        planted = dashboard.stages(NIGHTLY, cells, ["window"])["value"].rename("value").reset_index()
        values = planted[(planted["window"] >= start) & (planted["window"] < end)].reset_index(drop=True)
        print(f"load average before the runs: {os.getloadavg()[0]:.1f} (2 cores)")
        ways = {"SQL (DuckDB)": lambda: sql_way(root, values, start, end)}
        if not args.skip_naive:
            ways["naive pandas"] = lambda: naive_way(root, values)
        print(f"{'way':<14} {'wall s':>8} {'cpu s':>7}  semantics / unexplained / late events behind the worst window")
        for name, way in ways.items():
            t0, c0 = time.perf_counter(), time.process_time()
            ex = way()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            print(
                f"{name:<14} {wall:>8.1f} {cpu:>7.1f}  {ex.semantics.describe()} (fit {ex.semantics.fit:.0%}); "
                f"unexplained {int(ex.table['unexplained'].abs().sum())}; {len(ex.late):,} late"
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
