"""What one input contributes to the default metrics, so a recompute reads only new inputs.

The default aggregator (``pik.core.metrics.compute``) looks at a payload only through
``field_value(payload, field)`` for the configured fields. So an input's contribution is that
mapping, ``{field: number or None}``, kept in the aggregate's manifest next to its event id and
payload hash; ``as_payload`` turns it back into the smallest payload with the same field
values, and the same aggregator runs over the full input set, in the same order:

    compute([as_payload(contribution(p, F)) for p in P], F) == compute(P, F)   # exactly

(``tests/unit/test_contributions.py`` checks it on random payloads.) A custom aggregator may
read anything in a payload, so it always gets the full payloads.
"""

from __future__ import annotations

from typing import Any

from .metrics import field_value


def contribution(payload: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    """``contribution({"amount": 5, "note": "x"}, ("amount",)) == {"amount": 5}``."""
    return {name: field_value(payload, name) for name in fields}


def reusable(row: dict[str, Any], payload_sha256: str, fields: tuple[str, ...]) -> bool:
    """A manifest row's contribution stands for an input with this payload hash and these fields."""
    kept = row.get("contribution")
    return row.get("payload_sha256") == payload_sha256 and isinstance(kept, dict) and set(kept) == set(fields)


def as_payload(kept: dict[str, Any]) -> dict[str, Any]:
    """The smallest payload whose ``field_value`` is ``kept[field]`` for each field.

    >>> as_payload({"amount": 5, "cart.total": 7.5, "steps": None})
    {'amount': 5, 'cart': {'total': 7.5}}
    """
    payload: dict[str, Any] = {}
    for name, value in kept.items():
        if value is None:
            continue  # absent, or not a finite number: field_value is None either way
        *parents, leaf = name.split(".")
        node = payload
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return payload
