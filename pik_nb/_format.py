"""How numbers read wherever a person looks: findings, notebook tables, the CLI, the HTML report.

One place decides: counts are integers with thousands separators and the right plural, shares are
percentages, durations are ``humanize``'d (``2 d 22 h``, never a wrapping ``2 days 22:00:00``), and a
table's meaningless 0/1/2 index is hidden while a wide one scrolls.

>>> counted(1, "replay"), counted(1200, "event"), counted(3, "entity", "entities")
('1 replay', '1,200 events', '3 entities')
>>> percent(0.1234), number(57.0), number(1234.5)
('12.3%', '57', '1,234.5')
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

SHARE_SUFFIXES = ("_rate", "_share", "share", "_pct")

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


def counted(count: Any, noun: str, plural: str | None = None) -> str:
    """``count`` as an integer with the noun in the right number.

    >>> counted(1, "conflict"), counted(0, "window"), counted(57.0, "attempt")
    ('1 conflict', '0 windows', '57 attempts')
    """
    n = int(count)
    return f"{n:,} {noun if n == 1 else (plural or noun + 's')}"


_PERIODS = (
    ("day", pd.Timedelta(days=1)),
    ("hour", pd.Timedelta(hours=1)),
    ("minute", pd.Timedelta(minutes=1)),
    ("second", pd.Timedelta(seconds=1)),
)


def period(freq: str | pd.Timedelta, *, adjective: bool = False) -> str:
    """A window length (a pandas frequency such as ``1D`` or ``5min``) as a person says it; with
    ``adjective``, the form before a noun (``a 1-day window``).

    >>> period("1D"), period("5min"), period("6h", adjective=True), period("90s", adjective=True)
    ('1 day', '5 minutes', '6-hour', '90-second')
    """
    length = pd.Timedelta(freq)
    name, size = next(
        ((n, u) for n, u in _PERIODS if length >= u and length % u == pd.Timedelta(0)), ("second", _PERIODS[-1][1])
    )
    n = length / size
    amount = f"{n:g}"
    if adjective:
        return f"{amount}-{name}"
    return f"{amount} {name if n == 1 else name + 's'}"


def a_window(freq: str | pd.Timedelta) -> str:
    """One window of ``freq``, with its article: ``a 1-day window``, ``an 8-hour window``.

    >>> a_window("1D"), a_window("8h"), a_window("15min")
    ('a 1-day window', 'an 8-hour window', 'a 15-minute window')
    """
    length = period(freq, adjective=True)
    amount = length.split("-")[0]
    return f"{'an' if amount.startswith('8') or amount in ('11', '18') else 'a'} {length} window"


def percent(share: Any, digits: int = 1) -> str:
    """A share (0..1) as a percentage; ``n/a`` when missing.

    >>> percent(0.5), percent(1 / 3, 0), percent(float("nan"))
    ('50.0%', '33%', 'n/a')
    """
    if share is None or pd.isna(share):
        return "n/a"
    return f"{float(share):.{digits}%}"


def number(value: Any) -> str:
    """An integer without ``.0``, a fraction with at most two decimals, both with thousands separators.

    >>> number(57.0), number(3), number(0.125), number(None)
    ('57', '3', '0.12', 'n/a')
    """
    if value is None or pd.isna(value):
        return "n/a"
    value = float(value)
    if math.isfinite(value) and value == round(value):
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def readable(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy for display: ``*_ms`` columns and timedeltas as durations (``_ms`` dropped from the name),
    ``*_rate``/``*share`` columns as percentages, whole floats as integers; datetimes stay datetimes.

    >>> readable(pd.DataFrame({"p99_ms": [252_610_800.0], "count": [3.0], "duplicate_rate": [0.25]}))
            p99 count duplicate_rate
    0  2 d 22 h     3          25.0%
    """
    shown = frame.copy()
    renames = {}
    for column in frame.columns:
        name, values = str(column), frame[column]
        if pd.api.types.is_bool_dtype(values) or not (
            pd.api.types.is_numeric_dtype(values) or pd.api.types.is_timedelta64_dtype(values)
        ):
            continue
        if name.endswith("_ms") and pd.api.types.is_numeric_dtype(values):
            shown[column] = values.map(humanize)
            renames[column] = name.removesuffix("_ms")
        elif pd.api.types.is_timedelta64_dtype(values):
            shown[column] = values.map(humanize)
        elif name.endswith(SHARE_SUFFIXES):
            shown[column] = values.map(percent)
        elif pd.api.types.is_float_dtype(values):
            shown[column] = values.map(number)
    return shown.rename(columns=renames)


humanize_frame = readable  # the public name (``pik_nb.humanize_frame``)


class Table:
    """A frame shown as a person reads it (``readable``), without a meaningless 0/1/2 index, in a
    box that scrolls sideways when wide. ``.frame`` is the readable DataFrame.

    >>> table(kit.events(entity_id="c-42", start="2026-11-20", end="2026-11-21"))  # doctest: +SKIP
    """

    def __init__(self, frame: pd.DataFrame, *, index: bool | None = None) -> None:
        self.frame = readable(frame)
        self.index = index if index is not None else _meaningful(frame.index)

    def _repr_html_(self) -> str:
        styler = self.frame.style if self.index else self.frame.style.hide(axis="index")
        body = styler.format(na_rep="").to_html()
        return f'<div class="pik-table" style="overflow-x: auto; max-width: 100%">{body}</div>'

    def __repr__(self) -> str:
        return self.frame.to_string(index=self.index)

    def __len__(self) -> int:
        return len(self.frame)


def _meaningful(index: pd.Index) -> bool:
    """Whether an index says something: named levels, times or labels do; an unnamed integer one (0/1/2,
    or the row numbers left after a sort, a filter or ``tail``) does not.

    >>> _meaningful(pd.RangeIndex(3)), _meaningful(pd.Index([7, 2, 5])), _meaningful(pd.Index(["web", "pos"]))
    (False, False, True)
    >>> _meaningful(pd.Index([7, 2], name="version"))
    True
    """
    return any(name is not None for name in index.names) or not pd.api.types.is_integer_dtype(index)


def table(frame: pd.DataFrame, *, index: bool | None = None) -> Table:
    """``Table(frame)``: what notebooks ``display`` instead of a raw frame."""
    return Table(frame, index=index)
