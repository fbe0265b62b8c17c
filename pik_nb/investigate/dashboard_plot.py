"""Waterfalls for ``explain_dashboard``: dashboard -> each cause taken back -> truth.

Read left to right: the bar the dashboard shows, then each cause removed (a late event the dashboard
missed raises the bar back, a repeat it counted lowers it), then what no cause explains, ending on the
truth.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from ..analyses import plotting as _plot

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_STEPS = ("late", "early", "duplicates", "conflicts", "rejected", "replayed", "unexplained")


def waterfalls(table: pd.DataFrame, window: Any = None, *, ax: Any = None) -> Figure:
    """One waterfall for ``window`` (default: the window with the largest gap) and one for the whole
    range; with ``ax`` (one axes) only the window's."""
    if window is None:
        window = table.loc[table["gap"].abs().idxmax(), "window"] if len(table) else None
    rows = table[table["window"] == pd.Timestamp(window)] if window is not None else table.iloc[:0]
    if ax is not None and not isinstance(ax, (list, tuple)):
        figure, one = _plot.axes(ax)
        waterfall(rows.sum(numeric_only=True), f"{_label(window)}", one)
        return figure
    figure, (left, right) = _plot.pair(ax)
    waterfall(rows.sum(numeric_only=True), f"{_label(window)}", left)
    waterfall(table.sum(numeric_only=True), "all windows", right)
    return figure


def waterfall(row: pd.Series, title: str, ax: Axes) -> None:
    """Bars: ``dashboard``, minus each non-zero cause, ``truth``."""
    labels, bottoms, heights, colours = ["dashboard"], [0.0], [float(row.get("dashboard", 0))], ["#4c72b0"]
    level = heights[0]
    for step in _STEPS:
        change = -float(row.get(step, 0))
        if change:
            labels.append(step)
            bottoms.append(min(level, level + change))
            heights.append(abs(change))
            colours.append("#55a868" if change > 0 else "#c44e52")
            level += change
    labels.append("truth")
    bottoms.append(0.0)
    heights.append(float(row.get("truth", 0)))
    colours.append("#8172b3")
    ax.bar(labels, heights, bottom=bottoms, color=colours)
    for x, (bottom, height) in enumerate(zip(bottoms, heights, strict=True)):
        ax.annotate(f"{height:,.0f}", (x, bottom + height), ha="center", va="bottom", fontsize=8)
    ax.set_title(f"dashboard -> truth, {title}")
    ax.set_ylabel("value")
    ax.set_xlabel("cause taken back")
    ax.tick_params(axis="x", labelrotation=30)


def _label(window: Any) -> str:
    if window is None:
        return "no window"
    stamp = pd.Timestamp(window)
    return f"{stamp:%Y-%m-%d}" if stamp == stamp.normalize() else f"{stamp:%Y-%m-%d %H:%M}"
