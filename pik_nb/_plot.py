"""Shared plotting helpers: every ``plot_*`` draws on the given axes or on a new figure.

New figures are ``matplotlib.figure.Figure`` objects, not pyplot's: they never pop up twice in a
notebook, need no GUI backend, and Jupyter still renders the returned figure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def axes(ax: Axes | None, *, width: float = 8, height: float = 3.5) -> tuple[Figure, Axes]:
    """``(figure, axes)``: the caller's axes, or one new figure with one axes."""
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    return figure, figure.add_subplot()


def pair(ax: Any, *, width: float = 11, height: float = 3.5) -> tuple[Figure, list[Axes]]:
    """Two side-by-side axes, or the two the caller passed."""
    if ax is not None:
        return ax[0].figure, list(ax)
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    return figure, list(figure.subplots(1, 2))
