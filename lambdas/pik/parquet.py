"""Rows to Parquet bytes, deterministically: the one module of the Lambda package that imports
pyarrow (only the compaction function loads it; in AWS it comes from the ``AWSSDKPandas``
managed layer, see ``template.yaml``).

    >>> body = encode([{"n": 1, "t": "2026-11-20T00:00:00.000000Z"}], {"n": "int", "t": "time"})
    >>> body[:4], body == encode([{"n": 1, "t": "2026-11-20T00:00:00.000000Z"}], {"n": "int", "t": "time"})
    (b'PAR1', True)

Same rows and columns give the same bytes (fixed writer options, no timestamps in the file), so a
part's content hash names it.

Compression is snappy: the ``AWSSDKPandas`` layer builds Arrow with ``ARROW_WITH_SNAPPY=ON`` and
``ARROW_WITH_ZLIB=ON`` only (``ZSTD``, ``LZ4``, ``BROTLI`` and ``BZ2`` are ``OFF``; aws/aws-sdk-pandas,
``building/lambda/build-lambda-layer.sh``), so a zstd part fails there. Snappy is also what Athena,
DuckDB, polars and Spark read fastest.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

#: Arrow type per column kind (``pik.core.curated``/``records`` kinds).
ARROW_TYPES = {
    "text": pa.string(),
    "label": pa.string(),
    "time": pa.timestamp("us", "UTC"),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
}
ROW_GROUP_ROWS = 131_072
#: Codecs the AWSSDKPandas layer's pyarrow is built with (``-DARROW_WITH_<CODEC>=ON``), and ours.
LAYER_CODECS = frozenset({"snappy", "gzip"})
COMPRESSION = "snappy"


def schema(columns: dict[str, str]) -> pa.Schema:
    """The Arrow schema of ``columns`` (name -> kind)."""
    return pa.schema([(name, ARROW_TYPES[kind]) for name, kind in columns.items()])


def table(rows: list[dict], columns: dict[str, str]) -> pa.Table:
    """``rows`` as a typed table: times parsed from key-time strings, mixed payload values widened."""
    arrays = []
    for name, kind in columns.items():
        values = [row.get(name) for row in rows]
        if kind == "time":
            arrays.append(pa.array(values, pa.string()).cast(ARROW_TYPES[kind]))
        elif kind == "text":
            arrays.append(
                pa.array([None if v is None else v if isinstance(v, str) else text(v) for v in values], pa.string())
            )
        elif kind == "float":
            arrays.append(pa.array([None if v is None else float(v) for v in values], pa.float64()))
        else:
            arrays.append(pa.array(values, ARROW_TYPES[kind]))
    return pa.Table.from_arrays(arrays, schema=schema(columns))


def encode(rows: list[dict], columns: dict[str, str]) -> bytes:
    """Parquet bytes of ``rows`` (snappy, dictionary-encoded strings, statistics for pruning)."""
    sink = pa.BufferOutputStream()
    pq.write_table(
        table(rows, columns),
        sink,
        compression=COMPRESSION,
        row_group_size=ROW_GROUP_ROWS,
        write_statistics=True,
        use_dictionary=True,
    )
    return sink.getvalue().to_pybytes()


def text(value: object) -> str:
    """A scalar in a ``text`` column: as JSON writes it (``true``, ``12``, ``1.5``, ``1e+308``), exact
    for integers of any size.

    >>> text(True), text(2**64), text(-1.797e308)
    ('true', '18446744073709551616', '-1.797e+308')
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def decode(body: bytes, columns: list[str]) -> list[dict]:
    """The rows of Parquet ``body``, only ``columns`` read (the others are never decoded).

    >>> decode(encode([{"n": 1}], {"n": "int"}), ["n"])
    [{'n': 1}]
    """
    return pq.read_table(pa.BufferReader(body), columns=columns).to_pylist()
