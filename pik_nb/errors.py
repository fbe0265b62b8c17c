"""The errors ``pik_nb`` raises on purpose, under pik's one hierarchy.

    PikError (pik.core.errors)
    ├── StorageError       an AWS call failed (raised by pik.aws and the fast reader)
    └── KitError           an investigation could not be done as asked
        ├── ConnectError   no stack to talk to, or a resource name is missing
        ├── ScopeError     a loader was called without a scope (or a full scan was not allowed)
        └── ApiError       the replay API refused the request
"""

from __future__ import annotations

from pik.core.errors import PikError


class KitError(PikError):
    """Base of the errors raised by ``pik_nb``."""


class ConnectError(KitError):
    """``connect()`` could not find the stack or one of its resources."""


class ScopeError(KitError):
    """A loader needs a scope: ``entity_id``, or ``source`` and ``event_type`` (or ``allow_scan=True``)."""


class ApiError(KitError):
    """The pik HTTP API answered an error; ``status`` and ``body`` hold its answer."""

    def __init__(self, message: str, *, status: int, body: dict) -> None:
        super().__init__(message)
        self.status = status
        self.body = body
