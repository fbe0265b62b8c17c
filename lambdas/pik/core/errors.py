"""The one exception hierarchy of pik.

    PikError
    ├── ValidationError      bad input (``too_large`` when a size bound broke), carries FieldErrors
    ├── ConflictError        a request that contradicts an earlier one
    │   └── LeaseError       another compaction holds the archive's lease (or took it from this one)
    ├── ForbiddenError       a record that belongs to another requester
    ├── NotFoundError        an id that names nothing
    └── StorageError         an AWS call failed; retrying the request is safe

The domain says what went wrong, never how a transport reports it: HTTP statuses are chosen
in ``pik.handlers.http`` (one table).
"""

from __future__ import annotations

from dataclasses import dataclass


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
        super().__init__("; ".join(f"{e.field}: {e.rule}" for e in self.errors))

    def to_dict(self) -> dict:
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
