"""End-to-end fixtures: stacks started by ``start_stack`` (helpers: tests/support/processes.py, waits.py)."""

from __future__ import annotations

import pytest

from tests.support.processes import StackProcess


@pytest.fixture
def start_stack(tmp_path):
    """Factory: ``start_stack("--state-dir", d)``; every stack it started is stopped at the end."""
    started: list[StackProcess] = []

    def start(*extra: str, name: str = "stack") -> StackProcess:
        started.append(StackProcess(tmp_path, *extra, name=name))
        return started[-1]

    yield start
    for stack in started:
        stack.stop()
