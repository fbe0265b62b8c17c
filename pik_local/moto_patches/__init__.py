"""Patches to moto, one module per service, each reaching into moto's private code: they were written
for moto 5.2 (``pyproject.toml`` caps moto to ``<5.3``; ``tests/functional/test_moto_queries.py`` and
``tests/e2e/test_moto_patch.py`` check they still hold after an upgrade).

- ``dynamodb``: isolated transactions costing O(items touched), queries O(matching items), item JSON
  by ``json``, single-item writes atomic;
- ``sqs``: queue attributes computed once per call;
- ``server``: the backend per host looked up once, and (``keep_connections_alive``) keep-alive HTTP.

``install()`` before ``mock_aws()`` (or in moto's server process) patches all three.
"""

from __future__ import annotations

from . import dynamodb, server, sqs
from .server import keep_connections_alive

WRITTEN_FOR = "5.2"  # the moto minor these patches reach into; pyproject.toml admits only it

__all__ = ["WRITTEN_FOR", "install", "keep_connections_alive", "dynamodb", "sqs", "server"]


def install() -> None:
    """Patch moto's DynamoDB, SQS and server in this process (idempotent): ``install()`` before ``mock_aws()``."""
    dynamodb.install()
    sqs.install()
    server.install()
