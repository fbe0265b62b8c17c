"""Where the project's packages live, for tests that read source (architecture, errors, doctests).

>>> sorted(PACKAGES) == ["pik", "pik_api", "pik_cli", "pik_local", "pik_nb"] and PACKAGES["pik"].name == "pik"
True
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {  # import name -> folder
    "pik": ROOT / "lambdas" / "pik",
    "pik_nb": ROOT / "pik_nb",
    "pik_local": ROOT / "pik_local",
    "pik_cli": ROOT / "pik_cli",
    "pik_api": ROOT / "pik_api",
}
