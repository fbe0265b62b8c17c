"""The errors ``pik_nb`` raises on purpose, under pik's one hierarchy (``pik.core.errors``).

PikError (pik.core.errors)
├── StorageError       an AWS call failed (raised by pik.aws and the fast reader)
├── ApiError           the pik HTTP API refused a request (pik_api, the one API client)
└── KitError           an investigation could not be done as asked
    ├── ConnectError   no stack to talk to, or a resource name is missing
    ├── ScopeError     a loader was called without a scope (or a full scan was not allowed), a bad window or period
    ├── SqlError       kit.sql's engine refused a query (syntax, unknown column, Athena failure)
    ├── FlowError      a replay-flow step was asked for out of order (pik_nb.replay.flow)
    ├── SchemaError    a frame does not have its kind's schema (pik_nb.read.schemas)
    └── IncidentError  an incident notebook that cannot be opened or found (pik_nb.notebook.incident)
"""

from __future__ import annotations

from pik.core.errors import PikError
from pik_api import ApiError

__all__ = ["KitError", "ConnectError", "ScopeError", "SqlError", "ApiError"]


class KitError(PikError):
    """Base of the errors raised by ``pik_nb``."""


class ConnectError(KitError):
    """``connect()`` could not find the stack or one of its resources."""


class ScopeError(KitError):
    """A loader needs a scope: ``entity_id``, or ``source`` and ``event_type`` (or ``allow_scan=True``);
    a window needs start before end, a period whole minutes."""


class SqlError(KitError):
    """A query the SQL engine refused, with the engine's message."""
