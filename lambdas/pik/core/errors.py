"""The one exception hierarchy of pik: every exception class of pik, pik_api, pik_nb, pik_local and
pik_cli derives from ``PikError`` (``tests/unit/test_errors.py`` keeps this tree complete).

    PikError
    ├── ValidationError      bad input (``too_large`` when a size bound broke), carries FieldErrors
    ├── ConflictError        a request that contradicts an earlier one
    │   └── LeaseError       another compaction holds the archive's lease (or took it from this one)
    ├── ForbiddenError       a record that belongs to another requester
    ├── NotFoundError        an id that names nothing
    ├── StorageError         an AWS call failed; retrying the request is safe
    │   ├── ContentionError  concurrent transactions kept cancelling this one
    │   └── IntegrityError   a raw object no longer matches its hash (pik.services.process)
    ├── MappingError         a tap's mapping that cannot work (pik.core.mapping; also a ValueError)
    ├── DeadlineExceeded     no whole answer within a webhook's deadline (pik.aws.webhook; also an OSError)
    ├── SdkTooOldError       the runtime's botocore cannot send a conditional put (pik.aws.s3; a RuntimeError)
    ├── _OutOfRange          a time no key can hold; becomes a FieldError (pik.core.contract, private)
    ├── ApiError             the pik HTTP API refused a request (pik_api)
    ├── KitError             an investigation could not be done as asked (pik_nb; its tree: pik_nb._errors)
    │   ├── ConnectError     no stack to talk to, or a resource name is missing
    │   ├── ScopeError       a loader without a scope, a bad window or period
    │   ├── SqlError         kit.sql's engine refused a query
    │   ├── FlowError        a replay-flow step asked for out of order (pik_nb.replay.flow)
    │   ├── SchemaError      a frame without its kind's schema (pik_nb.read.schemas)
    │   └── IncidentError    an incident notebook that cannot be opened or found (pik_nb.notebook.incident)
    ├── StackError           the local stack cannot start (pik_local.stack)
    ├── ChildError           a child process of the local stack did not start (pik_local.processes)
    ├── DemoError            the demo could not complete a step (pik_local.demo)
    ├── ParameterError       an unknown template parameter or refused value (pik_local.conditions; a ValueError)
    └── TapError             a tap that cannot start (pik_local.taps; a ValueError)

The domain says what went wrong, never how a transport reports it: HTTP statuses are chosen
in ``pik.handlers.http`` (one table), the command line's messages and exit codes in
``pik_cli._errors`` (one place).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "FieldError",
    "PikError",
    "ValidationError",
    "ConflictError",
    "LeaseError",
    "ForbiddenError",
    "NotFoundError",
    "StorageError",
    "ContentionError",
]


@dataclass(frozen=True)
class FieldError:
    """One broken rule: ``FieldError("event_time", "offset_required", "...")``."""

    field: str
    rule: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "rule": self.rule, "message": self.message}


class PikError(Exception):
    """Base of every error pik raises on purpose."""


class ValidationError(PikError):
    """The input breaks one or more rules; nothing was written."""

    def __init__(self, errors: list[FieldError], *, too_large: bool = False) -> None:
        self.errors = list(errors)
        self.too_large = too_large
        super().__init__("; ".join(f"{e.field}/{e.rule}: {e.message}" for e in self.errors))

    def to_dict(self) -> dict[str, Any]:
        return {
            "error": "request too large" if self.too_large else "invalid request",
            "details": [e.to_dict() for e in self.errors],
        }


class ConflictError(PikError):
    """The request contradicts an earlier one (e.g. a reused ``client_token``)."""


class LeaseError(ConflictError):
    """The compaction lease is held by another run, or this run lost it: nothing more is switched."""


class ForbiddenError(PikError):
    """The request names a record of another requester (e.g. another's replay continuation)."""


class NotFoundError(PikError):
    """An id that names nothing."""


class StorageError(PikError):
    """An AWS call failed. The write order guarantees a retry is safe."""


class ContentionError(StorageError):
    """Concurrent transactions on the same items kept cancelling this one (DynamoDB's
    ``TransactionConflict``), even after bounded retries; the caller re-reads and decides."""
