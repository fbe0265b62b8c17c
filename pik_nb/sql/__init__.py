"""SQL over the archive: the engine and its views (``engine``: DuckDB locally, Athena deployed), the
archive it reads (``archive``), the query text for both dialects (``queries``, and ``dashboard`` for
``kit.explain_dashboard``) and the analyses run through it (``analyses``).

>>> from pik_nb.sql import analyses, local_connection, queries, run
>>> run(local_connection("/tmp/archive"), queries.duplicates_per_source())      # doctest: +SKIP
"""

from . import analyses, archive, dashboard, dialect, engine, queries
from .engine import VIEWS, local_connection, run, sql

__all__ = [
    "sql",
    "run",
    "local_connection",
    "VIEWS",
    "engine",
    "archive",
    "queries",
    "analyses",
    "dashboard",
    "dialect",
]
