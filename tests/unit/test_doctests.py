"""The docstring examples of the modules whose examples need no stack, no network and no files run
as tests (issue 20's gate; ``make lint`` runs this file too). A module whose examples need a live
stack (``kit.events(...)``) marks them ``# doctest: +SKIP`` or stays off this list."""

from __future__ import annotations

import doctest
import importlib

import pytest

from tests.support.layout import PACKAGES

MODULES = [
    "pik.core.compat",
    "pik.core.contract",
    "pik.core.contributions",
    "pik.core.deliveries",
    "pik.core.curated",
    "pik.core.keys",
    "pik.core.limits",
    "pik.core.lineage",
    "pik.core.mapping",
    "pik.core.metrics",
    "pik.core.pacing",
    "pik.core.pipeline_metrics",
    "pik.core.queries",
    "pik.core.records",
    "pik.core.replay",
    "pik.core.targets",
    "pik.core.timefmt",
    "pik.aws.clients",
    "pik.aws.delivery",
    "pik.aws.sqs",
    "pik.aws.webhook",
    "pik.parquet",
    "pik.services.batch",
    "pik.services.tap",
    "pik_api",
    "pik_api._moved",
    "pik_cli.impact",
    "pik_cli.replay_options",
    "pik_local.conditions",
    "pik_local.runtime",
    "pik_local.story",
    "pik_nb._format",
    "pik_nb._times",
    "pik_nb.analyses",
    "pik_nb.analyses._provenance",
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
    "pik_nb.sql.catalog",
    "pik_nb.sql.dialect",
    "pik_nb.sql.duplicates",
    "pik_nb.sql.gaps",
    "pik_nb.sql.lateness",
    "pik_nb.sql.queries",
    "pik_nb.sql.streams",
]

# Modules whose examples show a call on a stack, a bucket or a notebook (``kit.events(...)``,
# ``Compactor(...).run()``): they document the call's shape and are not run here; the tests of each
# module run the same calls on moto. A module with examples is on one of the two lists.
SHOWN_NOT_RUN = {
    "pik.aws.glue",
    "pik.aws.ssm",
    "pik.services.compact",
    "pik.services.process",
    "pik_nb",
    "pik_nb.analyses.duplicates",
    "pik_nb.analyses.gaps",
    "pik_nb.analyses.lateness",
    "pik_nb.connect",
    "pik_nb.investigate.dashboard",
    "pik_nb.investigate.diff",
    "pik_nb.investigate.doctor",
    "pik_nb.investigate.lineage",
    "pik_nb.kit",
    "pik_nb.notebook.incident",
    "pik_nb.notebook.investigation",
    "pik_nb.notebook.runner",
    "pik_nb.read._dynamodb",
    "pik_nb.read._s3",
    "pik_nb.read.impact",
    "pik_nb.replay.flow",
    "pik_nb.replay.widget",
    "pik_nb.sql.analyses",
    "pik_nb.sql.dashboard",
    "pik_nb.sql.engine",
    "pik_cli.demo",
    "pik_cli.demo_dashboard",
    "pik_cli.lab",
    "pik_local.api",
    "pik_local.journal",
    "pik_local.stack",
    "pik_local.state",
    "pik_api.client",
}


def _modules_with_examples() -> set[str]:
    found = set()
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            if ">>> " in path.read_text(encoding="utf-8"):
                parts = (package, *path.relative_to(folder).with_suffix("").parts)
                found.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def test_every_module_with_examples_runs_them_or_says_they_need_a_stack():
    """A new module's examples join the run (or the list of those shown, not run) on purpose."""
    listed = set(MODULES) | SHOWN_NOT_RUN
    assert sorted(_modules_with_examples() - listed) == [], "add them to MODULES (or SHOWN_NOT_RUN, if not pure)"
    assert sorted(listed - _modules_with_examples()) == [], "these have no examples left: take them off"
    assert set(MODULES) & SHOWN_NOT_RUN == set()


@pytest.mark.parametrize("name", MODULES)
def test_the_examples_in_the_docstrings_hold(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)  # as pytest
    assert result.attempted > 0, f"{name} has no examples left: take it off the list"
    assert result.failed == 0, f"{result.failed} of {name}'s examples fail (the report is above)"
