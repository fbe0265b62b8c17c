"""The analyses pushed into SQL: the same tables as ``lateness``, ``duplicates(...).per_source`` and
``gaps(freq="1D")``, computed by the engine over a whole archive instead of a loaded frame. Each
lives in its own module with its SQL for both dialects (``pik_nb.sql.lateness``,
``pik_nb.sql.duplicates``, ``pik_nb.sql.gaps``); this module gathers them.

Each takes ``sql``, a function from a query to a DataFrame (``kit.sql``, or a DuckDB connection's
``lambda q: con.sql(q).df()``), and a ``where`` condition on the ``attempts`` view
(``pik_nb.sql.queries.scope(...)`` builds one that prunes partitions). The SQL is written in the
dialect of the engine ``sql`` runs on (``pik_nb.sql.dialect.of(sql)``: Athena's for a ``kit.sql``
on a stack deployed with it); ``dialect=`` overrides, e.g. for ``lambda q: kit.sql(q, engine="athena")``.
Each result carries the provenance of the frame ``sql`` answered (``kit.sql``'s: the stack, the query,
when) plus the analysis's name (``attrs["pik"]["analysis"]``: ``"sql.lateness"``,
``"sql.duplicates_per_source"``, ``"sql.gaps_daily"``), which is also its kind in ``pik_nb.schemas``.

    >>> from pik_nb.sql import analyses
    >>> analyses.lateness(kit.sql, by="source", where=scope(start="2026-11-01", end="2026-12-01"))
"""

from __future__ import annotations

from .dialect import Sql
from .duplicates import duplicates_per_source
from .gaps import gaps_daily
from .lateness import lateness

__all__ = ["lateness", "duplicates_per_source", "gaps_daily", "Sql"]
