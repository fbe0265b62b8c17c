"""pik.core.curated: keys, payload columns and their kinds; pik.parquet: same rows, same bytes."""

from __future__ import annotations

import io

import pyarrow.parquet as pq

from pik import parquet
from pik.core import curated
from pik.core.curated import Partition


def test_keys_round_trip_and_match_the_hive_layout():
    partition = Partition("checkout", "order_placed", "2026-11-20")
    assert curated.partition_of_manifest(curated.manifest_key(partition)) == partition
    assert (
        curated.manifest_key(partition)
        == "curated/manifests/source=checkout/event_type=order_placed/event_date=2026-11-20.json"
    )
    assert (
        curated.part_key(curated.EVENTS, *partition, "ab")
        == "curated/events/source=checkout/event_type=order_placed/event_date=2026-11-20/part-ab.parquet"
    )
    assert not set(curated.ATTEMPT_COLUMNS) & set(curated.PARTITION_COLUMNS)  # they live in the path


def test_only_sql_safe_top_level_scalars_become_columns():
    payload = {
        "amount": 1,
        "Country": "DE",
        "nested": {"a": 1},
        "list": [1],
        "event_id": "x",
        "ok": False,
        "with space": 1,
        "note": None,
        "x" * 65: 1,
    }
    assert curated.payload_fields(payload) == {"amount": 1, "ok": False, "note": None}
    assert curated.payload_fields([1, 2]) == {} and curated.payload_fields("text") == {}


def test_kinds_widen_int_and_float_to_float_and_anything_else_mixed_to_text():
    rows = [{"a": 1, "b": 1, "c": True, "d": None, "e": "x"}, {"a": 2.5, "b": "two", "c": False, "d": None, "e": None}]
    assert curated.payload_kinds(rows) == {"a": "float", "b": "text", "c": "bool", "e": "text"}


def test_event_rows_keep_the_canonical_payload_text():
    item = {"event_id": "e1", "entity_id": "c", "event_time": "2026-11-20T00:00:00.000000Z"}
    row = curated.event_row(item, {"event": {"payload": {"b": 2, "a": [1]}}})
    assert row["payload"] == '{"a":[1],"b":2}' and row["b"] == 2 and "a" not in row


def test_the_same_rows_give_the_same_bytes_and_a_mixed_column_reads_back_as_text():
    rows = [{"n": 1, "t": "2026-11-20T00:00:00.000001Z", "s": 3}, {"n": None, "t": None, "s": True}]
    columns = {"n": "int", "t": "time", "s": "text"}
    first, second = parquet.encode(rows, columns), parquet.encode([dict(r) for r in rows], columns)
    assert first == second
    table = pq.read_table(io.BytesIO(first))
    assert table.column("s").to_pylist() == ["3", "true"] and table.column("n").to_pylist() == [1, None]
    assert str(table.schema.field("t").type) == "timestamp[us, tz=UTC]"
