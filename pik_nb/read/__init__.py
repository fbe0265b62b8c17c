"""Reading a stack: ``Stack`` (session, names, clients), the metadata tables (``tables``), the raw
bucket (``objects``) and typed DataFrames (``frames``).

>>> from pik_nb.read import ATTEMPT_COLUMNS, Stack, from_records
>>> from_records([], ATTEMPT_COLUMNS).shape[1] == len(ATTEMPT_COLUMNS)
True

The fast transports under them are private leaves: ``_dynamodb.FastReader`` (DynamoDB pages as
Arrow), ``_s3.ObjectReader`` (one signed GET per object), both on ``_signed.SignedHttp``.
"""

from . import frames, objects, schemas, tables
from .frames import AGGREGATE_COLUMNS, ATTEMPT_COLUMNS, RUN_COLUMNS, STATUSES, from_dynamo, from_records
from .stack import Resources, Stack

__all__ = [
    "Stack",
    "Resources",
    "ATTEMPT_COLUMNS",
    "AGGREGATE_COLUMNS",
    "RUN_COLUMNS",
    "STATUSES",
    "from_records",
    "from_dynamo",
    "frames",
    "objects",
    "schemas",
    "tables",
]
