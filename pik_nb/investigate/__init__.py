"""Investigations of one thing on a stack: ``explain`` (every trace of one event), ``diff`` (what
changed in one aggregate, and why), ``reconcile`` (bucket against table) and the stack's ``status``.

Each takes a ``Stack``; ``Kit`` (``kit.explain(...)``, ``kit.diff(...)``) is how a notebook calls them.

>>> from pik_nb.investigate import Diff, Explanation, compare, plot_diff
"""

from . import diff, explain, reconcile
from .diff import Diff, compare, plot_diff
from .explain import Explanation

__all__ = ["Explanation", "Diff", "compare", "plot_diff", "diff", "explain", "reconcile"]
