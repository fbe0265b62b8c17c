"""Shared fixtures: moto (in-process) with resources created from template.yaml itself (helpers: tests/support)."""

from __future__ import annotations

import pytest
from moto import mock_aws

from pik.aws import clients
from pik_local import moto_patches, template
from tests.support import iam as iam_gate
from tests.support.aws import REGION
from tests.support.iam_stack import iam_stack
from tests.support.targets import targets_allowed, webhook_receivers


@pytest.fixture(autouse=True)
def _fake_credentials(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "DRY_RUN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def stack(monkeypatch, request):
    """Bucket, tables and queues from template.yaml under mock_aws; env set as Lambda sees it.

    Every AWS call a handler or the kit makes meanwhile is evaluated against the translated template's
    policies at the end (tests/support/iam.py): a call AWS would deny fails the test.
    """
    moto_patches.install()  # isolated transactions, as DynamoDB's (see the module)
    with mock_aws():
        clients.reset()
        resources = template.create(clients.session(region_name=REGION), prefix="test")
        for name, value in resources.environment.items():
            monkeypatch.setenv(name, value)
        recorder = iam_gate.Recorder(iam_gate.handlers_of(iam_stack(resources)))
        recorder.install(monkeypatch)
        yield resources
        if "no_iam_gate" not in request.keywords:  # @pytest.mark.no_iam_gate: a test of a refused call
            problems = recorder.denied(iam_stack(resources))
            assert not problems, "AWS would refuse these calls:\n" + "\n".join(problems)
    clients.reset()


@pytest.fixture
def allowed(stack, monkeypatch):
    """The ``stack`` with the deployment's allow-list of replay targets set (tests/support/targets.py)."""
    with targets_allowed(monkeypatch):
        yield stack


@pytest.fixture
def receiver():
    """Factory: ``receiver([503])`` starts a signature-checking HTTP endpoint; all stop at the end."""
    with webhook_receivers() as start:
        yield start
