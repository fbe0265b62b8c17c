"""Analyses of loaded DataFrames: lateness, duplicates, gaps, health, and durations as people read them.

>>> from pik_nb.analyses import humanize
>>> humanize(97_000)
'1 min 37 s'

Each ``plot_*`` draws on the given axes or on a new figure (``plotting``); matplotlib loads with
the first plot.
"""

from .._format import humanize_frame
from . import durations, health
from ._provenance import carry, derived, tag
from .duplicates import Duplicates, duplicates, plot_duplicates
from .durations import humanize
from .gaps import GAP_CLASSES, GAP_COLUMNS, gaps, plot_gaps
from .health import plot_health
from .lateness import LATENESS_COLUMNS, LatenessPolicy, lateness, lateness_policy, out_of_order, plot_lateness

__all__ = [
    "lateness",
    "lateness_policy",
    "out_of_order",
    "plot_lateness",
    "LatenessPolicy",
    "LATENESS_COLUMNS",
    "duplicates",
    "plot_duplicates",
    "Duplicates",
    "gaps",
    "plot_gaps",
    "GAP_CLASSES",
    "GAP_COLUMNS",
    "plot_health",
    "health",
    "humanize",
    "humanize_frame",
    "durations",
    "derived",
    "tag",
    "carry",
]
