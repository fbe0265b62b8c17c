"""Investigator-friendly times: anything pandas reads; naive times and bare dates count as UTC."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from pik.core.timefmt import UTC, day_bounds, days_between, key_time


def utc(value: datetime | str | pd.Timestamp) -> datetime:
    """``utc("2026-11-20") == datetime(2026, 11, 20, tzinfo=UTC)``; offsets are honoured."""
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)
    return stamp.to_pydatetime()


def day_slices(start: datetime, end: datetime) -> list[tuple[str, str]]:
    """``[start, end)`` cut at UTC midnights, as key-time string pairs (one query per slice)."""
    slices = []
    for day in days_between(start, end):
        low, high = day_bounds(day)
        slices.append((key_time(max(low, start)), key_time(min(high, end))))
    return slices


def days_back(days: int, today: datetime | None = None) -> list[str]:
    """The last ``days`` UTC dates, oldest first, ending today."""
    end = pd.Timestamp(today or datetime.now(UTC)).normalize()
    return [d.date().isoformat() for d in pd.date_range(end=end, periods=days, freq="D")]
