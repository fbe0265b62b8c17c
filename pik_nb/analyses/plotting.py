"""Shared plotting helpers: every ``plot_*`` draws on the given axes or on a new figure.

New figures are ``matplotlib.figure.Figure`` objects, not pyplot's: they never pop up twice in a
notebook, need no GUI backend, and Jupyter still renders the returned figure. They display as a
PNG that carries alternative text (``metadata["image/png"]["alt"]``, the Jupyter convention the
HTML report's template turns into ``<img alt=...>``), written from the figure's titles and axis
labels, so a screen reader and the report both say what the figure shows.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def describe(figure: Figure) -> str:
    """A figure's alternative text: each titled axes' title and what it plots against what."""
    parts = []
    for ax in figure.get_axes():
        title, x, y = ax.get_title(), ax.get_xlabel(), ax.get_ylabel()
        if title or x or y:
            parts.append(f"{title or 'plot'}" + (f" ({y} by {x})" if x and y else ""))
    return "Figure: " + "; ".join(parts) if parts else "Figure"


@cache
def _figure_class() -> type[Figure]:
    from matplotlib.figure import Figure

    class DescribedFigure(Figure):
        """A Figure whose notebook display is a PNG with alternative text."""

        def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> tuple[dict, dict]:
            from IPython.core.pylabtools import print_figure

            data = {"image/png": print_figure(self, "png", base64=True), "text/plain": repr(self)}
            return data, {"image/png": {"alt": describe(self)}}

    return DescribedFigure


def _new_figure(width: float, height: float) -> Figure:
    return _figure_class()(figsize=(width, height), layout="constrained")


def axes(ax: Axes | None, *, width: float = 8, height: float = 3.5) -> tuple[Figure, Axes]:
    """``(figure, axes)``: the caller's axes, or one new figure with one axes."""
    if ax is not None:
        return ax.figure, ax
    figure = _new_figure(width, height)
    return figure, figure.add_subplot()


def pair(ax: Any, *, width: float = 11, height: float = 3.5) -> tuple[Figure, list[Axes]]:
    """Two side-by-side axes, or the two the caller passed."""
    if ax is not None:
        return ax[0].figure, list(ax)
    figure = _new_figure(width, height)
    return figure, list(figure.subplots(1, 2))
