"""Fixtures for the executed notebooks: a local stack in a subprocess holding a generated incident."""

from __future__ import annotations

import pytest

from pik_local.demo import stage_incident
from pik_local.story import generate
from tests.support.processes import StackProcess


@pytest.fixture(scope="module")
def incident(tmp_path_factory):
    """`pik local up` in a subprocess, holding an incident sent, replayed, fixed and replayed."""
    stack = StackProcess(tmp_path_factory.mktemp("notebooks"), "--simulated-arrival")  # history arrives as it did
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("AWS_ENDPOINT_URL", stack.info.endpoint_url)  # stage_incident's boto3 calls reach moto
            plan = generate(400, seed=11)
            outcome = stage_incident(stack, plan, workers=4, progress=False, say=lambda _: None)
        yield stack, outcome.truth, plan
    finally:
        assert stack.stop() == 0
