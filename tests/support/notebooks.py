"""The repository's notebooks and what an executed one shows."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def shown(notebook) -> list[str]:
    """The Markdown a notebook displayed (findings, checklists)."""
    return [
        o["data"]["text/markdown"]
        for c in notebook.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if "text/markdown" in o.get("data", {})
    ]
