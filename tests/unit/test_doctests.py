"""The docstring examples of the modules whose examples need no stack, no network and no files run
as tests (issue 20's gate; ``make lint`` runs this file too). A module whose examples need a live
stack (``kit.events(...)``) marks them ``# doctest: +SKIP`` or stays off this list."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "pik.core.contract",
    "pik.core.contributions",
    "pik.core.curated",
    "pik.core.keys",
    "pik.core.limits",
    "pik.core.lineage",
    "pik.core.mapping",
    "pik.core.metrics",
    "pik.core.pacing",
    "pik.core.queries",
    "pik.core.records",
    "pik.core.replay",
    "pik.core.targets",
    "pik.core.timefmt",
    "pik.aws.clients",
    "pik.aws.delivery",
    "pik.aws.webhook",
    "pik.parquet",
    "pik.services.batch",
    "pik.services.tap",
    "pik_api",
    "pik_api._moved",
    "pik_cli.replay_options",
    "pik_local.conditions",
    "pik_local.runtime",
    "pik_local.story",
    "pik_nb._format",
    "pik_nb.analyses",
    "pik_nb.analyses.durations",
    "pik_nb.analyses.health",
    "pik_nb.investigate",
    "pik_nb.notebook",
    "pik_nb.read",
    "pik_nb.read.frames",
    "pik_nb.read.schemas",
    "pik_nb.read.stack",
    "pik_nb.replay",
    "pik_nb.sql",
    "pik_nb.sql.dialect",
    "pik_nb.sql.duplicates",
    "pik_nb.sql.gaps",
    "pik_nb.sql.lateness",
    "pik_nb.sql.queries",
    "pik_nb.sql.streams",
]


@pytest.mark.parametrize("name", MODULES)
def test_the_examples_in_the_docstrings_hold(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)  # as pytest
    assert result.attempted > 0, f"{name} has no examples left: take it off the list"
    assert result.failed == 0, f"{result.failed} of {name}'s examples fail (the report is above)"
