"""Durations as a person reads them, wherever findings and tables show a lag."""

from __future__ import annotations

import doctest
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

import pik_nb
from pik_nb._format import humanize_frame
from pik_nb.analyses import durations
from pik_nb.analyses.durations import humanize


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (252_610_800, "2 d 22 h"),
        (2.526108e08, "2 d 22 h"),
        (97_000, "1 min 37 s"),
        (240_000, "4 min"),
        (3_600_000, "1 h"),
        (86_400_000, "1 d"),
        (850, "850 ms"),
        (0, "0 ms"),
        (4_200, "4.2 s"),
        (59_600, "1 min"),
        (86_399_000, "1 d"),
        (-90_000, "-1 min 30 s"),
        (np.int64(37_000), "37 s"),
        (float("nan"), "n/a"),
        (None, "n/a"),
    ],
)
def test_milliseconds_read_in_at_most_two_units(value, text):
    assert humanize(value) == text


def test_timedeltas_and_other_units_read_the_same():
    assert humanize(pd.Timedelta("0 days 00:04:00")) == "4 min"
    assert humanize(timedelta(days=2, hours=22, minutes=10)) == "2 d 22 h"
    assert humanize(np.timedelta64(90, "s")) == "1 min 30 s"
    assert humanize(pd.NaT) == "n/a"
    assert humanize(1.5, unit="min") == humanize(90, unit="s") == "1 min 30 s"


def test_a_displayed_table_shows_durations_and_keeps_the_rest():
    table = pd.DataFrame(
        {"p99_ms": [252_610_800.0, float("nan")], "cadence": pd.to_timedelta(["1D", "4min"]), "count": [3, 4]}
    )
    shown = humanize_frame(table)
    assert shown.to_dict("list") == {"p99": ["2 d 22 h", "n/a"], "cadence": ["1 d", "4 min"], "count": [3, 4]}
    assert list(table.columns) == ["p99_ms", "cadence", "count"]  # the original is untouched
    assert pik_nb.humanize is humanize and pik_nb.humanize_frame is humanize_frame


def test_the_docstring_examples_hold():
    assert doctest.testmod(durations, extraglobs={"pd": pd}).failed == 0
