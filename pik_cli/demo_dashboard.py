"""The demo's dashboard: ``.pik/demo-dashboard.csv``, the story's daily counts of the focus stream as
a nightly job would have shown them (``DEMO_SEMANTICS``: by event time, a 6 h cutoff, no dedup),
computed from what the stack recorded. ``pik explain-dashboard`` on it gives that semantics back.

    >>> write_demo_dashboard(kit, truth, Path(".pik/demo-dashboard.csv"))          # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pik_local.story import Truth

DASHBOARD_FILE = "demo-dashboard.csv"


def demo_semantics():  # the nightly job's behaviour, as pik_nb.Semantics
    from pik_nb import Semantics

    return Semantics(time_basis="event_time", cutoff=pd.Timedelta(hours=6), dedup=False)


def write_demo_dashboard(kit, truth: Truth, path: Path) -> Path:
    """Write ``window,value`` per day of the story for ``truth``'s focus stream; returns ``path``."""
    from pik_nb.investigate import dashboard

    start = pd.Timestamp(truth.start).floor("1D")
    end = pd.Timestamp(truth.end).floor("1D") + pd.Timedelta(days=1)
    attempts = kit.events(
        source=truth.focus_source, event_type=truth.focus_event_type, start=start, end=end, progress=False
    )
    values = dashboard.compute(dashboard.arrivals(attempts), demo_semantics(), "1D")
    values = values[(values["window"] >= start) & (values["window"] < end)]
    days = pd.DataFrame({"window": pd.date_range(start, end, freq="1D", inclusive="left")})
    table = days.merge(values, on="window", how="left").fillna({"value": 0})
    table.assign(window=table["window"].dt.strftime("%Y-%m-%d"), value=table["value"].astype("int64")).to_csv(
        path, index=False
    )
    return path


def dashboard_hint(truth: Truth, path: Path) -> str:
    """The command that explains the demo's dashboard."""
    return (
        f"dashboard: {path} (the nightly job's numbers); try: pik explain-dashboard {path} "
        f"--source {truth.focus_source} --event-type {truth.focus_event_type}"
    )
