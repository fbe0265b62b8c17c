"""Every query pik can send to Athena, and every Athena example in the docs, is Trino SQL: it parses
with sqlglot's ``athena`` dialect and calls only Trino functions (issue 18, finding 7). moto runs no
SQL, so this is the check that stands in for Athena's parser."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlglot
from sqlglot.tokens import TokenType

from pik_nb.sql import analyses, dashboard, dialect, queries

DOCS = Path(__file__).resolve().parents[2] / "docs"
#: Trino functions pik's SQL and docs may call (trino.io/docs/current/functions/list.html).
TRINO_FUNCTIONS = {
    "count",
    "sum",
    "max",
    "min",
    "avg",
    "coalesce",
    "floor",
    "ceil",
    "date_diff",
    "row_number",
    "lag",
    "sequence",
    "unnest",
    "cast",
    "json_extract_scalar",
    "approx_percentile",
    "date_trunc",
    "lower",
    "upper",
    "length",
    "abs",
    "round",
    "greatest",
    "least",
    "count_if",
    "nullif",
}
NOT_TRINO = {"quantile_cont", "generate_series", "json_extract_string", "median", "list", "epoch_ms"}
ATHENA = dialect.of("athena")
WINDOW = queries.scope(start="2026-11-01", end="2026-12-01")


def pik_queries() -> dict[str, str]:
    """Every query text the kit sends to Athena: searches and the analyses, in Athena's dialect."""
    sent: dict[str, str] = {}

    def capture(name):
        def sql(query: str):
            sent[name] = query
            raise LookupError  # the text is all we need

        return sql

    for name, run in {
        "lateness by source": lambda s: analyses.lateness(s, by="source", where=WINDOW, dialect="athena"),
        "lateness by stream": lambda s: analyses.lateness(
            s, by=["source", "event_type"], where=WINDOW, dialect="athena"
        ),
        "duplicates per source": lambda s: analyses.duplicates_per_source(s, where=WINDOW),
        "gaps daily": lambda s: analyses.gaps_daily(s, where=WINDOW, dialect="athena"),
    }.items():
        with pytest.raises(LookupError):
            run(capture(name))
    sent["search without a stream"] = queries.search(None, None, "2026-11-20", "2026-11-27", None, 10)
    sent["search in a stream"] = queries.search(
        "checkout", "order_placed", "2026-11-20", "2026-11-27", "amount > 100 AND country = 'DE'", 5
    )
    for freq, field in (("1D", None), ("1h", "amount")):
        sent[f"dashboard cells {freq}"] = dashboard.cells(
            "checkout", "order_placed", None, "2026-11-20", "2026-11-27", field=field, freq=freq
        )
        sent[f"dashboard arrivals {freq}"] = dashboard.arrivals(
            None, None, "c-1", "2026-11-20", "2026-11-27", field=field, freq=freq
        )
    sent["dashboard selected"] = dashboard.selected(WINDOW, "amount")
    sent["streams (pik status)"] = queries.streams()
    return sent


def doc_examples() -> dict[str, str]:
    """The SQL the docs run on Athena: ```sql blocks, ``pik sql``/``kit.sql`` strings, search conditions."""
    found = {}
    for page in ("scale.md", "pik_nb.md", "deploy.md"):
        text = (DOCS / page).read_text()
        for i, block in enumerate(re.findall(r"```sql\n(.*?)```", text, re.S)):
            found[f"{page} sql block {i}"] = block
        for i, query in enumerate(re.findall(r'(?:pik sql(?: --stack \S+)?|kit\.sql\() ?"([^"]+)"', text)):
            found[f"{page} sql {i}"] = query
        for i, where in enumerate(re.findall(r'pik search --stack .*?--where "([^"]+)"', text)):
            found[f"{page} search {i}"] = queries.search(
                "checkout", "order_placed", "2026-11-20", "2026-11-27", where, None
            )
    return found


def functions(query: str) -> set[str]:
    """Names called in ``query`` (a name followed by '(' that is no alias nor SQL keyword)."""
    tokens = sqlglot.tokenize(query, read="athena")
    called = set()
    for before, token, after in zip(
        [None, *tokens], tokens, tokens[1:], strict=False
    ):  # the last token has no successor
        if after.token_type != TokenType.L_PAREN or (before and before.token_type == TokenType.ALIAS):
            continue
        if token.token_type == TokenType.VAR or token.text.lower() in TRINO_FUNCTIONS | NOT_TRINO:
            called.add(token.text.lower())
    return called


QUERIES = {**pik_queries(), **doc_examples()}


def test_the_enumeration_finds_every_kind_of_query():
    assert {"lateness by source", "gaps daily", "search without a stream"} <= set(QUERIES)
    assert sum(name.startswith("scale.md") for name in QUERIES) >= 3


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_every_athena_query_is_trino_sql(name):
    query = QUERIES[name]
    sqlglot.parse_one(query, read="athena")  # raises on anything Athena's parser would refuse
    assert functions(query) <= TRINO_FUNCTIONS, (name, functions(query) - TRINO_FUNCTIONS)
    assert not re.search(r"GROUP\s+BY\s+ALL|ORDER\s+BY\s+ALL", query, re.I), name


def test_the_dialect_follows_the_engine_kit_sql_runs_on():
    class Kit:
        sql_engine = "athena"

        def sql(self, query):
            return query

    assert dialect.of(Kit().sql) is dialect.ATHENA and dialect.of(lambda q: q) is dialect.DUCKDB
    assert "quantile_cont" in queries.lateness(dialect=dialect.of("duckdb"))
    assert functions(queries.lateness(dialect=dialect.of(Kit().sql))) <= TRINO_FUNCTIONS
