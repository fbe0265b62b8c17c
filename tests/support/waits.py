"""Bounded waits for what another process does (a stack starting, a message arriving): never a bare sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def wait_for(
    probe: Callable[[], T], *, timeout_s: float = 30, every_s: float = 0.1, what: str | Callable[[], str] = "condition"
) -> T:
    """Poll ``probe`` until it returns something truthy; fail the test after ``timeout_s`` saying
    ``what`` was awaited (a callable: asked then, so it can say what was seen last)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(every_s)  # polling interval of a bounded wait
    pytest.fail(f"timed out after {timeout_s} s waiting for {what() if callable(what) else what}")
