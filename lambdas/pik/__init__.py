"""Pipeline Investigation Kit: the code that runs in AWS Lambda (and in the local stack).

Layers, from the inside out (dependencies point inwards only):
- ``pik.core``: stdlib-only domain (event contract, identity, key layout, item shapes, metrics),
  the storage ports the services are typed against, and the DynamoDB query builders.
- ``pik.aws``: the only modules that import boto3; one adapter per service, each fits a port.
- ``pik.services``: use cases (ingest, replay, process) written against ``pik.core.ports``.
- ``pik.bootstrap``: wires the adapters to the ports.
- ``pik.handlers``: thin aws-lambda-powertools entry points; HTTP statuses and observability.
"""
