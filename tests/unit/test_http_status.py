"""Pik's errors carry no HTTP: the handlers' one table maps them to statuses."""

from __future__ import annotations

import pytest

from pik.core.errors import (
    ConflictError,
    FieldError,
    ForbiddenError,
    NotFoundError,
    PikError,
    StorageError,
    ValidationError,
)
from pik.handlers.http import http_status
from pik.services.process import IntegrityError

BROKEN = [FieldError("body", "json", "not JSON")]


@pytest.mark.parametrize(
    "error,status",
    [
        (ValidationError(BROKEN), 400),
        (ValidationError(BROKEN, too_large=True), 413),
        (NotFoundError("no run"), 404),
        (ForbiddenError("another's run"), 403),
        (ConflictError("token reused"), 409),
        (StorageError("throttled"), 503),
        (IntegrityError("hash mismatch"), 503),
        (PikError("anything else"), 500),
    ],
)
def test_each_error_maps_to_its_status(error, status):
    assert http_status(error) == status
    assert not hasattr(error, "http_status")


def test_a_too_large_body_says_so():
    assert ValidationError(BROKEN, too_large=True).to_dict()["error"] == "request too large"
    assert ValidationError(BROKEN).to_dict()["error"] == "invalid request"
