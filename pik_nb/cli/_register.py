"""Import every command module so its commands attach to ``cli``. Add new modules here."""

from __future__ import annotations

import importlib

for _name in ("local", "investigate", "incident"):
    try:
        importlib.import_module(f"{__package__}.{_name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__}.{_name}":
            raise
