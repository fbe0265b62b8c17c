"""docs/pik_nb.md documents exactly the public API, and every python block in it runs."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import matplotlib

import pik_nb
from pik_nb.kit import Kit
from tests.support.kit import DATE, DAY

DOC = (Path(__file__).resolve().parents[2] / "docs" / "pik_nb.md").read_text()


def test_every_exported_name_has_a_section_and_every_section_is_exported():
    sections = set(re.findall(r"^### `([A-Za-z_]+)`$", DOC, flags=re.MULTILINE))
    assert sections == set(pik_nb.__all__)


def test_every_public_kit_method_is_documented():
    methods = {name for name in vars(Kit) if not name.startswith("_") and callable(getattr(Kit, name))}
    assert {name for name in methods if f"kit.{name}" not in DOC} == set()


def test_every_python_block_runs_on_the_story(kit, story):
    blocks = re.findall(r"```python\n(.*?)```", DOC, flags=re.DOTALL)
    assert len(blocks) > 20
    namespace = {
        "pik_nb": pik_nb,
        "kit": kit,
        "day": DATE,
        "next_day": (DAY + timedelta(days=1)).date().isoformat(),
        "event_id": story["first"][0]["event_id"],
    }
    kit.progress = False
    for block in blocks:
        exec(compile(block, "docs/pik_nb.md", "exec"), namespace)
    assert list(namespace["diff"].added["event_id"]) == [story["late"]["event_id"]]
    assert isinstance(namespace["figure"], matplotlib.figure.Figure)
