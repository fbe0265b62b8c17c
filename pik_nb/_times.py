"""Investigator-friendly times: anything pandas reads; naive times and bare dates count as UTC."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise

import pandas as pd

from pik.core.timefmt import UTC, key_time

Time = datetime | str | pd.Timestamp  # anything ``utc`` reads


def utc(value: datetime | str | pd.Timestamp) -> datetime:
    """``utc("2026-11-20") == datetime(2026, 11, 20, tzinfo=UTC)``; offsets are honoured."""
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)
    return stamp.to_pydatetime()


def time_slices(start: datetime, end: datetime, most: int) -> list[tuple[str, str]]:
    """``[start, end)`` in equal slices of about a day (at most ``most``), as key-time string pairs."""
    count = max(1, min(most, -(-(end - start) // timedelta(days=1))))
    edges = [start + (end - start) * i / count for i in range(count)] + [end]
    return [(key_time(low), key_time(high)) for low, high in pairwise(edges)]


def days_back(days: int, today: datetime | None = None) -> list[str]:
    """The last ``days`` UTC dates, oldest first, ending today."""
    end = pd.Timestamp(today or datetime.now(UTC)).normalize()
    return [d.date().isoformat() for d in pd.date_range(end=end, periods=days, freq="D")]
