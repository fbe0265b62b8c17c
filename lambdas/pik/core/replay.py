"""Replay requests and replay runs: validation, identity and counting, without I/O."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from . import identity, keys
from .compat import retired_names
from .contract import NAME_RE, Limits, text_field
from .errors import FieldError, ValidationError
from .pacing import MAX_RATE, MIN_RATE
from .records import ACCEPTED, DUPLICATE, REJECTED, AttemptStatus
from .targets import ENVELOPES, parse_target
from .timefmt import days_between, key_time, parse_aware

__all__ = [
    "TOKEN_RE",
    "RUN_ID_RE",
    "MAX_CONTINUATION_CHARS",
    "MAX_KEY_CHARS",
    "MAX_LIMIT",
    "DEFAULT_LIMIT",
    "MAX_WINDOW",
    "SAMPLE_SIZE",
    "MAX_EVENT_IDS",
    "EVENT_ID_RE",
    "FIELDS",
    "RunStatus",
    "StopReason",
    "ENDED",
    "ACTIONS",
    "ReplayRequest",
    "ids_sha256",
    "parse_request",
    "ReplayCall",
    "BY_ID_FIELDS",
    "parse_call",
    "replay_id_for",
    "execution_id_for",
    "Continuation",
    "encode_continuation",
    "decode_continuation",
    "check_cursor",
    "Tally",
]

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
RUN_ID_RE = re.compile(r"^rp-[0-9a-f]{32}$")
MAX_CONTINUATION_CHARS = 8_192
MAX_KEY_CHARS = 2_048
MAX_LIMIT = 100_000
DEFAULT_LIMIT = 10_000
MAX_WINDOW = timedelta(days=92)
SAMPLE_SIZE = 10
MAX_EVENT_IDS = 10_000
EVENT_ID_RE = re.compile(r"^[0-9a-f]{64}$")
FIELDS = (
    "entity_id",
    "source",
    "event_type",
    "start_time",
    "end_time",
    "limit",
    "include_duplicates",
    "dry_run",
    "client_token",
    "continuation",
    "target",
    "rate_per_second",
    "event_ids",
    "statuses",
    "dead_letters",
    "envelope",
    "resend",
)


class RunStatus(StrEnum):
    """A replay run's ``status``. Values are the strings stored and answered (a ``StrEnum`` equals them).

    >>> RunStatus.PARTIAL == "PARTIAL"
    True
    """

    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    PARTIAL = "PARTIAL"
    PAUSED = "PAUSED"
    CANCELLED = "CANCELLED"


class StopReason(StrEnum):
    """Why a run stopped (``stopped``): a PARTIAL run stopped at ``LIMIT``, ``TIME`` or ``TARGET_ERRORS``
    goes on by continuation; the others are where the run ended (or was paused)."""

    COMPLETED = "completed"
    LIMIT = "limit"
    TIME = "time"
    TARGET_ERRORS = "target_errors"
    PAUSED = "paused"
    CANCELLED = "cancelled"


ENDED = (RunStatus.COMPLETED, RunStatus.CANCELLED)  # nothing more to steer
ACTIONS = {
    "pause": (RunStatus.PAUSED, StopReason.PAUSED),
    "cancel": (RunStatus.CANCELLED, StopReason.CANCELLED),
    "resume": (RunStatus.RUNNING, None),
}  # POST /replay/{id}: the status and stop reason each one leads to


@dataclass(frozen=True)
class ReplayRequest:
    """A validated replay scope. ``dry_run`` defaults to True: nothing is sent unless asked.

    The events are an entity's, a source/type's (both within ``[start, end)``), or an explicit list
    of event ids (named here by its hash and count: the list itself is kept apart, see
    ``pik.core.keys.replay_ids_key``). ``target`` is a ``pik.core.targets.Target.to_dict()`` (None:
    the stack's replay queue); ``rate_per_second`` paces the sends (None: unpaced)."""

    start: datetime | None
    end: datetime | None
    entity_id: str | None = None
    source: str | None = None
    event_type: str | None = None
    limit: int = DEFAULT_LIMIT
    include_duplicates: bool = False
    dry_run: bool = True
    client_token: str | None = None
    target: dict[str, Any] | None = None
    rate_per_second: int | float | None = None
    event_ids_sha256: str | None = None
    event_ids_count: int | None = None
    statuses: tuple[str, ...] | None = None
    dead_letters: bool | None = None
    resend: bool | None = None  # an external target gets again what it already got (default: skipped)
    # executing a reviewed dry run: only attempts recorded by the time the dry run began (its created_at, a key
    # time): one recorded after the review is not sent with what was reviewed, even when its arrival time
    # is older (a tap record that waited in its queue, a backfill); never in a body
    recorded_by: str | None = None

    @property
    def repair(self) -> bool:
        """Quarantined (REJECTED) requests re-submitted to ingest: selected by arrival time, not by index."""
        return self.statuses == (REJECTED,)

    def window(self) -> tuple[datetime, datetime]:
        """``(start, end)`` of a request by window (an entity's, a source/type's, the repair path's)."""
        if self.start is None or self.end is None:
            raise ValueError("this replay request has no window")
        return self.start, self.end

    def days(self) -> list[str]:
        """The window's days, as ``days_between`` gives them."""
        return days_between(*self.window())

    def stream(self) -> tuple[str, str]:
        """``(source, event_type)`` of a source/type request."""
        if self.source is None or self.event_type is None:
            raise ValueError("this replay request names no source and event type")
        return self.source, self.event_type

    def ids_key(self) -> str:
        """Where the request's event id list is kept (``keys.replay_ids_key`` of its hash)."""
        if self.event_ids_sha256 is None:
            raise ValueError("this replay request lists no event ids")
        return keys.replay_ids_key(self.event_ids_sha256)

    def wanted(self) -> tuple[str, ...]:
        """The attempt statuses this request selects."""
        if self.statuses:
            return self.statuses
        return (ACCEPTED, DUPLICATE) if self.include_duplicates else (ACCEPTED,)

    def scope(self) -> dict[str, Any]:
        """The JSON-able request, as recorded on the run."""
        data = asdict(self)
        data["start"] = key_time(self.start) if self.start else None
        data["end"] = key_time(self.end) if self.end else None
        return {k: v for k, v in data.items() if v is not None}

    def fingerprint(self) -> str:
        return identity.sha256_hex(identity.canonical_json(self.scope()))

    @classmethod
    def from_scope(cls, scope: dict[str, Any]) -> ReplayRequest:
        """The request a run recorded (``scope()``), back again."""
        return cls(
            **{
                **scope,
                "start": parse_aware(scope["start"]) if "start" in scope else None,
                "end": parse_aware(scope["end"]) if "end" in scope else None,
                "statuses": tuple(scope["statuses"]) if "statuses" in scope else None,
            }
        )


def ids_sha256(event_ids: tuple[str, ...]) -> str:
    """The hash naming an event id list (its order kept)."""
    return identity.sha256_hex(identity.canonical_json(list(event_ids)))


def parse_request(data: dict[str, Any]) -> tuple[ReplayRequest, str | None, tuple[str, ...] | None]:
    """Validate a replay body; returns the request, an optional continuation token and the event ids
    it lists (None without ``event_ids``). Every field's errors are gathered, then raised together."""
    if not isinstance(data, dict):
        raise ValidationError([FieldError("body", "object", "body must be a JSON object")])
    errors = [FieldError(n, "unknown_field", f"unknown field {n[:64]!r}") for n in data if n not in FIELDS]
    entity, source, event_type = _names(data, errors)
    event_ids = _event_ids(data, errors)
    statuses = _statuses(data, errors)
    dead_letters = _boolean(data, "dead_letters", None, errors)
    _check_scope(data, (entity, source, event_type), statuses, dead_letters, errors)
    start, end = _window(data, dead_letters, errors)
    limit = data.get("limit", DEFAULT_LIMIT)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        errors.append(FieldError("limit", "range", f"limit must be an integer from 1 to {MAX_LIMIT}"))
    include_duplicates = _boolean(data, "include_duplicates", False, errors)
    dry_run = _boolean(data, "dry_run", True, errors)
    token = data.get("client_token")
    if token is not None and (not isinstance(token, str) or not TOKEN_RE.fullmatch(token)):
        errors.append(FieldError("client_token", "pattern", f"client_token must match {TOKEN_RE.pattern}"))
    continuation = _continuation(data, errors)
    target = _target(data, errors)
    rate = _rate(data, errors)
    resend = _resend(data, errors)
    if errors:
        raise ValidationError(errors)
    request = ReplayRequest(
        start,
        end,
        entity,
        source,
        event_type,
        limit,
        include_duplicates,
        dry_run,
        token,
        target,
        rate,
        ids_sha256(event_ids) if event_ids else None,
        len(event_ids) if event_ids else None,
        statuses,
        True if dead_letters else None,
        resend,
    )
    return request, continuation, event_ids


def _names(data: dict[str, Any], errors: list[FieldError]) -> tuple[str | None, str | None, str | None]:
    """``entity_id``, ``source`` and ``event_type``, each optional; source and type are names."""
    limits = Limits()
    entity = text_field(data, "entity_id", limits.max_entity_chars, errors, required=False)
    source = text_field(data, "source", limits.max_name_chars, errors, required=False)
    event_type = text_field(data, "event_type", limits.max_name_chars, errors, required=False)
    for name, value in (("source", source), ("event_type", event_type)):
        if value is not None and not NAME_RE.fullmatch(value):
            errors.append(FieldError(name, "pattern", f"{name} must match {NAME_RE.pattern}"))
    return entity, source, event_type


def _boolean(data: dict[str, Any], name: str, default: bool | None, errors: list[FieldError]) -> Any:
    """``data[name]`` as given (``default`` when absent): true or false, or null where the default is."""
    value = data.get(name, default)
    if not isinstance(value, bool) and not (value is None and default is None):
        errors.append(FieldError(name, "type", f"{name} must be true or false"))
    return value


def _check_scope(
    data: dict[str, Any],
    names: tuple[str | None, str | None, str | None],
    statuses: tuple[str, ...] | None,
    dead_letters: Any,
    errors: list[FieldError],
) -> None:
    """One selection: an entity, a source and type, event ids, the DLQ (alone) or the rejected (repair)."""
    entity, source, event_type = names
    by_entity, by_stream = entity is not None, source is not None and event_type is not None
    by_ids = "event_ids" in data
    if dead_letters:  # redrive the replay queue's DLQ: its messages are the selection
        if (
            by_entity
            or by_stream
            or by_ids
            or source
            or event_type
            or statuses
            or "start_time" in data
            or "end_time" in data
        ):
            errors.append(
                FieldError(
                    "dead_letters",
                    "alone",
                    "dead_letters redrives the replay queue's DLQ as it "
                    "stands: no entity, source, event_ids, statuses or window",
                )
            )
    elif statuses == (REJECTED,):  # the repair path: quarantined requests of the window, re-submitted to ingest
        if by_entity or by_stream or by_ids or source or event_type or data.get("target") is not None:
            errors.append(
                FieldError(
                    "statuses",
                    "rejected_alone",
                    'statuses ["REJECTED"] re-submits the window\'s '
                    "quarantined requests to ingest: no entity, source, event_ids or target",
                )
            )
    elif by_entity + by_stream + by_ids != 1 or (by_entity and (source or event_type)):
        errors.append(
            FieldError("scope", "one_of", "give entity_id, or source and event_type, or event_ids (one of them)")
        )
    elif by_ids and statuses:
        errors.append(
            FieldError(
                "statuses",
                "with_event_ids",
                "event_ids name events (their ACCEPTED attempt): statuses cannot narrow them",
            )
        )


def _window(
    data: dict[str, Any], dead_letters: Any, errors: list[FieldError]
) -> tuple[datetime | None, datetime | None]:
    """``[start_time, end_time)``, at most ``MAX_WINDOW``; none for the DLQ, optional for event ids."""
    if dead_letters or ("event_ids" in data and not ("start_time" in data or "end_time" in data)):
        return None, None  # the list is the selection; a window, when given, narrows it
    start, end = _when(data, "start_time", errors), _when(data, "end_time", errors)
    if start and end and not start < end:
        errors.append(FieldError("end_time", "after_start", "end_time must be after start_time"))
    elif start and end and end - start > MAX_WINDOW:
        errors.append(FieldError("end_time", "max_window", f"the window must be at most {MAX_WINDOW.days} days"))
    return start, end


def _continuation(data: dict[str, Any], errors: list[FieldError]) -> str | None:
    continuation = data.get("continuation")
    if continuation is not None and not isinstance(continuation, str):
        errors.append(FieldError("continuation", "type", "continuation must be the string a replay returned"))
    return continuation


def _rate(data: dict[str, Any], errors: list[FieldError]) -> int | float | None:
    """``rate_per_second`` within the pacing bounds; a whole number as an int, so a recorded request
    fingerprints the same."""
    rate = data.get("rate_per_second")
    if rate is not None and (
        isinstance(rate, bool) or not isinstance(rate, (int, float)) or not MIN_RATE <= rate <= MAX_RATE
    ):
        errors.append(
            FieldError("rate_per_second", "range", f"rate_per_second must be a number from {MIN_RATE} to {MAX_RATE}")
        )
        return None
    return int(rate) if rate is not None and float(rate).is_integer() else rate


def _resend(data: dict[str, Any], errors: list[FieldError]) -> bool | None:
    """``resend``: True sends an external target again what it already got (recorded only when true)."""
    resend = data.get("resend")
    if resend is not None and not isinstance(resend, bool):
        errors.append(FieldError("resend", "type", "resend must be true or false"))
    elif resend and data.get("target") is None:
        errors.append(
            FieldError(
                "resend",
                "with_target",
                "resend applies to an external target (the stack's "
                "processor recomputes from its inputs: sending again is harmless)",
            )
        )
    return True if resend is True else None


def _target(data: dict[str, Any], errors: list[FieldError]) -> dict[str, Any] | None:
    """The request's ``target`` (``Target.to_dict()``), with the request's ``envelope`` folded in: the
    target records it, so a continuation or a client token is matched with it."""
    target, envelope = data.get("target"), data.get("envelope")
    if envelope is not None:
        if envelope not in ENVELOPES:
            errors.append(FieldError("envelope", "one_of", f"envelope must be one of {', '.join(ENVELOPES)}"))
            return None
        if target is None:
            errors.append(
                FieldError(
                    "envelope",
                    "needs_target",
                    "envelope applies to an external target: "
                    "the stack's replay queue takes messages pointing at raw S3",
                )
            )
            return None
        if isinstance(target, dict):
            if target.get("envelope", envelope) != envelope:
                errors.append(
                    FieldError(
                        "envelope",
                        "conflict",
                        f"envelope {envelope!r} contradicts target.envelope {target['envelope']!r}: give one",
                    )
                )
                return None
            target = {**target, "envelope": envelope}
    if target is None:
        return None
    try:
        return parse_target(target).to_dict()
    except ValidationError as exc:
        errors += exc.errors
        return None


def _statuses(data: dict[str, Any], errors: list[FieldError]) -> tuple[str, ...] | None:
    """Attempt statuses to select (default ACCEPTED, plus DUPLICATE with ``include_duplicates``);
    ``["REJECTED"]`` alone is the repair path."""
    if "statuses" not in data:
        return None
    value = data["statuses"]
    every = tuple(AttemptStatus)  # its members equal their strings (``in`` on the class itself refuses str in 3.11)
    if not isinstance(value, list) or not value or any(s not in every for s in value):
        errors.append(FieldError("statuses", "one_of", f"statuses must be a non-empty list of {', '.join(every)}"))
        return None
    chosen = tuple(s for s in every if s in value)
    if REJECTED in chosen and len(chosen) > 1:
        errors.append(FieldError("statuses", "rejected_alone", "REJECTED cannot be combined with other statuses"))
        return None
    return chosen


def _event_ids(data: dict[str, Any], errors: list[FieldError]) -> tuple[str, ...] | None:
    """Up to ``MAX_EVENT_IDS`` event ids (64 hex characters), each kept once, in the order given."""
    if "event_ids" not in data:
        return None
    ids = data["event_ids"]
    if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_EVENT_IDS:
        errors.append(FieldError("event_ids", "size", f"event_ids must be a list of 1 to {MAX_EVENT_IDS} event ids"))
        return None
    bad = next(
        (i for i, value in enumerate(ids) if not isinstance(value, str) or not EVENT_ID_RE.fullmatch(value)), None
    )
    if bad is not None:
        errors.append(
            FieldError("event_ids", "pattern", f"event_ids[{bad}] is not an event id (64 lowercase hex characters)")
        )
        return None
    return tuple(dict.fromkeys(ids))


@dataclass(frozen=True)
class ReplayCall:
    """One ``POST /replay`` body: a scope (``request``), or a recorded run named by ``replay_id``."""

    request: ReplayRequest | None
    continuation: str | None = None
    replay_id: str | None = None
    dry_run: bool = True
    event_ids: tuple[str, ...] | None = None


BY_ID_FIELDS = ("replay_id", "dry_run", "continuation")


def parse_call(data: dict[str, Any]) -> ReplayCall:
    """Validate a replay body: a scope (see ``parse_request``) or ``{"replay_id", "dry_run"?,
    "continuation"?}``, which names a recorded run (to read it, or to execute a dry run once).
    ``{"run": "<dry run's id>"}`` executes a reviewed dry run: ``{"replay_id": ..., "dry_run": false}``.

    >>> parse_call({"run": "rp-" + "0" * 32}).dry_run
    False
    """
    if isinstance(data, dict) and "run" in data:
        data = _run_call(data)
    if not isinstance(data, dict) or "replay_id" not in data:
        request, continuation, event_ids = parse_request(data)
        return ReplayCall(request, continuation, dry_run=request.dry_run, event_ids=event_ids)
    errors = [
        FieldError(n, "with_replay_id", f"{n[:64]!r} cannot be sent with replay_id: the run's recorded request is used")
        for n in data
        if n not in BY_ID_FIELDS
    ]
    replay_id = data["replay_id"]
    if not isinstance(replay_id, str) or not RUN_ID_RE.fullmatch(replay_id):
        errors.append(FieldError("replay_id", "pattern", f"replay_id must match {RUN_ID_RE.pattern}"))
    dry_run = _boolean(data, "dry_run", True, errors)
    continuation = _continuation(data, errors)
    if errors:
        raise ValidationError(errors)
    return ReplayCall(None, continuation, replay_id, dry_run)


def _run_call(data: dict[str, Any]) -> dict[str, Any]:
    """``{"run": id, "continuation"?}`` as the by-id call it is; any other field is a 400 naming it
    (the dry run's recorded scope is what executes, so nothing may change it)."""
    run = data["run"]
    errors = [
        FieldError(
            n, "with_run", f"{n[:64]!r} cannot be sent with run: the dry run's recorded scope is executed, exactly"
        )
        for n in data
        if n not in ("run", "continuation")
    ]
    if not isinstance(run, str) or not RUN_ID_RE.fullmatch(run):
        errors.append(FieldError("run", "pattern", f"run must be a dry run's replay_id ({RUN_ID_RE.pattern})"))
    if errors:
        raise ValidationError(errors)
    return {
        "replay_id": run,
        "dry_run": False,
        **({"continuation": data["continuation"]} if "continuation" in data else {}),
    }


def _when(data: dict[str, Any], name: str, errors: list[FieldError]) -> datetime | None:
    value = data.get(name)
    if not isinstance(value, str):
        errors.append(FieldError(name, "required", f"{name} is required (ISO-8601 with offset)"))
        return None
    try:
        return parse_aware(value)
    except ValueError:
        errors.append(FieldError(name, "iso8601", f"{name} must be ISO-8601 with a UTC offset"))
        return None


def replay_id_for(requester: str, client_token: str | None, fallback: str) -> str:
    """Same requester + token → same run id, so a repeated request finds the first run."""
    if client_token is None:
        return f"rp-{fallback}"
    return "rp-" + identity.sha256_hex(identity.canonical_json(["replay", requester, client_token]))[:32]


def execution_id_for(preview_id: str) -> str:
    """The one run that executes the dry run ``preview_id`` (``{"replay_id": ..., "dry_run": false}``)."""
    return "rp-" + identity.sha256_hex(identity.canonical_json(["execute", preview_id]))[:32]


@dataclass(frozen=True)
class Continuation:
    """Where a stopped run goes on: the run and the ``step`` it stopped at. The cursor itself stays
    on the run record; only a run that records nothing (``DRY_RUN=true``) carries it here."""

    replay_id: str
    step: int
    cursor: dict[str, Any] | None = None


def encode_continuation(replay_id: str, step: int, cursor: dict[str, Any] | None = None) -> str:
    body: dict[str, Any] = {"replay_id": replay_id, "step": step}
    if cursor is not None:
        body["cursor"] = cursor
    return base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).decode()


def _refuse(rule: str, message: str) -> ValidationError:
    """The 400 naming ``continuation``, the broken ``rule`` and why."""
    return ValidationError([FieldError("continuation", rule, message)])


def decode_continuation(token: str) -> Continuation:
    """The continuation a replay returned; anything else is a 400 naming ``continuation``."""
    if len(token) > MAX_CONTINUATION_CHARS:
        raise _refuse("format", "continuation is not one a replay returned")
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
    except (ValueError, TypeError, UnicodeError) as exc:
        raise _refuse("format", "continuation is not one a replay returned") from exc
    if not isinstance(value, dict) or set(value) - {"replay_id", "step", "cursor"}:
        raise _refuse("format", "continuation is not one a replay returned")
    replay_id, step, cursor = value.get("replay_id"), value.get("step"), value.get("cursor")
    if not isinstance(replay_id, str) or not RUN_ID_RE.fullmatch(replay_id):
        raise _refuse("replay_id", f"continuation's replay_id must match {RUN_ID_RE.pattern}")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise _refuse("step", "continuation's step must be a non-negative integer")
    if cursor is not None and not isinstance(cursor, dict):
        raise _refuse("cursor", "continuation's cursor must be an object")
    return Continuation(replay_id, step, cursor)


def check_cursor(cursor: dict[str, Any], request: ReplayRequest) -> None:
    """A resume position must lie inside ``request``'s scope: ``{"after": key}`` for an entity,
    ``{"day": one of the window's days, "after": key?}`` for a source/type. 400 otherwise."""
    if request.dead_letters:
        if cursor:
            raise _refuse("cursor", "a dead-letter redrive has no cursor: the queue itself is its position")
    elif request.repair:
        _check_repair_cursor(cursor, request)
    elif request.event_ids_count is not None:
        index = cursor.get("index", 0) if isinstance(cursor, dict) else None
        if (
            set(cursor or {}) - {"index"}
            or isinstance(index, bool)
            or not isinstance(index, int)
            or not (0 <= index <= request.event_ids_count)
        ):
            raise _refuse("cursor", 'continuation\'s cursor must be {"index": a position in event_ids}')
    else:
        _check_index_cursor(cursor, request)


def _check_repair_cursor(cursor: dict[str, Any], request: ReplayRequest) -> None:
    """The repair path's position: a day of the window and a ``rejected/`` key of that day."""
    allowed_days = request.days()
    if (
        not isinstance(cursor, dict)
        or set(cursor) - {"day", "key"}
        or ("day" in cursor and cursor["day"] not in allowed_days)
        or (
            "key" in cursor
            and not (isinstance(cursor["key"], str) and cursor["key"].startswith(f"rejected/date={cursor.get('day')}/"))
        )
    ):
        raise _refuse(
            "cursor", 'continuation\'s cursor must be {"day": a day of the window, "key": a rejected/ key of it}'
        )


def _check_index_cursor(cursor: dict[str, Any], request: ReplayRequest) -> None:
    """A position in the events table's index: an entity's, or a source/type's on one day of the window."""
    allowed = {"after"} if request.entity_id is not None else {"day", "after"}
    if not isinstance(cursor, dict) or set(cursor) - allowed:
        raise _refuse("cursor", f"continuation's cursor may hold only {sorted(allowed)}")
    day = cursor.get("day")
    if request.entity_id is None and "day" in cursor and day not in request.days():
        raise _refuse("day", "continuation's day must be a day of the request's window")
    after = cursor.get("after")
    if after is None:
        return
    if request.entity_id is not None:
        names, owner = ("pk", "sk", "ent_pk", "ent_sk"), ("ent_pk", keys.entity_pk(request.entity_id))
    elif day is None:
        raise _refuse("day", "continuation's after needs its day")
    else:
        names, owner = ("pk", "sk", "std_pk", "arrival_sk"), ("std_pk", keys.source_type_day_pk(*request.stream(), day))
    if (
        not isinstance(after, dict)
        or set(after) != set(names)
        or not all(isinstance(v, str) and 0 < len(v) <= MAX_KEY_CHARS for v in after.values())
    ):
        raise _refuse("after", f"continuation's after must be an index key with string {', '.join(names)}")
    if after[owner[0]] != owner[1]:
        raise _refuse("after", "continuation's after must lie in the request's scope")


@dataclass
class Tally:
    """Running counts of a replay: scanned items, matched events, sent messages, by event day."""

    scanned: int = 0
    matched: int = 0
    sent: int = 0
    by_day: dict[str, int] = field(default_factory=dict)
    sample_event_ids: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.by_day = dict(self.by_day or {})
        self.sample_event_ids = list(self.sample_event_ids or [])

    def match(self, event_id: str, event_date: str) -> None:
        self.matched += 1
        self.by_day[event_date] = self.by_day.get(event_date, 0) + 1
        if len(self.sample_event_ids) < SAMPLE_SIZE:
            self.sample_event_ids.append(event_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scanned": self.scanned,
            "matched": self.matched,
            "sent": self.sent,
            "by_day": dict(sorted(self.by_day.items())),
            "sample_event_ids": list(self.sample_event_ids),
        }


__getattr__ = retired_names(
    __name__,
    {"STATUSES": (lambda: tuple(AttemptStatus), "is retired: the statuses are pik.core.records.AttemptStatus")},
)
