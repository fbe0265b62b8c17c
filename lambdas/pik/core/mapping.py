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

The pipe's own facts about a record (its *envelope*: arrival time, SQS attributes, SNS
timestamp and subject, Kinesis partition key, see ``pik.handlers.tap``) are read with paths rooted
at ``$envelope``, and a rule may list paths tried in order, so a record without a time of its own
still gets a real one::

    {"event_time": {"path": ["$.timestamp", "$envelope.sns.timestamp", "$envelope.arrival_time"]}}

``Mapping.parse(spec, preset=...)`` starts from a preset (``PRESETS``) and overrides field by
field; any mistake (unknown field, bad path, a constant the contract refuses) is a ``MappingError``
naming the field and path. While a record is read as a pik event (the ``sqs`` and ``kinesis``
presets, ``payload`` still ``$.payload``), a top-level field of it that no rule reads is kept in
the mapped event, so the contract refuses it (``unknown_field``) exactly as ``POST /ingest``
would: a typo such as ``idempotency_kye`` never silently changes an event's identity. A mapping
that takes its payload from elsewhere reads a record of the team's own shape, whose other
fields are simply not the event's.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .contract import FIELDS, validate
from .errors import PikError, ValidationError
from .timefmt import UTC

REQUIRED = ("source", "event_type", "entity_id", "event_time", "payload")
_STEP = re.compile(r'\.([A-Za-z0-9_-]+)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]')
_MISSING = object()
ENVELOPE = "$envelope"
EVENT_PRESETS = ("sqs", "kinesis")  # presets whose record is a pik event (while payload is $.payload)

PIK_EVENT = {
    "source": "$.source",
    "event_type": "$.event_type",
    "entity_id": "$.entity_id",
    "event_time": "$.event_time",
    "payload": "$.payload",
    "idempotency_key": {"path": "$.idempotency_key", "default": None},
}
PRESETS: dict[str, dict[str, Any]] = {
    # an EventBridge event: source, detail-type, time, detail; its id makes redeliveries DUPLICATEs
    "eventbridge": {
        "source": "$.source",
        "event_type": "$.detail-type",
        "entity_id": "$.detail.entity_id",
        "event_time": "$.time",
        "payload": "$.detail",
        "idempotency_key": "$.id",
    },
    # an SQS message body (or the Message of an SNS notification) holding a pik event
    "sqs": PIK_EVENT,
    # a Kinesis record's data (base64-decoded JSON) holding a pik event
    "kinesis": PIK_EVENT,
}


class MappingError(PikError, ValueError):
    """A mapping that cannot work, e.g. ``MappingError("entity_id: path '$.a..b' ...")``."""


Path = tuple[str, tuple[str | int, ...]]  # (root: "$" or "$envelope", steps)


@dataclass(frozen=True)
class Rule:
    """How one field is found: paths tried in order (then the default), or a constant."""

    paths: tuple[Path, ...]
    default: Any = _MISSING
    text: str = ""

    def pick(self, record: Any, envelope: dict[str, Any] | None = None) -> Any:
        """The value at the first path that has one (or the default / constant); ``_MISSING`` when none."""
        for root, steps in self.paths:
            value = _walk(record if root == "$" else envelope or {}, steps)
            if value is not _MISSING:
                return value
        return self.default


def _walk(value: Any, steps: tuple[str | int, ...]) -> Any:
    for step in steps:
        if isinstance(step, int) and isinstance(value, list) and -len(value) <= step < len(value):
            value = value[step]
        elif isinstance(step, str) and isinstance(value, dict) and step in value:
            value = value[step]
        else:
            return _MISSING
    return value


def parse_path(text: str) -> tuple[str | int, ...]:
    """``parse_path('$.detail.items[0]["unit price"]') == ("detail", "items", 0, "unit price")``
    (a path rooted at ``$envelope`` reads the same way: ``root_of`` tells the roots apart)."""
    if not isinstance(text, str) or not text.startswith("$"):
        raise ValueError("a path starts with '$' (the record) or '$envelope' (what the pipe says of it)")
    steps: list[str | int] = []
    position = len(ENVELOPE) if text.startswith(ENVELOPE) else 1
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
    keep_unread: bool = False  # the record is a pik event: its unread top-level fields go to the contract

    @classmethod
    def parse(cls, spec: dict[str, Any] | str | None = None, *, preset: str | None = None) -> Mapping:
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
            fields = "fields" if len(unknown) > 1 else "field"
            raise MappingError(f"unknown {fields} {', '.join(unknown)}; a mapping sets {', '.join(FIELDS)}")
        missing = [name for name in REQUIRED if name not in merged]
        if missing:
            raise MappingError(
                f"no rule for {', '.join(missing)}: every one of {', '.join(REQUIRED)} needs a path or value"
            )
        rules = {name: _rule(name, value) for name, value in merged.items()}
        _check_constants(rules)
        return cls(rules, keep_unread=preset in EVENT_PRESETS and merged["payload"] == PIK_EVENT["payload"])

    def apply(self, record: Any, envelope: dict[str, Any] | None = None) -> dict[str, Any]:
        """The event the record maps to (fields whose path is missing are left out; with an event
        preset, unread top-level fields of the record kept for the contract to refuse).

        >>> Mapping.parse(preset="sqs").apply({"source": "a", "event_type": "b", "entity_id": "c",
        ...                                    "event_time": "2026-01-01T00:00:00Z", "payload": {}})["entity_id"]
        'c'
        >>> Mapping.parse('{"event_time": "$envelope.arrival_time"}', preset="sqs").apply(
        ...     {}, {"arrival_time": "2026-01-01T00:00:00Z"})
        {'event_time': '2026-01-01T00:00:00Z'}
        """
        event = {}
        for name, rule in self.rules.items():
            value = rule.pick(record, envelope)
            if value is not _MISSING and not (value is None and name == "idempotency_key"):
                event[name] = value
        if self.keep_unread and isinstance(record, dict):
            read = {steps[0] for rule in self.rules.values() for root, steps in rule.paths if root == "$" and steps}
            event.update({name: value for name, value in record.items() if name not in read and name not in event})
        return event


def _rule(name: str, value: Any) -> Rule:
    if isinstance(value, str):
        return Rule((_path(name, value),), text=value)
    if isinstance(value, dict) and set(value) == {"value"}:
        return Rule((), value["value"], text=json.dumps(value["value"]))
    if isinstance(value, dict) and "path" in value and set(value) <= {"path", "default"}:
        texts = value["path"] if isinstance(value["path"], list) and value["path"] else [value["path"]]
        return Rule(
            tuple(_path(name, text) for text in texts),
            value.get("default", _MISSING),
            text=" | ".join(str(text) for text in texts),
        )
    raise MappingError(
        f'{name}: expected a path "$.a.b", '
        f'{{"path": "$.a" or ["$.a", "$envelope.b"], "default": ...}} '
        f'or {{"value": ...}}, got {json.dumps(value)[:80]}'
    )


def _path(name: str, text: Any) -> Path:
    try:
        return (ENVELOPE if text.startswith(ENVELOPE) else "$", parse_path(text))
    except (ValueError, AttributeError) as exc:
        raise MappingError(f"{name}: path {str(text)[:80]!r} is not valid: {exc}") from exc


_PLACEHOLDER = {"source": "pik", "event_type": "check", "entity_id": "check", "payload": {}}


def _check_constants(rules: dict[str, Rule]) -> None:
    """A constant or default the contract would refuse for every record is a mistake of the mapping."""
    constants = {
        name: rule.default
        for name, rule in rules.items()
        if rule.default is not _MISSING and not (name == "idempotency_key" and rule.default is None)
    }
    if not constants:
        return
    now = datetime.now(UTC)
    try:
        validate({**_PLACEHOLDER, "event_time": now.isoformat(), **constants}, now=now)
    except ValidationError as err:
        # a constant time's range depends on when the record arrives: only its form is checked here
        broken = [e for e in err.errors if e.field in constants and e.rule != "range"]
        if broken:
            raise MappingError(
                "; ".join(
                    f"{e.field}: the constant or default {json.dumps(constants[e.field])[:80]} "
                    f"breaks the event contract: {e.message} ({e.rule})"
                    for e in broken
                )
            ) from err
