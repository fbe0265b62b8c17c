"""Durations as a person reads them: ``2 d 22 h``, ``1 min 37 s``, ``850 ms`` (``pik_nb._format``,
the one formatting helper, does it; this module is its name among the analyses).

Lags stay int64 milliseconds in every frame (they are for computing); findings and displayed
tables pass them through ``humanize`` (tables: ``pik_nb.table``).

>>> import pandas as pd
>>> humanize(252_610_800)
'2 d 22 h'
>>> humanize(pd.Timedelta(minutes=4))
'4 min'
"""

from __future__ import annotations

from pik.core.compat import moved_to, retired_names

from .._format import Duration, humanize

__all__ = ["humanize", "Duration"]
__getattr__ = retired_names(__name__, {"humanize_frame": moved_to("pik_nb.humanize_frame")})  # old pik_nb.durations'
