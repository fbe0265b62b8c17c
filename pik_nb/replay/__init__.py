"""Replay from a notebook: ``ReplayFlow`` (preview -> confirm -> replay -> watch -> diff, no UI) and
``replay_widget`` (the same flow behind buttons; ipywidgets loads with the first widget).

>>> from pik_nb.replay import FlowError, ReplayFlow, Scope, replay_widget
"""

from .flow import FlowError, Progress, ReplayFlow, Scope, to_send
from .widget import replay_widget

__all__ = ["ReplayFlow", "Scope", "Progress", "FlowError", "replay_widget", "to_send"]
