"""SQL over the archive: the engine and its views (``engine``: DuckDB locally, Athena deployed), the
archive it reads (``archive``), the query text every query shares (``queries``: literals, scopes,
``kit.search``) and what the two dialects spell differently (``dialect``), and one module per analysis
holding its SQL for both dialects and its result typing: ``lateness``, ``duplicates``, ``gaps``,
``streams`` (``pik status``), ``dashboard`` (``kit.explain_dashboard``); ``analyses`` gathers the
typed analyses.

>>> from pik_nb.sql import analyses, local_connection, queries, run
>>> run(local_connection("/tmp/archive"), queries.duplicates_per_source())      # doctest: +SKIP
"""

from . import analyses, archive, dashboard, dialect, duplicates, engine, gaps, lateness, queries, streams
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
    "lateness",
    "duplicates",
    "gaps",
    "streams",
]
