"""Old module paths that still import, for one release: ``import pik_nb.sql_analyses`` gives the module
that now lives at ``pik_nb.sql.analyses`` and a ``DeprecationWarning`` naming the new place.

A package registers its moves once in its ``__init__``::

    register({"pik_nb.health": "pik_nb.analyses.health"})

No file stays behind at the old path, so git follows each moved file (a file at the old path would
hide the rename from ``git merge``), and the old name is the very module object of the new one:
``monkeypatch.setattr`` or ``isinstance`` through either name sees the same thing.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from collections.abc import Callable
from types import ModuleType

_MOVED: dict[str, str] = {}


def register(moves: dict[str, str]) -> Callable[[str], ModuleType]:
    """Make each old dotted module path an alias, with a warning, of its new one; returns the
    package's module ``__getattr__`` so that ``package.old`` (an attribute, no import) works too."""
    _MOVED.update(moves)
    if not any(isinstance(finder, _MovedFinder) for finder in sys.meta_path):
        sys.meta_path.append(_MovedFinder())
    package = next(iter(moves)).rpartition(".")[0] if moves else ""

    def __getattr__(name: str) -> ModuleType:
        if f"{package}.{name}" not in moves:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return importlib.import_module(f"{package}.{name}")

    return __getattr__


def _caller_stacklevel() -> int:
    """The ``stacklevel`` that points a warning raised in ``create_module`` at the user's import
    line or attribute access: ``warnings`` itself skips importlib's bootstrap frames, we skip
    ``importlib.import_module`` and this module."""
    frame, level = sys._getframe(2), 2
    while frame is not None:
        name = frame.f_code.co_filename
        if "importlib" in name and "_bootstrap" in name:
            frame = frame.f_back  # not counted: warnings skips it too
            continue
        if name != __file__ and name != importlib.__file__:
            return level
        frame, level = frame.f_back, level + 1
    return level


def _message(old: str, new: str) -> str:
    """What the warning says: the new module, or the package that offers a now private module's names.

    >>> _message("pik_nb.health", "pik_nb.analyses.health")  # doctest: +ELLIPSIS
    'pik_nb.health moved to pik_nb.analyses.health: import it from there (the old path goes in the next ...'
    >>> _message("pik_nb.errors", "pik_nb._errors")  # doctest: +ELLIPSIS
    'pik_nb.errors moved to pik_nb._errors, a private module: import its names from pik_nb (the old path...'
    """
    package, _, leaf = new.rpartition(".")
    where = (
        f"{new}, a private module: import its names from {package}"
        if leaf.startswith("_")
        else f"{new}: import it from there"
    )
    return f"{old} moved to {where} (the old path goes in the next release)"


class _MovedLoader(importlib.abc.Loader):
    def __init__(self, new: str) -> None:
        self.new = new
        self.spec: importlib.machinery.ModuleSpec | None = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        warnings.warn(_message(spec.name, self.new), DeprecationWarning, stacklevel=_caller_stacklevel())
        module = importlib.import_module(self.new)
        self.spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        module.__spec__ = self.spec  # importlib stamped the old name's spec on the module: undo it


class _MovedFinder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, _MovedLoader(_MOVED[fullname]))
