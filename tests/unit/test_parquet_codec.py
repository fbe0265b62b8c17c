"""The compaction function's pyarrow is the AWSSDKPandas layer's, built (aws/aws-sdk-pandas,
``building/lambda/build-lambda-layer.sh``) with ``-DARROW_WITH_SNAPPY=ON -DARROW_WITH_ZLIB=ON`` and
``-DARROW_WITH_ZSTD=OFF -DARROW_WITH_LZ4=OFF -DARROW_WITH_BROTLI=OFF -DARROW_WITH_BZ2=OFF``: every
part must use a codec of that set (issue 18, finding 9)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from pik import parquet

#: Parquet codec names of the layer build's ``ARROW_WITH_<CODEC>=ON`` flags (zlib is Parquet's gzip).
LAYER_BUILD = {"SNAPPY": "snappy", "ZLIB": "gzip"}
NOT_IN_THE_LAYER = {"zstd", "lz4", "brotli", "bz2"}


def test_parts_are_written_with_a_codec_the_layer_has():
    assert parquet.LAYER_CODECS == set(LAYER_BUILD.values())
    assert parquet.COMPRESSION in parquet.LAYER_CODECS and parquet.COMPRESSION not in NOT_IN_THE_LAYER
    body = parquet.encode(
        [{"n": 1, "s": "x", "t": "2026-11-20T00:00:00.000000Z"}], {"n": "int", "s": "text", "t": "time"}
    )
    meta = pq.ParquetFile(pa.BufferReader(body)).metadata
    codecs = {
        meta.row_group(g).column(c).compression.lower()
        for g in range(meta.num_row_groups)
        for c in range(meta.num_columns)
    }
    assert codecs == {"snappy"}
