"""A frame the kit returned, checked against its kind's schema (``pik_nb.schemas``) with ``validate`` and with
Arrow itself (``to_arrow``), and a copy with one null where the schema says never, which both must refuse."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from pik_nb import schemas


def conforms(frame: pd.DataFrame, kind: str, *, ordered: bool = True) -> pa.Table:
    """``frame`` is a ``kind`` frame by its attrs (``schemas.kind_of``: an analysis's name, or its kind),
    ``validate`` and Arrow; its fixed columns come first, in the schema's order (unless not ``ordered``); returns
    the Arrow table (the schema's fields, exactly)."""
    schema = schemas.schema(kind)
    assert schemas.kind_of(frame) == kind
    assert schemas.validate(frame) is frame
    columns = [f.name for f in schema if not f.metadata.get(b"pik_index")]
    if ordered:
        assert list(frame.columns[: len(columns)]) == columns
    else:
        assert set(columns) <= set(frame.columns)
    table = schemas.to_arrow(frame)
    assert table.schema.names == schema.names and (table.num_rows == len(frame) or not schema.names)
    for field in schema:
        if field.type != pa.null():
            assert table.schema.field(field.name) == field, field.name  # type, nullability, metadata
    return table


def refused(frame: pd.DataFrame, column: str) -> str:
    """What ``validate`` says of ``frame`` with a null in its non-nullable ``column`` (Arrow refuses it too)."""
    broken = frame.copy()
    broken[column] = (
        broken[column].astype(object).where(broken.index != broken.index[0], None).astype(frame[column].dtype)
    )
    with pytest.raises(schemas.SchemaError, match="for Arrow: .*non-nullable"):
        schemas.to_arrow(broken)
    with pytest.raises(schemas.SchemaError) as raised:
        schemas.validate(broken)
    return str(raised.value)
