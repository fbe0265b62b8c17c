"""Durations as a person reads them: ``2 d 22 h``, ``1 min 37 s``, ``850 ms``.

Lags stay int64 milliseconds in every frame (they are for computing); findings and displayed
tables pass them through ``humanize`` / ``humanize_frame``.

>>> humanize(252_610_800)
'2 d 22 h'
>>> humanize(pd.Timedelta(minutes=4))
'4 min'
"""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pandas as pd

Duration = int | float | np.integer | np.floating | timedelta | np.timedelta64 | None

# From the largest unit down; a duration shows its largest unit and, if not zero, the next one.
_UNITS = (("d", 86_400_000), ("h", 3_600_000), ("min", 60_000), ("s", 1_000))


def humanize(value: Duration, *, unit: str = "ms") -> str:
    """A duration in at most two units, rounded to the smaller one; numbers are ``unit`` (``ms``, ``s`` or ``min``).

    Below a second it is milliseconds, below ten seconds one decimal; missing values read ``n/a``.

    >>> humanize(97_000), humanize(252_610_800), humanize(4_200), humanize(850), humanize(-90_000)
    ('1 min 37 s', '2 d 22 h', '4.2 s', '850 ms', '-1 min 30 s')
    >>> humanize(pd.Timedelta("0 days 00:04:00")), humanize(2.5, unit="s"), humanize(float("nan"))
    ('4 min', '2.5 s', 'n/a')
    """
    ms = _milliseconds(value, unit)
    if ms is None:
        return "n/a"
    if ms < 0:
        return "-" + humanize(-ms)
    if round(ms) < 1_000:
        return f"{round(ms)} ms"
    if round(ms / 1_000, 1) < 10:
        return f"{round(ms / 1_000, 1):g} s"
    for i, (name, size) in enumerate(_UNITS):
        small_name, small = _UNITS[i + 1] if i + 1 < len(_UNITS) else (name, size)
        total = round(ms / small) * small
        if total >= size:
            top, rest = divmod(total, size)
            return f"{top} {name}" + (f" {rest // small} {small_name}" if rest and small != size else "")
    return f"{round(ms / 1_000)} s"  # not reached: 10 s and more always has a unit


def humanize_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy for display: ``*_ms`` columns become readable durations without the suffix, and so
    do timedelta columns; everything else is unchanged.

    >>> humanize_frame(pd.DataFrame({"p99_ms": [252_610_800.0], "count": [3]}))
            p99  count
    0  2 d 22 h      3
    """
    shown = frame.copy()
    for column in frame.columns:
        name = str(column)
        if name.endswith("_ms") and pd.api.types.is_numeric_dtype(frame[column]):
            shown[column] = frame[column].map(humanize)
            shown = shown.rename(columns={column: name.removesuffix("_ms")})
        elif pd.api.types.is_timedelta64_dtype(frame[column]):
            shown[column] = frame[column].map(humanize)
    return shown


def _milliseconds(value: Duration, unit: str) -> float | None:
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, (timedelta, np.timedelta64)):
        delta = pd.Timedelta(value)
        return None if pd.isna(delta) else delta / pd.Timedelta(milliseconds=1)
    number = float(value)
    if math.isnan(number):
        return None
    return number * {"ms": 1, "s": 1_000, "min": 60_000}[unit]
