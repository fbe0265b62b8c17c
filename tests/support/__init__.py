"""Helpers the tests share (a test module never imports another test module or a conftest; conftest files
hold fixtures, built from these). One module per kind of help:

    aws           moto's region
    browser       headless Debian Chromium through Playwright
    compaction    a fixed day, events ingested on it, the compaction handler run, the curated objects
    events        ingest bodies and the Lambda events that carry them (API Gateway, SQS, Kinesis)
    fakes         in-memory fakes of the ports, with one-shot hooks that force races
    frames        a kit frame checked against its kind's schema
    iam           the IAM gate: every AWS call a test makes, judged against the template's policies
    iam_stack     the translated template the gate judges against, with the test's names and parameters
    kit           the notebook kit's tests: a fixed day, ingest through the handler, scripted AWS answers
    lambdas       a Lambda context and ``call`` for the API handlers
    layout        where the project's packages live, for tests that read source
    limits        AWS's size limits where moto does not enforce them
    notebooks     the repository's notebooks and what an executed one shows
    openlineage   RunEvents checked against the OpenLineage spec's JSON schemas
    payloads      hypothesis strategies for payloads the archive must give back exactly
    processes     ``pik local up`` as a subprocess, stopped whatever the test asserts
    queues        reading what landed in a queue
    receiver      a recording HTTP endpoint on 127.0.0.1
    replays       replay seeding, windows, queue draining, the replay service called directly, run records
    sam           template.yaml through the SAM translator, resolved
    stored        what the handlers stored in moto's bucket and tables
    targets       external replay targets: the allow-list, consumer queues, a signature-checking receiver
    waits         bounded waits, never a bare sleep
"""
