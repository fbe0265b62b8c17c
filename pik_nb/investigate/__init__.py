"""Investigations of one thing on a stack: ``explain`` (every trace of one event), ``diff`` (what
changed in one aggregate, and why), ``dashboard`` (why a dashboard's number differs from the truth;
``dashboard_load`` reads it from a stack), ``reconcile`` (bucket against table), the stack's ``status``
and ``doctor`` (every path pik relies on, after a deploy: ``kit.doctor()``, ``pik doctor``).

Each takes a ``Stack``; ``Kit`` (``kit.explain(...)``, ``kit.diff(...)``) is how a notebook calls them.

>>> from pik_nb.investigate import Diff, Explanation, compare, plot_diff
"""

from . import dashboard, diff, doctor, explain, reconcile
from .dashboard import DashboardExplanation, Semantics
from .diff import Diff, compare, plot_diff
from .explain import Explanation

__all__ = [
    "Explanation",
    "Diff",
    "compare",
    "plot_diff",
    "DashboardExplanation",
    "Semantics",
    "dashboard",
    "diff",
    "doctor",
    "explain",
    "reconcile",
]
