"""The one exception hierarchy of pik.

    PikError
    ├── ValidationError      bad input: 400 (or 413 when too large), carries FieldErrors
    ├── ConflictError        a request that contradicts an earlier one (409)
    ├── NotFoundError        an id that names nothing (404)
    └── StorageError         an AWS call failed; retry the request (5xx)
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

    http_status = 500


class ValidationError(PikError):
    """The input breaks one or more rules; nothing was written."""

    http_status = 400

    def __init__(self, errors: list[FieldError], *, too_large: bool = False) -> None:
        self.errors = list(errors)
        self.http_status = 413 if too_large else 400
        super().__init__("; ".join(f"{e.field}: {e.rule}" for e in self.errors))

    def to_dict(self) -> dict:
        return {
            "error": "request too large" if self.http_status == 413 else "invalid request",
            "details": [e.to_dict() for e in self.errors],
        }


class ConflictError(PikError):
    http_status = 409


class NotFoundError(PikError):
    http_status = 404


class StorageError(PikError):
    """An AWS call failed. The write order guarantees a retry is safe."""

    http_status = 503
