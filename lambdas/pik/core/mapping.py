"""Where a tapped record's event fields come from: a declarative mapping, checked before use.

A mapping names, for each field of the event contract, a JSONPath-like path into the decoded
record, a path with a default, or a constant::

    {"source": "$.source",                                   # a path
     "event_type": {"path": "$.detail-type", "default": "unknown"},
     "entity_id": "$.detail.order.customer_id",
     "event_time": "$.time",
     "payload": "$.detail",
     "idempotency_key": "$.id"}                              # optional field
    {"source": {"value": "billing"}}                        # a constant

Paths: ``$`` (the whole record), ``.name`` (letters, digits, ``_``, ``-``), ``["any name"]`` and
``[0]`` (a list index), chained: ``$.detail.items[0]["unit price"]``. A missing path without a
default leaves the field absent, so the event contract rejects it naming the field (``required``).

``Mapping.parse(spec, preset=...)`` starts from a preset (``PRESETS``) and overrides field by
field; any mistake (unknown field, bad path) is a ``MappingError`` naming the field and path.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .contract import FIELDS
from .errors import PikError

REQUIRED = ("source", "event_type", "entity_id", "event_time", "payload")
_STEP = re.compile(r'\.([A-Za-z0-9_-]+)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]')
_MISSING = object()

PIK_EVENT = {"source": "$.source", "event_type": "$.event_type", "entity_id": "$.entity_id",
             "event_time": "$.event_time", "payload": "$.payload",
             "idempotency_key": {"path": "$.idempotency_key", "default": None}}
PRESETS: dict[str, dict[str, Any]] = {
    # an EventBridge event: source, detail-type, time, detail; its id makes redeliveries DUPLICATEs
    "eventbridge": {"source": "$.source", "event_type": "$.detail-type", "entity_id": "$.detail.entity_id",
                    "event_time": "$.time", "payload": "$.detail", "idempotency_key": "$.id"},
    # an SQS message body (or the Message of an SNS notification) holding a pik event
    "sqs": PIK_EVENT,
    # a Kinesis record's data (base64-decoded JSON) holding a pik event
    "kinesis": PIK_EVENT,
}


class MappingError(PikError, ValueError):
    """A mapping that cannot work, e.g. ``MappingError("entity_id: path '$.a..b' ...")``."""


@dataclass(frozen=True)
class Rule:
    """How one field is found: a path (with a default) or a constant."""

    path: tuple[str | int, ...] | None
    default: Any = _MISSING
    text: str = ""

    def pick(self, record: Any) -> Any:
        """The value at the path (or the default / constant); ``_MISSING`` when there is none."""
        if self.path is None:
            return self.default
        value = record
        for step in self.path:
            if isinstance(step, int) and isinstance(value, list) and -len(value) <= step < len(value):
                value = value[step]
            elif isinstance(step, str) and isinstance(value, dict) and step in value:
                value = value[step]
            else:
                return self.default
        return value


def parse_path(text: str) -> tuple[str | int, ...]:
    """``parse_path('$.detail.items[0]["unit price"]') == ("detail", "items", 0, "unit price")``."""
    if not isinstance(text, str) or not text.startswith("$"):
        raise ValueError("a path starts with '$'")
    steps: list[str | int] = []
    position = 1
    while position < len(text):
        match = _STEP.match(text, position)
        if not match:
            raise ValueError(f"cannot read the path after {text[:position]!r}")
        name, index, quoted = match.groups()
        steps.append(name if name is not None else int(index) if index is not None else json.loads(f'"{quoted}"'))
        position = match.end()
    return tuple(steps)


@dataclass(frozen=True)
class Mapping:
    """A checked mapping: ``Mapping.parse({}, preset="eventbridge").apply(record) -> dict``."""

    rules: dict[str, Rule]

    @classmethod
    def parse(cls, spec: dict[str, Any] | str | None = None, *, preset: str | None = None) -> "Mapping":
        """Check ``spec`` (a dict, or its JSON text; empty means the preset alone) over ``preset``.

        >>> Mapping.parse('{"entity_id": "$.detail.order_id"}', preset="eventbridge").rules["entity_id"].text
        '$.detail.order_id'
        """
        if preset is not None and preset not in PRESETS:
            raise MappingError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        if isinstance(spec, str):
            try:
                spec = json.loads(spec) if spec.strip() else {}
            except ValueError as exc:
                raise MappingError(f"the mapping is not valid JSON: {exc}") from exc
        if not isinstance(spec or {}, dict):
            raise MappingError("the mapping must be a JSON object of field -> path")
        merged = {**(PRESETS[preset] if preset else {}), **(spec or {})}
        unknown = sorted(set(merged) - set(FIELDS))
        if unknown:
            raise MappingError(f"unknown field(s) {', '.join(unknown)}; a mapping sets {', '.join(FIELDS)}")
        missing = [name for name in REQUIRED if name not in merged]
        if missing:
            raise MappingError(f"no rule for {', '.join(missing)}: every one of {', '.join(REQUIRED)} needs a path or value")
        return cls({name: _rule(name, value) for name, value in merged.items()})

    def apply(self, record: Any) -> dict[str, Any]:
        """The event the record maps to (fields whose path is missing are left out).

        >>> Mapping.parse(preset="sqs").apply({"source": "a", "event_type": "b", "entity_id": "c",
        ...                                    "event_time": "2026-01-01T00:00:00Z", "payload": {}})["entity_id"]
        'c'
        """
        event = {}
        for name, rule in self.rules.items():
            value = rule.pick(record)
            if value is not _MISSING and not (value is None and name == "idempotency_key"):
                event[name] = value
        return event


def _rule(name: str, value: Any) -> Rule:
    if isinstance(value, str):
        return Rule(_path(name, value), text=value)
    if isinstance(value, dict) and set(value) == {"value"}:
        return Rule(None, value["value"], text=json.dumps(value["value"]))
    if isinstance(value, dict) and "path" in value and set(value) <= {"path", "default"}:
        return Rule(_path(name, value["path"]), value.get("default", _MISSING), text=str(value["path"]))
    raise MappingError(f'{name}: expected a path "$.a.b", {{"path": "$.a", "default": ...}} or {{"value": ...}}, '
                       f"got {json.dumps(value)[:80]}")


def _path(name: str, text: Any) -> tuple[str | int, ...]:
    try:
        return parse_path(text)
    except ValueError as exc:
        raise MappingError(f"{name}: path {str(text)[:80]!r} is not valid: {exc}") from exc
