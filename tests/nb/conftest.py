"""Fixtures for pik_nb: a Kit on the moto ``stack`` and real ingests through the handlers."""

from __future__ import annotations

import boto3
import pytest

import pik_nb
from pik.handlers import ingest
from tests.conftest import REGION, call


@pytest.fixture
def kit(stack):
    """A Kit connected to the mock stack with explicit outputs, as a deployed stack would be."""
    return pik_nb.connect(session=boto3.session.Session(region_name=REGION), **stack.outputs)


def post(body: dict | str) -> dict:
    """Ingest through the real handler; returns the API's answer."""
    status, answer = call(ingest, "/ingest", body)
    assert status in (200, 400, 413), answer
    return answer
