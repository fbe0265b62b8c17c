"""Shared fixtures: moto (in-process) with resources created from template.yaml itself (helpers: tests/support)."""

from __future__ import annotations

import pytest
from moto import mock_aws

from pik.aws import clients
from pik_local import moto_patches, template
from tests.support.events import EVENTS, api_event, make_event, sqs_event  # noqa: F401 (older imports of them)
from tests.support.lambdas import LambdaContext, call  # noqa: F401
from tests.support.queues import drain_queue  # noqa: F401

from tests.support.aws import REGION  # noqa: E402 (older imports of it)


@pytest.fixture(autouse=True)
def _fake_credentials(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "DRY_RUN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def stack(monkeypatch):
    """Bucket, tables and queues from template.yaml under mock_aws; env set as Lambda sees it."""
    moto_patches.install()  # isolated transactions, as DynamoDB's (see the module)
    with mock_aws():
        clients.reset()
        resources = template.create(clients.session(region_name=REGION), prefix="test")
        for name, value in resources.environment.items():
            monkeypatch.setenv(name, value)
        yield resources
    clients.reset()
