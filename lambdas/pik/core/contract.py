"""The event contract: validate a request body into a ``ValidEvent`` or raise ``ValidationError``.

Fields (compatible with the original project): ``source``, ``event_type``, ``entity_id``,
``event_time``, ``payload`` and optional ``idempotency_key``. Unknown fields are refused so a
typo never silently changes identity. Naive times are refused (``offset_required``): guessing a
zone would silently shift lateness by hours.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from . import identity, keys
from .errors import FieldError, PikError, ValidationError
from .timefmt import UTC, day_of, key_time, parse_aware

__all__ = [
    "NAME_RE",
    "FIELDS",
    "EARLIEST",
    "Limits",
    "ValidEvent",
    "utf8_text",
    "not_utf8",
    "parse_body",
    "validate",
    "text_field",
]

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
FIELDS = ("source", "event_type", "entity_id", "event_time", "payload", "idempotency_key")
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Limits:
    """Bounds on every field; defaults fit API Gateway and DynamoDB limits with room to spare."""

    max_body_bytes: int = 1_048_576
    max_payload_bytes: int = 262_144
    max_payload_depth: int = 32
    max_name_chars: int = 64
    max_entity_chars: int = 256
    max_key_chars: int = 256
    max_time_chars: int = 64
    max_age: timedelta = timedelta(days=3650)
    max_clock_skew: timedelta = timedelta(days=1)


@dataclass(frozen=True)
class ValidEvent:
    """An event that passed the contract, with its identity computed."""

    source: str
    event_type: str
    entity_id: str
    event_time: datetime
    payload: Any
    idempotency_key: str | None
    received: dict[str, Any] = field(repr=False)  # the fields as the producer sent them

    @property
    def event_time_key(self) -> str:
        return key_time(self.event_time)

    @property
    def event_date(self) -> str:
        return day_of(self.event_time)

    @cached_property
    def payload_sha256(self) -> str:
        return identity.payload_sha256(self.payload)

    @cached_property
    def content_sha256(self) -> str:
        return identity.content_sha256(self.event_time_key, self.payload_sha256)

    @cached_property
    def event_id(self) -> str:
        return identity.event_id(
            self.source,
            self.event_type,
            self.entity_id,
            self.event_time_key,
            self.payload_sha256,
            self.idempotency_key,
        )

    @property
    def raw_key(self) -> str:
        return keys.raw_key(self.source, self.event_type, self.event_date, self.event_id)

    @property
    def conflict_key(self) -> str:
        return keys.conflict_key(self.source, self.event_type, self.event_date, self.event_id, self.content_sha256)


def utf8_text(raw: bytes) -> str:
    """The body as text, or ``ValidationError`` (``body``/``utf8``). JSON exchanged between systems is
    UTF-8 (RFC 8259 §8.1), and raw objects must stay readable by Athena's JSON SerDe: a UTF-16 or
    UTF-32 body (which Python's ``json.loads`` of bytes would quietly accept) is refused. A JSON text
    holds no raw NUL, so NUL bytes mean UTF-16/32 even without a byte-order mark; a UTF-8 one is dropped.

    >>> utf8_text(b'\\xef\\xbb\\xbf{}')
    '{}'
    """
    problem = not_utf8(raw)
    if problem is not None:
        raise ValidationError([problem])
    return raw.decode("utf-8").removeprefix("\ufeff")


def not_utf8(raw: bytes) -> FieldError | None:
    """Why ``raw`` is not UTF-8 JSON text (``body``/``utf8``), or ``None``: ``utf8_text``'s rule, for a
    caller that reports it itself (``pik ingest`` names the line).

    >>> not_utf8(b'\\xff\\xfe{\\x00}\\x00').message
    'body must be UTF-8 JSON: byte 0 is not UTF-8 (UTF-16 or UTF-32?)'
    >>> not_utf8('{"a": "é"}'.encode()) is None
    True
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        wide = " (UTF-16 or UTF-32?)" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        return FieldError("body", "utf8", f"body must be UTF-8 JSON: byte {exc.start} is not UTF-8{wide}")
    if "\x00" in text:
        return FieldError("body", "utf8", "body must be UTF-8 JSON: it holds NUL bytes (UTF-16 or UTF-32?)")
    return None


def parse_body(body: bytes | str, limits: Limits = Limits()) -> dict[str, Any]:
    """Decode a request body into a JSON object, or raise ``ValidationError`` on field ``body``."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    if len(raw) > limits.max_body_bytes:
        raise ValidationError(
            [FieldError("body", "max_bytes", f"body exceeds {limits.max_body_bytes} bytes")], too_large=True
        )
    try:
        value = json.loads(
            utf8_text(raw),
            object_pairs_hook=_no_duplicate_keys,
            parse_constant=_no_constants,
            parse_float=_finite_float,
        )
    except _OutOfRange as exc:
        raise ValidationError([FieldError("body", "number_range", str(exc))]) from exc
    except (ValueError, RecursionError) as exc:
        raise ValidationError([FieldError("body", "json", f"body is not valid JSON: {exc}")]) from exc
    if not isinstance(value, dict):
        raise ValidationError([FieldError("body", "object", "body must be a JSON object")])
    broken = [
        name for name, field_value in value.items() if _has_lone_surrogate(name) or _has_lone_surrogate(field_value)
    ]
    if broken:
        raise ValidationError(
            [
                FieldError(
                    name if not _has_lone_surrogate(name) else "body",
                    "unicode",
                    "text must be valid Unicode: a lone surrogate escape such as \\ud800 is not",
                )
                for name in broken
            ]
        )
    return value


def validate(body: bytes | str | dict[str, Any], *, now: datetime, limits: Limits = Limits()) -> ValidEvent:
    """Check every rule and return the event, or raise one ``ValidationError`` listing all breaks.

    >>> ev = validate('{"source":"app","event_type":"click","entity_id":"u1",'
    ...               '"event_time":"2024-01-01T00:00:00Z","payload":{}}',
    ...               now=datetime(2024, 1, 1, tzinfo=UTC))
    >>> ev.event_date
    '2024-01-01'
    """
    data = body if isinstance(body, dict) else parse_body(body, limits)
    errors = [FieldError(name, "unknown_field", f"unknown field {name[:64]!r}") for name in data if name not in FIELDS]
    source = _name(data, "source", limits, errors)
    event_type = _name(data, "event_type", limits, errors)
    entity_id = text_field(data, "entity_id", limits.max_entity_chars, errors, required=True)
    key = text_field(data, "idempotency_key", limits.max_key_chars, errors, required=False)
    event_time = _time(data, now, limits, errors)
    payload, too_large = _payload(data, limits, errors)
    if errors or source is None or event_type is None or entity_id is None or event_time is None:
        raise ValidationError(errors, too_large=too_large)  # a field left None has put its error in the list
    received = {name: data[name] for name in FIELDS if name in data}
    return ValidEvent(source, event_type, entity_id, event_time, payload, key, received)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise ValueError(f"duplicate key {name[:64]!r}")
        result[name] = value
    return result


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class _OutOfRange(PikError, ValueError):
    """A time outside the years a key can hold; becomes a ``FieldError`` of the event."""


def _finite_float(text: str) -> float:
    """JSON numbers too large for a float (``1e400``) would become infinity, and nonzero ones too
    small (``1e-400``) would silently become 0: refuse both."""
    value = float(text)
    if math.isinf(value) or (value == 0 and any(ch in "123456789" for ch in text.lower().partition("e")[0])):
        raise _OutOfRange(
            f"number {text[:32]} is out of range: nonzero JSON numbers here must lie within ±4.9e-324..±1.8e308"
        )
    return value


def _has_lone_surrogate(value: Any) -> bool:
    """Any string (key or value, at any depth) holding a lone UTF-16 surrogate, which no UTF-8
    encoder accepts; iterative, so a deep payload cannot exhaust the stack."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if any("\ud800" <= ch <= "\udfff" for ch in item):
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in text)


def text_field(
    data: dict[str, Any], name: str, max_chars: int, errors: list[FieldError], *, required: bool
) -> str | None:
    """A bounded, printable string field, or None with the broken rule appended to ``errors``."""
    if name not in data or data[name] is None:
        if required:
            errors.append(FieldError(name, "required", f"{name} is required"))
        return None
    value = data[name]
    if not isinstance(value, str):
        errors.append(FieldError(name, "type", f"{name} must be a string"))
    elif not value.strip():
        errors.append(FieldError(name, "min_length", f"{name} must not be empty"))
    elif len(value) > max_chars:
        errors.append(FieldError(name, "max_length", f"{name} must be at most {max_chars} characters"))
    elif _has_control(value):
        errors.append(FieldError(name, "no_control_chars", f"{name} must not contain control characters"))
    else:
        return value
    return None


def _name(data: dict[str, Any], name: str, limits: Limits, errors: list[FieldError]) -> str | None:
    """Source and type become S3 partition names: a strict character set, no ``..``."""
    value = text_field(data, name, limits.max_name_chars, errors, required=True)
    if value is None:
        return None
    if not NAME_RE.fullmatch(value) or ".." in value:
        errors.append(FieldError(name, "pattern", f"{name} must match {NAME_RE.pattern} without '..'"))
        return None
    return value


def _time(data: dict[str, Any], now: datetime, limits: Limits, errors: list[FieldError]) -> datetime | None:
    text = text_field(data, "event_time", limits.max_time_chars, errors, required=True)
    if text is None:
        return None
    try:
        value = parse_aware(text)
    except ValueError as exc:
        rule = "offset_required" if "naive" in str(exc) else "iso8601"
        errors.append(
            FieldError("event_time", rule, "event_time must be ISO-8601 with a UTC offset, e.g. 2024-01-01T00:00:00Z")
        )
        return None
    earliest = max(EARLIEST, now - limits.max_age)
    if not earliest <= value <= now + limits.max_clock_skew:
        errors.append(
            FieldError(
                "event_time",
                "range",
                f"event_time must lie between {earliest.isoformat()} and {limits.max_clock_skew} after arrival",
            )
        )
        return None
    return value


def _payload(data: dict[str, Any], limits: Limits, errors: list[FieldError]) -> tuple[Any, bool]:
    if "payload" not in data:
        errors.append(FieldError("payload", "required", "payload is required"))
        return None, False
    value = data["payload"]
    if not isinstance(value, (dict, list)):
        errors.append(FieldError("payload", "type", "payload must be a JSON object or array"))
        return None, False
    if _depth(value, limits.max_payload_depth) > limits.max_payload_depth:
        errors.append(FieldError("payload", "max_depth", f"payload nests deeper than {limits.max_payload_depth}"))
        return None, False
    size = len(identity.canonical_json(value).encode("utf-8"))
    if size > limits.max_payload_bytes:
        errors.append(
            FieldError("payload", "max_bytes", f"payload is {size} bytes; the limit is {limits.max_payload_bytes}")
        )
        return None, True
    return value, False


def _depth(value: Any, cap: int, level: int = 1) -> int:
    if level > cap or not isinstance(value, (dict, list)):
        return level
    children = value.values() if isinstance(value, dict) else value
    return max((_depth(child, cap, level + 1) for child in children if isinstance(child, (dict, list))), default=level)
