"""Aggregate metrics: one pure function from an entity-day's events to metric values.

Default metrics: ``count`` plus ``sum.F``, ``min.F`` and ``max.F`` for each configured numeric
payload field ``F`` (dotted paths reach into nested objects). Replace the whole function by
setting ``AGGREGATOR=package.module:function``; give it a ``code_version`` attribute so every
change of logic yields new aggregate versions.
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Callable
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal, localcontext
from typing import Any

CODE_VERSION = "metrics-v1"
FIELD_RE = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$")

#: One aggregate version is one DynamoDB transaction (at most 100 items): one item per metric.
MAX_METRICS = 100
#: ``count`` plus sum/min/max of each field: 1 + 3 * 33 = 100 metrics.
MAX_FIELDS = (MAX_METRICS - 1) // 3

EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)  # decimal addition never rounds here

Aggregator = Callable[[list[Any], tuple[str, ...]], dict[str, Any]]


def parse_fields(text: str) -> tuple[str, ...]:
    """``parse_fields("amount, steps") == ("amount", "steps")``; names and count are checked."""
    fields = tuple(part.strip() for part in text.split(",") if part.strip())
    if len(fields) > MAX_FIELDS:
        raise ValueError(
            f"{len(fields)} aggregate fields: at most {MAX_FIELDS} (a version's 1 + 3 x fields metrics "
            f"are written in one DynamoDB transaction of at most {MAX_METRICS} items)"
        )
    for name in fields:
        if not FIELD_RE.fullmatch(name):
            raise ValueError(f"aggregate field {name!r} must match {FIELD_RE.pattern}")
    return fields


def field_value(payload: Any, path: str) -> float | None:
    """The number at a dotted path, or None when absent or not a finite number (bools excluded)."""
    value = payload
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return value


def compute(payloads: list[Any], fields: tuple[str, ...] = ()) -> dict[str, Any]:
    """Metric values for one entity-day. Sums are exact for any JSON number (``exact_sum``).

    >>> compute([{"amount": 2}, {"amount": 5}, {}], ("amount",))
    {'count': 3, 'sum.amount': 7, 'min.amount': 2, 'max.amount': 5}
    """
    result: dict[str, Any] = {"count": len(payloads)}
    for name in fields:
        values = [v for v in (field_value(p, name) for p in payloads) if v is not None]
        result[f"sum.{name}"] = exact_sum(values) if values else None
        result[f"min.{name}"] = min(values) if values else None
        result[f"max.{name}"] = max(values) if values else None
    return result


def exact_sum(values: list[int | float]) -> int | Decimal:
    """The exact sum: an ``int`` of ints, else a ``Decimal`` of each number as JSON wrote it
    (``repr``), with no rounding, overflow or underflow whatever the magnitudes.

    >>> exact_sum([1e308, 1e308]), exact_sum([0.1, 0.2]), exact_sum([10**45, 1])
    (Decimal('2E+308'), Decimal('0.3'), 1000000000000000000000000000000000000000000001)
    """
    ints = [v for v in values if isinstance(v, int)]
    if len(ints) == len(values):
        return sum(ints)
    with localcontext(EXACT):
        return sum((as_decimal(v) for v in values), Decimal(0)).normalize()


def as_decimal(value: int | float | Decimal) -> Decimal:
    """The number as JSON wrote it: exact for ints, the shortest ``repr`` for floats.

    >>> as_decimal(0.1), as_decimal(10**40)
    (Decimal('0.1'), Decimal('10000000000000000000000000000000000000000'))
    """
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def load_aggregator(spec: str | None) -> tuple[Aggregator, str]:
    """The aggregator named by ``module:function`` (default: ``compute``) and its code version."""
    if not spec:
        return compute, CODE_VERSION
    module_name, _, attr = spec.partition(":")
    function = getattr(importlib.import_module(module_name), attr)
    return function, str(getattr(function, "code_version", spec))
