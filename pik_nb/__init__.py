"""pik_nb: investigation data in typed DataFrames, analyses, plots and ``explain(event_id)``.

>>> import pik_nb
>>> kit = pik_nb.connect()
>>> events = kit.events(entity_id="customer-42", start="2026-11-20", end="2026-11-22")
>>> pik_nb.lateness(events, by="source")

Importing it loads pandas and pyarrow only: matplotlib comes with the first plot, ipywidgets with
the first widget.
"""

from pik_api._moved import register

from ._errors import ApiError, ConnectError, KitError, ScopeError, SqlError
from ._format import table
from .analyses import (
    GAP_CLASSES,
    Duplicates,
    LatenessPolicy,
    duplicates,
    gaps,
    humanize,
    humanize_frame,
    lateness,
    lateness_policy,
    out_of_order,
    plot_duplicates,
    plot_gaps,
    plot_health,
    plot_lateness,
)
from .connect import connect
from .investigate import DashboardExplanation, Diff, Explanation, Semantics, compare, plot_diff
from .kit import Kit
from .read import AGGREGATE_COLUMNS, ATTEMPT_COLUMNS, RUN_COLUMNS, Resources, Stack, schemas
from .replay import ReplayFlow, Scope, replay_widget

# Old module paths (before pik_nb was grouped into rooms): each still imports, with a DeprecationWarning
# naming its new place, until the next release. ``pik_nb.lateness``, ``.duplicates``, ``.gaps`` and
# ``.replay_widget`` are functions of this package, so their old modules are not listed.
MOVED = {
    f"pik_nb.{old}": f"pik_nb.{new}"
    for old, new in {
        "stack": "read.stack",
        "frames": "read.frames",
        "load": "read.tables",
        "raw": "read.objects",
        "objects": "read._s3",
        "dynamo": "read._dynamodb",
        "signed": "read._signed",
        "health": "analyses.health",
        "durations": "analyses.durations",
        "_plot": "analyses.plotting",
        "explain": "investigate.explain",
        "diff": "investigate.diff",
        "reconcile": "investigate.reconcile",
        "queries_sql": "sql.queries",
        "sql_analyses": "sql.analyses",
        "archive": "sql.archive",
        "replay_flow": "replay.flow",
        "incident": "notebook.incident",
        "runner": "notebook.runner",
        "errors": "_errors",
        "times": "_times",
    }.items()
}
__getattr__ = register(MOVED)  # ``pik_nb.health`` after ``import pik_nb``, as before

__all__ = [
    "connect",
    "Kit",
    "Stack",
    "Resources",
    "ATTEMPT_COLUMNS",
    "AGGREGATE_COLUMNS",
    "RUN_COLUMNS",
    "schemas",
    "lateness",
    "lateness_policy",
    "out_of_order",
    "plot_lateness",
    "LatenessPolicy",
    "duplicates",
    "plot_duplicates",
    "Duplicates",
    "gaps",
    "plot_gaps",
    "GAP_CLASSES",
    "plot_health",
    "humanize",
    "humanize_frame",
    "table",
    "compare",
    "plot_diff",
    "Diff",
    "Explanation",
    "DashboardExplanation",
    "Semantics",
    "replay_widget",
    "ReplayFlow",
    "Scope",
    "KitError",
    "ConnectError",
    "ScopeError",
    "SqlError",
    "ApiError",
]
