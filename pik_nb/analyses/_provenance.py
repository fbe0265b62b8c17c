"""An analysis's result says where it came from: the ``attrs["pik"]`` of the frame it was computed from
(kind, stack, scope or query, loaded_at: ``pik_nb.schemas.provenance``) plus ``analysis``, the analysis's
name. Frames inside a result object (``Duplicates.per_event``, ``LatenessPolicy.windows``) are tagged
``"<analysis>.<field>"``. A result computed from untagged frames is left as it is.

>>> import pandas as pd
>>> events = pd.DataFrame({"lag": [1, 2]})
>>> events.attrs["pik"] = {"kind": "events", "stack": "local", "scope": {}, "loaded_at": "2026-12-04T10:00:00+00:00"}
>>> @derived("total")
... def total(frame):
...     return frame.sum().to_frame("total")
>>> total(events).attrs["pik"]["analysis"], total(events).attrs["pik"]["kind"]
('total', 'events')
>>> "analysis" in events.attrs["pik"]  # the source frame is left as it was
False
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from collections.abc import Callable
from typing import Any, TypeVar

import pandas as pd

F = TypeVar("F", bound=Callable[..., Any])


def derived(name: str) -> Callable[[F], F]:
    """Tag the result of the decorated analysis with the first tagged frame among its arguments."""

    def decorate(analysis: F) -> F:
        @functools.wraps(analysis)
        def tagged(*args: Any, **kwargs: Any) -> Any:
            result = analysis(*args, **kwargs)
            source = next((a for a in (*args, *kwargs.values()) if _info(a)), None)
            return tag(result, _info(source), name) if source is not None else result

        return tagged  # type: ignore[return-value]

    return decorate


def tag(result: Any, info: dict, name: str) -> Any:
    """``result`` (a frame, a Series, or a dataclass holding frames) with ``attrs["pik"]`` = ``info`` +
    ``analysis``; ``result`` itself is returned."""
    if isinstance(result, (pd.DataFrame, pd.Series)):
        result.attrs = {**result.attrs, "pik": {**copy.deepcopy(info), "analysis": name}}
    elif dataclasses.is_dataclass(result) and not isinstance(result, type):
        for field in dataclasses.fields(result):
            value = getattr(result, field.name)
            if isinstance(value, (pd.DataFrame, pd.Series)):
                tag(value, info, f"{name}.{field.name}")
    return result


def carry(result: Any, source: Any, name: str) -> Any:
    """``result`` tagged with the provenance of ``source`` (a frame) + ``analysis`` = ``name``, when ``source``
    has any (``tag``); else ``result`` as it is. For an analysis whose input is not among its arguments
    (``pik_nb.sql.analyses``: the frame ``kit.sql`` answered, with its query)."""
    info = _info(source)
    return tag(result, info, name) if info else result


def _info(value: Any) -> dict:
    if isinstance(value, (pd.DataFrame, pd.Series)):
        info = value.attrs.get("pik")
        return info if isinstance(info, dict) else {}
    return {}
