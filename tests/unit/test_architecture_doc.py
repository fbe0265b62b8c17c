"""docs/architecture.md draws the layout as it is (issue 20, item 9): every module of a pik_nb room
and of pik_cli is named where the map describes its room, so a new module is placed on the map."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
ROOMS = ("read", "analyses", "investigate", "sql", "replay", "notebook")


def _room_text(room: str) -> str:
    """The map's lines for ``room/``: from its name to the next room's."""
    block = DOC[DOC.index("```\npik_nb/\n") :]
    block = block[: block.index("```", 4)]
    start = re.search(rf"^  {room}/ ", block, re.M)
    assert start, f"the map has no line for pik_nb/{room}/"
    after = re.search(r"^  [a-z_]+/ ", block[start.end() :], re.M)
    return block[start.start() : start.end() + (after.start() if after else len(block))]


def _modules(folder: Path) -> list[str]:
    return sorted(path.stem for path in folder.glob("*.py") if path.stem != "__init__")


@pytest.mark.parametrize("room", ROOMS)
def test_the_map_names_every_module_of_each_room(room):
    text = _room_text(room)
    assert [m for m in _modules(ROOT / "pik_nb" / room) if not re.search(rf"\b{m}\b", text)] == []


def test_the_map_names_every_module_of_the_cli():
    bullet = DOC[DOC.index("- **`pik_cli`**") :]
    bullet = bullet[: bullet.index("\n\n")]
    assert [m for m in _modules(ROOT / "pik_cli") if not re.search(rf"\b{m}\b", bullet)] == []
