"""Pipeline Investigation Kit: the code that runs in AWS Lambda (and in the local stack).

Layers, from the inside out:
- ``pik.core``: stdlib-only domain (event contract, identity, key layout, item shapes, metrics).
- ``pik.aws``: the only modules that import boto3; one adapter per service.
- ``pik.services``: use cases (ingest, replay, process) wiring core and adapters.
- ``pik.handlers``: thin aws-lambda-powertools entry points.
"""
