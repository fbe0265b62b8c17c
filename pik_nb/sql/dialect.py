"""The few things DuckDB SQL and Athena (Trino) SQL spell differently, in one place.

Write a query once in the SQL both engines share (``SELECT … FROM … WHERE … GROUP BY <columns>``,
``CASE``, ``CAST``, window functions, ``date_diff('day', …)``, ``coalesce``, ``floor``/``ceil``) and
ask a ``Dialect`` for the rest. Never ``GROUP BY ALL``, ``quantile_cont``, ``generate_series`` or
``json_extract_string`` in shared SQL: Athena has none of them.

    >>> from pik_nb.sql import dialect
    >>> athena = dialect.of("athena")
    >>> athena.series("0", "n"), athena.json_text("payload", "$.country")
    ('sequence(0, n)', "json_extract_scalar(payload, '$.country')")
    >>> dialect.of("duckdb").series("0", "n")
    'generate_series(0, n)'
    >>> dialect.of(kit.sql).name              # the engine kit.sql runs on      # doctest: +SKIP
    'athena'

``of`` takes an engine name, a ``Dialect``, or a ``kit.sql`` (its kit's engine); anything else
(a DuckDB connection's ``lambda q: run(con, q)``) is DuckDB. ``sqlglot`` names the dialects
``duckdb`` and ``athena`` too (``Dialect.name``), which is how the tests parse every query.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

ENGINES = ("duckdb", "athena")
#: What an analysis asks its SQL through: a query in, a DataFrame out (``kit.sql``, or a DuckDB
#: connection's ``lambda q: run(con, q)``); ``of(sql)`` tells the dialect to write it in.
Sql = Callable[[str], "pd.DataFrame"]


@dataclass(frozen=True)
class Dialect:
    """One engine's spelling of the parts that differ."""

    name: str

    @property
    def exact_percentile(self) -> bool:
        """Whether ``quantile_cont`` exists (DuckDB); Athena only has ``approx_percentile``."""
        return self.name == "duckdb"

    def series(self, low: str, high: str) -> str:
        """An inclusive integer series as an array, for ``CROSS JOIN UNNEST(...) AS t(k)``."""
        return f"{'generate_series' if self.name == 'duckdb' else 'sequence'}({low}, {high})"

    def json_text(self, column: str, path: str) -> str:
        """The scalar at JSON ``path`` of a JSON text ``column``, as text (NULL when absent)."""
        function = "json_extract_string" if self.name == "duckdb" else "json_extract_scalar"
        return f"{function}({column}, '{path}')"


DUCKDB, ATHENA = Dialect("duckdb"), Dialect("athena")


def of(engine: Any = None) -> Dialect:
    """The dialect of ``engine``: ``"duckdb"``/``"athena"``, a ``Dialect``, or ``kit.sql``.

    >>> of("athena") is ATHENA, of(None) is DUCKDB
    (True, True)
    """
    if isinstance(engine, Dialect):
        return engine
    if engine is None or engine == "duckdb":
        return DUCKDB
    if engine == "athena":
        return ATHENA
    if isinstance(engine, str):
        raise ValueError(f"dialect must be one of {ENGINES}, not {engine!r}")
    owner = getattr(engine, "__self__", None)  # a bound kit.sql: the engine its kit runs on
    return of(getattr(owner, "sql_engine", None))
