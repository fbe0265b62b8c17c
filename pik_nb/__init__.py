"""pik_nb: investigation data in typed DataFrames, analyses, plots and ``explain(event_id)``.

>>> import pik_nb
>>> kit = pik_nb.connect()
>>> events = kit.events(entity_id="customer-42", start="2026-11-20", end="2026-11-22")
>>> pik_nb.lateness(events, by="source")

Importing it loads pandas and pyarrow only: matplotlib comes with the first plot, ipywidgets with
the first widget.
"""

from .connect import connect
from .diff import Diff, compare, plot_diff
from .duplicates import Duplicates, duplicates, plot_duplicates
from .errors import ApiError, ConnectError, KitError, ScopeError, SqlError
from .explain import Explanation
from .frames import AGGREGATE_COLUMNS, ATTEMPT_COLUMNS, RUN_COLUMNS
from .gaps import GAP_CLASSES, gaps, plot_gaps
from .health import plot_health
from ._format import humanize_frame, table
from .durations import humanize
from .kit import Kit
from .lateness import LatenessPolicy, lateness, lateness_policy, out_of_order, plot_lateness
from .replay_flow import ReplayFlow, Scope
from .replay_widget import replay_widget
from .stack import Resources, Stack

__all__ = [
    "connect", "Kit", "Stack", "Resources",
    "ATTEMPT_COLUMNS", "AGGREGATE_COLUMNS", "RUN_COLUMNS",
    "lateness", "lateness_policy", "out_of_order", "plot_lateness", "LatenessPolicy",
    "duplicates", "plot_duplicates", "Duplicates",
    "gaps", "plot_gaps", "GAP_CLASSES",
    "plot_health",
    "humanize", "humanize_frame", "table",
    "compare", "plot_diff", "Diff",
    "Explanation",
    "replay_widget", "ReplayFlow", "Scope",
    "KitError", "ConnectError", "ScopeError", "SqlError", "ApiError",
]
