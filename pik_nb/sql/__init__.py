"""SQL over the archive: the engine and its views (``engine``: DuckDB locally, Athena deployed), the
archive it reads (``archive``), the query text every query shares (``queries``: literals, scopes,
``kit.search``) and what the two dialects spell differently (``dialect``), and one module per analysis
holding its SQL for both dialects and its result typing: ``lateness``, ``duplicates``, ``gaps``,
``streams`` (``pik status``), ``dashboard`` (``kit.explain_dashboard``); ``analyses`` gathers the
typed analyses.

>>> from pik_nb.sql import analyses, local_connection, queries, run
>>> run(local_connection("/tmp/archive"), queries.duplicates_per_source())      # doctest: +SKIP
"""

from pik.core.compat import moved_to, retired_names

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

#: What the module ``pik_nb.sql`` offered before it became this room, now ``pik_nb.sql.engine``'s (for one release).
__getattr__ = retired_names(
    __name__,
    {
        name: moved_to(f"pik_nb.sql.engine.{name}")
        for name in (
            "ATHENA_POLL_S",
            "engine_of",
            "connection",
            "register",
            "aggregates_frame",
            "replays_frame",
            "search",
            "athena",
            "athena_request",
            "athena_frame",
        )
    },
)
