"""The archive at scale: 10 million attempts as Parquet in the compacted layout, queried with DuckDB.

    .venv/bin/python benchmarks/archive.py                     # 10M attempts (about 2 minutes, ~6 GB RAM)
    .venv/bin/python benchmarks/archive.py --events 500000     # quicker, for development
    .venv/bin/python benchmarks/archive.py --compaction 1000   # + the compaction step on the local stack

Method (docs/performance.md has the figures): the attempts are generated with numpy/pyarrow (no
moto: 10M ingests through moto would take a day), written with pyarrow under
``curated/{attempts,events}/source=/event_type=/event_date=/`` exactly as ``pik.core.curated`` lays
them out, in the compactor's codec (``pik.parquet.COMPRESSION``, snappy), one part per partition, then
read through ``pik_nb.sql.local_connection`` (as ``kit.sql`` does) and timed: lateness by source, gaps
per stream-day, the duplicates summary (each over all 10M attempts), a payload search over all events.
Athena's bytes scanned per query are computed from the Parquet column-chunk sizes of the columns
each query reads (Athena bills the compressed bytes it reads; partition columns are free).
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
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from datetime import UTC

from pik import parquet  # noqa: E402
from pik.core import curated  # noqa: E402
from pik_nb.sql import analyses as sql_analyses  # noqa: E402
from pik_nb.sql import local_connection, run  # noqa: E402
from pik_nb.sql import queries as queries_sql

SOURCES = ["web", "ios", "android", "pos", "partner_a", "partner_b", "batch", "kiosk"]
TYPES = ["order_placed", "order_paid"]
DAYS, ENTITIES = 30, 200_000
BASE_MS = 1_788_220_800_000  # 2026-09-01T00:00:00Z
COUNTRIES = np.array(["DE", "FR", "IT", "ES", "PL", "NL"])
SEARCH = "amount > 5000 AND country = 'DE'"


def hex_ids(rng: np.random.Generator, n: int) -> pa.Array:
    """``n`` random 64-hex-digit ids (the shape of real sha256 event ids), vectorised."""
    text = rng.bytes(32 * n).hex().encode()
    fixed = pa.Array.from_buffers(pa.binary(64), n, [None, pa.py_buffer(text)])
    return fixed.cast(pa.binary()).cast(pa.string())


def generate(n_attempts: int, seed: int = 0) -> tuple[pa.Table, pa.Table]:
    """Attempts (5% duplicates, 0.5% conflicts, 1% producer clocks ahead, lognormal lags) and the
    events (their ACCEPTED rows with a payload), both with the partition columns."""
    rng = np.random.default_rng(seed)
    n_events = int(n_attempts / 1.055)
    n_repeats = n_attempts - n_events
    stream = rng.integers(0, len(SOURCES) * len(TYPES), n_events)
    event_ms = BASE_MS + rng.integers(0, DAYS * 86_400_000, n_events)
    lag = rng.lognormal(10, 1.6, n_events).astype("int64") - rng.binomial(1, 0.01, n_events) * 5_000
    entity = pc.binary_join_element_wise("entity-", pa.array(rng.integers(0, ENTITIES, n_events)).cast(pa.string()), "")
    event_id = hex_ids(rng, n_events)
    source_row = np.concatenate([np.arange(n_events), rng.integers(0, n_events, n_repeats)])
    status = np.where(
        np.arange(n_attempts) < n_events, "ACCEPTED", np.where(rng.random(n_attempts) < 0.09, "CONFLICT", "DUPLICATE")
    )
    extra = np.where(np.arange(n_attempts) < n_events, 0, rng.integers(1_000, 3_600_000, n_attempts))
    row_lag = lag[source_row] + extra
    times = pa.array(event_ms[source_row] * 1000, pa.timestamp("us", "UTC"))
    ingest = pa.array((event_ms[source_row] + row_lag) * 1000, pa.timestamp("us", "UTC"))
    take = pa.array(source_row)
    ids = event_id.take(take)
    payload_sha = hex_ids(rng, n_events).take(take)
    attempts = pa.table(
        {
            "event_id": ids,
            "attempt_id": hex_ids(rng, n_attempts).cast(pa.string()),
            "status": pa.array(status),
            "entity_id": entity.take(take),
            "event_time": times,
            "ingest_time": ingest,
            "ingest_lag_ms": pa.array(row_lag),
            "request_id": hex_ids(rng, n_attempts),
            "s3_key": pc.binary_join_element_wise("raw/", ids, ".json", ""),
            "payload_sha256": payload_sha,
            "content_sha256": payload_sha,
            "idempotency_key": pa.nulls(n_attempts, pa.string()),
            "source": pa.array(np.array(SOURCES)[stream[source_row] // len(TYPES)]),
            "event_type": pa.array(np.array(TYPES)[stream[source_row] % len(TYPES)]),
            "event_date": pc.strftime(times, format="%Y-%m-%d"),
        }
    )
    firsts = attempts.slice(0, n_events)
    amount = np.round(rng.lognormal(5, 1.8, n_events), 2)
    country = COUNTRIES[rng.integers(0, len(COUNTRIES), n_events)]
    payload = pc.binary_join_element_wise(
        '{"amount":', pa.array(amount).cast(pa.string()), ',"country":"', pa.array(country), '"}', ""
    )
    events = pa.table(
        {
            **{name: firsts.column(name) for name in curated.EVENT_COLUMNS},
            "amount": pa.array(amount),
            "country": pa.array(country),
            curated.PAYLOAD: payload,
            **{name: firsts.column(name) for name in curated.PARTITION_COLUMNS},
        }
    )
    return attempts, events


def write(table: pa.Table, root: Path, layout: str) -> None:
    """One part per partition in the compactor's codec, rows in (event_time, event_id) order as it writes them."""
    order = [(c, "ascending") for c in (*curated.PARTITION_COLUMNS, "event_time", "event_id")]
    ds.write_dataset(
        table.sort_by(order),
        root / curated.PREFIX / layout,
        format="parquet",
        partitioning=ds.partitioning(pa.schema([(c, pa.string()) for c in curated.PARTITION_COLUMNS]), flavor="hive"),
        basename_template="part-{i}.parquet",
        max_rows_per_group=parquet.ROW_GROUP_ROWS,
        max_rows_per_file=10_000_000,
        max_partitions=4096,
        existing_data_behavior="overwrite_or_ignore",
        file_options=ds.ParquetFileFormat().make_write_options(
            compression=parquet.COMPRESSION, use_dictionary=True, write_statistics=True
        ),
    )


def column_bytes(root: Path, layout: str) -> dict[str, int]:
    """Compressed bytes per column over every part of ``layout``: what Athena would read per column."""
    sizes: dict[str, int] = {}
    for path in (root / curated.PREFIX / layout).rglob("*.parquet"):
        meta = pq.ParquetFile(path).metadata
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            for c in range(group.num_columns):
                column = group.column(c)
                sizes[column.path_in_schema] = sizes.get(column.path_in_schema, 0) + column.total_compressed_size
    return sizes


QUERIES = {
    # name: (what runs, attempts columns read, events columns read)
    "lateness by source": (
        lambda sql: sql_analyses.lateness(sql, by="source"),
        ["status", "entity_id", "event_time", "ingest_time", "ingest_lag_ms"],
        [],
    ),
    "gaps per stream-day": (
        lambda sql: sql_analyses.gaps_daily(sql),
        ["status", "entity_id", "source", "event_type", "event_time"],
        [],
    ),
    "duplicates summary": (lambda sql: sql_analyses.duplicates_per_source(sql), ["status"], []),
    "payload search": (lambda sql: sql(queries_sql.search(None, None, None, None, SEARCH)), [], "all"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000, help="attempts to generate [10,000,000]")
    parser.add_argument(
        "--root",
        type=Path,
        default=None,
        help="write here (kept) instead of a temporary dir; if it already holds a layout, query that",
    )
    parser.add_argument(
        "--compaction",
        type=int,
        default=0,
        help="also time the compaction step on the local stack over this many ingested events",
    )
    args = parser.parse_args()
    root = args.root or Path(tempfile.mkdtemp(prefix="pik-archive-"))
    try:
        if not (root / curated.PREFIX).exists():
            started = time.perf_counter()
            attempts, events = generate(args.events)
            generated = time.perf_counter()
            write(attempts, root, curated.ATTEMPTS)
            write(events, root, curated.EVENTS)
            print(
                f"generated {attempts.num_rows:,} attempts / {events.num_rows:,} events in "
                f"{generated - started:.1f} s, wrote them in {time.perf_counter() - generated:.1f} s under {root}"
            )
            del attempts, events
        sizes = {layout: column_bytes(root, layout) for layout in curated.LAYOUTS}
        files = {layout: len(list((root / curated.PREFIX / layout).rglob("*.parquet"))) for layout in curated.LAYOUTS}
        for layout in curated.LAYOUTS:
            print(f"{layout}: {files[layout]} parts, {sum(sizes[layout].values()) / 2**20:,.1f} MiB compressed")
        con = local_connection(str(root))
        sql = lambda query: run(con, query)  # noqa: E731
        print(f"load average before the queries: {os.getloadavg()[0]:.1f} (2 cores)")
        print(f"{'query':<22} {'first s':>8} {'again s':>8} {'cpu s':>7} {'rows':>9} {'Athena scans':>13}")
        for name, (query, attempt_columns, event_columns) in QUERIES.items():
            timings, cpu = [], 0.0
            for _ in range(2):
                t0, c0 = time.perf_counter(), time.process_time()
                result = query(sql)
                timings.append(time.perf_counter() - t0)
                cpu = time.process_time() - c0  # all of DuckDB's threads: the work, whatever the load
            read = (
                sum(sizes[curated.EVENTS].values())
                if event_columns == "all"
                else sum(sizes[curated.ATTEMPTS].get(c, 0) for c in attempt_columns)
            )
            print(
                f"{name:<22} {timings[0]:>8.2f} {timings[1]:>8.2f} {cpu:>7.2f} {len(result):>9,} "
                f"{read / 2**20:>9,.1f} MiB"
            )
        con.close()
        if args.compaction:
            compaction(args.compaction)
    finally:
        if args.root is None:
            shutil.rmtree(root, ignore_errors=True)


def compaction(n: int) -> None:
    """Ingest ``n`` events into a fresh local stack, then time ``kit.compact`` (every partition) and a re-run."""
    from datetime import datetime, timedelta

    import pik_nb
    from pik_api import ingest_events
    from pik_local.stack import LocalStack

    info = Path(tempfile.mkdtemp(prefix="pik-compact-")) / "local.json"
    day = (datetime.now(UTC) - timedelta(days=3)).replace(hour=0, minute=0, second=0, microsecond=0)
    rng = np.random.default_rng(1)
    bodies = [
        {
            "source": SOURCES[i % 4],
            "event_type": "order_placed",
            "entity_id": f"c-{i % 500}",
            "event_time": (day + timedelta(seconds=int(s))).isoformat(),
            "payload": {"amount": float(a), "country": str(c), "lines": [1, 2]},
        }
        for i, (s, a, c) in enumerate(
            zip(
                rng.integers(0, 3 * 86_400, n),
                np.round(rng.lognormal(5, 1.8, n), 2),
                COUNTRIES[rng.integers(0, 6, n)],
                strict=True,
            )
        )
    ]
    with LocalStack(info_file=info):
        kit = pik_nb.connect(path=info)
        ingest_events(kit.resources.api_url, bodies, workers=8, progress=False)
        t0 = time.perf_counter()
        result = kit.compact(everything=True, settle="0s")
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = kit.compact(everything=True, settle="0s")
        rerun = time.perf_counter() - t0
    print(
        f"compaction on the local stack: {result['events']:,} events / {result['attempts']:,} attempts in "
        f"{result['partitions']} partitions in {first:.1f} s = {result['events'] / first:,.0f} events/s; "
        f"re-run (nothing to write, {again['unchanged']} unchanged) {rerun:.1f} s"
    )


if __name__ == "__main__":
    main()
