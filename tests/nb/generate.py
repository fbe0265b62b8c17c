"""Generated attempt frames whose truth is known by construction (no AWS involved).

``synthetic(...)`` is vectorised so the benchmarks can build a million rows in about a second.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pik_nb.read.frames import ATTEMPT_COLUMNS, STATUSES, from_records

BASE = pd.Timestamp("2026-11-01", tz="UTC")


def frame(rows: list[dict]) -> pd.DataFrame:
    """A typed attempts frame from a few hand-written rows (missing columns get defaults)."""
    defaults = {
        "source": "checkout",
        "event_type": "order_placed",
        "request_id": "req",
        "content_sha256": "c",
        "idempotency_key": None,
    }
    full = []
    for i, row in enumerate(rows):
        row = {
            **defaults,
            "attempt_id": f"a{i}",
            "payload_sha256": f"p-{row['event_id']}",
            "s3_key": f"raw/{row['event_id']}.json",
            **row,
        }
        event_time, ingest_time = pd.Timestamp(row["event_time"]), pd.Timestamp(row["ingest_time"])
        row["ingest_lag_ms"] = (ingest_time - event_time) // pd.Timedelta(milliseconds=1)
        row["event_date"] = event_time.date().isoformat()
        full.append(row)
    return from_records(full, ATTEMPT_COLUMNS)


@dataclass(frozen=True)
class Truth:
    accepted: int
    duplicates: int
    conflicts: int
    duplicated_events: int


def synthetic(
    n_events: int,
    *,
    entities: int = 1000,
    days: int = 30,
    duplicate_share: float = 0.05,
    conflict_share: float = 0.005,
    seed: int = 0,
) -> tuple[pd.DataFrame, Truth]:
    """``n_events`` first arrivals plus duplicates (1-3 each) and conflicts, shuffled by arrival."""
    rng = np.random.default_rng(seed)
    event_time = BASE + pd.to_timedelta(rng.integers(0, days * 86_400_000, n_events), unit="ms")
    lag = rng.lognormal(mean=10, sigma=1.5, size=n_events).astype("int64") - rng.binomial(1, 0.01, n_events) * 5_000
    ids = np.char.add("e", np.arange(n_events).astype(str))
    entity = np.char.add("entity-", rng.integers(0, entities, n_events).astype(str))
    dup_idx = rng.choice(n_events, int(n_events * duplicate_share), replace=False)
    copies = rng.integers(1, 4, len(dup_idx))
    dup_rows = np.repeat(dup_idx, copies)
    conflict_idx = rng.choice(n_events, int(n_events * conflict_share), replace=False)
    source_rows = np.concatenate([np.arange(n_events), dup_rows, conflict_idx])
    status = np.repeat([0, 1, 2], [n_events, len(dup_rows), len(conflict_idx)])
    extra_lag = np.concatenate(
        [np.zeros(n_events, "int64"), rng.integers(1, 3_600_000, len(dup_rows) + len(conflict_idx))]
    )
    row_lag = lag[source_rows] + extra_lag
    times = event_time[source_rows]
    payload = np.char.add("p", ids[source_rows])
    payload = np.where(status == 2, np.char.add(payload, "-other"), payload)
    frame = pd.DataFrame(
        {
            "event_id": pd.array(ids[source_rows], dtype="str"),
            "attempt_id": pd.array(np.char.add("a", np.arange(len(source_rows)).astype(str)), dtype="str"),
            "status": pd.Categorical.from_codes(status, categories=STATUSES),
            "source": pd.Categorical.from_codes(
                rng.integers(0, 3, n_events)[source_rows], categories=["web", "app", "pos"]
            ),
            "event_type": pd.Categorical.from_codes(np.zeros(len(source_rows), "int8"), categories=["order_placed"]),
            "entity_id": pd.array(entity[source_rows], dtype="str"),
            "event_time": times.astype("datetime64[us, UTC]"),
            "event_date": pd.array(times.strftime("%Y-%m-%d"), dtype="str"),
            "ingest_time": (times + pd.to_timedelta(row_lag, unit="ms")).astype("datetime64[us, UTC]"),
            "ingest_lag_ms": row_lag,
            "request_id": pd.array(np.char.add("r", np.arange(len(source_rows)).astype(str)), dtype="str"),
            "s3_key": pd.array(np.char.add("raw/", ids[source_rows]), dtype="str"),
            "payload_sha256": pd.array(payload, dtype="str"),
            "content_sha256": pd.array(payload, dtype="str"),
            "idempotency_key": pd.array([None] * len(source_rows), dtype="str"),
        }
    )
    frame = frame.sort_values("ingest_time", kind="stable").reset_index(drop=True)
    return frame, Truth(n_events, len(dup_rows), len(conflict_idx), len(np.union1d(dup_idx, conflict_idx)))


def _arrow(frame: pd.DataFrame):
    """``frame`` as an Arrow table, UTC columns kept UTC. They cross naive and get their zone back:
    pyarrow's from_pandas reads zoned columns through ``Series.values``, deprecated in pandas 3.1."""
    import pyarrow as pa

    zoned = list(frame.select_dtypes("datetimetz"))
    table = pa.Table.from_pandas(frame.assign(**{c: frame[c].dt.tz_convert(None) for c in zoned}), preserve_index=False)
    for name in zoned:
        column = table[name]
        table = table.set_column(
            table.schema.get_field_index(name), name, column.cast(pa.timestamp(column.type.unit, "UTC"))
        )
    return table


def write_curated(attempts: pd.DataFrame, root, *, seed: int = 0) -> pd.DataFrame:
    """Write ``attempts`` (a ``synthetic`` frame) in the compacted layout under ``root/curated``:
    attempts parts, and events parts (the ACCEPTED rows) with a generated payload: ``amount``
    (float), ``country`` (text) and the payload as JSON text. Returns the events written."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    from pik import parquet
    from pik.core import curated

    rng = np.random.default_rng(seed)
    partitioning = ds.partitioning(pa.schema([(c, pa.string()) for c in curated.PARTITION_COLUMNS]), flavor="hive")
    columns = {**curated.ATTEMPT_COLUMNS, **{c: "text" for c in curated.PARTITION_COLUMNS}}
    table = _arrow(attempts.astype({c: "str" for c in ("status", "source", "event_type")}))
    table = table.select(list(columns)).cast(parquet.schema(columns))
    _write(table, f"{root}/{curated.PREFIX}/{curated.ATTEMPTS}", partitioning)
    firsts = attempts[attempts["status"] == ACCEPTED_STATUS].reset_index(drop=True)
    amount = np.round(rng.lognormal(4, 1.5, len(firsts)), 2)
    country = np.array(["DE", "FR", "IT", "ES", "PL", "NL"])[rng.integers(0, 6, len(firsts))]
    events = _arrow(
        firsts[[*curated.EVENT_COLUMNS, *curated.PARTITION_COLUMNS]].astype({"source": "str", "event_type": "str"})
    )
    amount_text = pc.cast(pa.array(amount), pa.string())
    payload = pc.binary_join_element_wise('{"amount":', amount_text, ',"country":"', pa.array(country), '"}', "")
    events = events.append_column("amount", pa.array(amount)).append_column("country", pa.array(country))
    events = events.append_column(curated.PAYLOAD, payload)
    kinds = {
        **curated.EVENT_COLUMNS,
        "amount": "float",
        "country": "text",
        curated.PAYLOAD: "text",
        **{c: "text" for c in curated.PARTITION_COLUMNS},
    }
    _write(
        events.select(list(kinds)).cast(parquet.schema(kinds)),
        f"{root}/{curated.PREFIX}/{curated.EVENTS}",
        partitioning,
    )
    return firsts.assign(amount=amount, country=country)


def _write(table, base: str, partitioning) -> None:
    import pyarrow.dataset as ds

    ds.write_dataset(
        table,
        base,
        format="parquet",
        partitioning=partitioning,
        basename_template="part-{i}.parquet",
        existing_data_behavior="overwrite_or_ignore",
        max_rows_per_group=131_072,
        file_options=ds.ParquetFileFormat().make_write_options(compression="zstd"),
    )


ACCEPTED_STATUS = STATUSES[0]
