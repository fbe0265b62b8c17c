"""Investigator-friendly times: anything pandas reads; naive times and bare dates count as UTC."""

from __future__ import annotations

import numbers
from datetime import date, datetime, timedelta
from itertools import pairwise

import pandas as pd

from pik.core.timefmt import UTC, key_time

from ._errors import ScopeError

Time = datetime | str | pd.Timestamp  # anything ``utc`` reads


def utc(value: datetime | str | pd.Timestamp) -> datetime:
    """``utc("2026-11-20") == datetime(2026, 11, 20, tzinfo=UTC)``; offsets are honoured. What is no time
    (``"garbage"``, ``None``, ``"NaT"``, NaN) is a ``ScopeError`` saying so, not pandas' parse error.

    >>> utc("garbage")
    Traceback (most recent call last):
    pik_nb._errors.ScopeError: 'garbage' is not a date or time like 2026-11-20 or 2026-11-20T10:00:00Z
    """
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        stamp = pd.NaT
    if pd.isna(stamp):
        raise ScopeError(f"{value!r} is not a date or time like 2026-11-20 or 2026-11-20T10:00:00Z")
    stamp = stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)
    return stamp.to_pydatetime()


def utc_day(day: str) -> str:
    """A UTC day as ``YYYY-MM-DD``, or a ``ScopeError`` naming it (``kit.diff("c-42", "yesterday")``).

    >>> utc_day("2026-11-20")
    '2026-11-20'
    """
    try:
        return date.fromisoformat(str(day)).isoformat()
    except ValueError:
        raise ScopeError(f"day={day!r} is not a day like 2026-11-20") from None


def duration(value: str | pd.Timedelta | timedelta, name: str, *, positive: bool = True) -> pd.Timedelta:
    """``value`` as a ``pd.Timedelta`` (``"1h"``, ``"15min"``, ``"1D"``), or a ``ScopeError`` naming ``name``
    (longer than zero when ``positive``).

    >>> duration("90min", "threshold")
    Timedelta('0 days 01:30:00')
    >>> duration("soon", "threshold")
    Traceback (most recent call last):
    pik_nb._errors.ScopeError: threshold='soon' is not a duration like '1h', '15min' or '1D'
    """
    try:
        length = pd.Timedelta(value)
    except (ValueError, TypeError, OverflowError):
        length = pd.NaT
    if pd.isna(length) or (positive and length <= pd.Timedelta(0)):
        raise ScopeError(f"{name}={value!r} is not a duration like '1h', '15min' or '1D'")
    return length


def time_slices(start: datetime, end: datetime, most: int) -> list[tuple[str, str]]:
    """``[start, end)`` in equal slices of about a day (at most ``most``), as key-time string pairs."""
    count = max(1, min(most, -(-(end - start) // timedelta(days=1))))
    edges = [start + (end - start) * i / count for i in range(count)] + [end]
    return [(key_time(low), key_time(high)) for low, high in pairwise(edges)]


def days_back(days: int, today: datetime | None = None) -> list[str]:
    """The last ``days`` UTC dates, oldest first, ending today (``days`` is 1 or more, else a ``ScopeError``)."""
    if isinstance(days, bool) or not isinstance(days, numbers.Integral) or days < 1:
        raise ScopeError(f"days={days!r}: give a whole number of days, 1 or more, or a list of dates")
    end = pd.Timestamp(today or datetime.now(UTC)).normalize()
    return [d.date().isoformat() for d in pd.date_range(end=end, periods=days, freq="D")]
