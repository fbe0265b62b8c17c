"""Names a module no longer defines, still offered for one release with a ``DeprecationWarning``.

A module whose name moved (or retired) gives itself a module ``__getattr__`` (PEP 562), so the old
``from pik_nb.sql import search`` or ``pik.core.targets.verify`` keeps working and says where to go::

    __getattr__ = retired_names(__name__, {"search": moved_to("pik_nb.sql.engine.search")})

The warning points at the line that asked for the name (``from m import x`` and ``m.x`` alike), and a
name is looked up only when asked for, so a module can name a new place that imports it.

>>> getter = retired_names("m", {"old": (lambda: 42, "is the answer now")})
>>> import warnings
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     getter("old"), str(caught[0].message)
(42, 'm.old is the answer now (the old name goes in the next release)')
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["Retired", "moved_to", "retired_names"]

Retired = tuple[Callable[[], Any], str]  # what the old name gives, and where to go instead


def moved_to(path: str) -> Retired:
    """The object at dotted ``path`` (``"pik_nb.sql.engine.search"``), and advice to import it from there.

    >>> moved_to("pik.core.records.AttemptStatus")[1]
    'moved to pik.core.records.AttemptStatus: import it from there'
    """
    module, _, name = path.rpartition(".")
    return (lambda: getattr(importlib.import_module(module), name)), f"moved to {path}: import it from there"


def retired_names(module: str, names: dict[str, Retired]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that offers each of ``names`` (old name -> ``(getter, advice)``) with a
    ``DeprecationWarning`` saying ``"<module>.<name> <advice> (the old name goes in the next release)"``."""

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        value, advice = names[name]
        warnings.warn(
            f"{module}.{name} {advice} (the old name goes in the next release)", DeprecationWarning, stacklevel=2
        )
        return value()

    return __getattr__
