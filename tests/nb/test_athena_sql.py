"""Every query pik can send to Athena, and every Athena example in the docs, is Trino SQL: it parses
with sqlglot's ``athena`` dialect and calls only Trino functions (issue 18, finding 7). moto runs no
SQL, so this is the check that stands in for Athena's parser. The docs' examples are found on every
page, in python blocks by ``ast`` and in shell blocks by ``shlex`` and pik's own option parser, and
counted: an example the enumeration stops seeing fails the count."""

from __future__ import annotations

import ast
import itertools
import re
import shlex
import textwrap
from collections import Counter
from pathlib import Path

import pytest
import sqlglot
from sqlglot.errors import OptimizeError
from sqlglot.optimizer.qualify import qualify
from sqlglot.tokens import TokenType

from pik_local import template
from pik_nb.sql import analyses, catalog, dashboard, dialect, engine, lateness, queries, streams

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
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
    for freq, field in (("1D", None), ("1h", "amount")):  # in Athena's dialect, as kit.explain_dashboard asks
        sent[f"dashboard cells {freq}"] = dashboard.cells(
            "checkout", "order_placed", None, "2026-11-20", "2026-11-27", field=field, freq=freq, dialect=ATHENA
        )
        sent[f"dashboard arrivals {freq}"] = dashboard.arrivals(
            None, None, "c-1", "2026-11-20", "2026-11-27", field=field, freq=freq, dialect=ATHENA
        )
    sent["dashboard selected"] = dashboard.selected(WINDOW, "amount", ATHENA)
    sent["streams (pik status)"] = streams.query()
    return sent


#: Every SQL example the docs show, per page and kind: a dropped example (a regex that stops seeing a
#: reformatted call, a renamed page) fails ``test_the_enumeration_finds_every_doc_example``.
DOC_EXAMPLES = {
    ("docs/pik_nb.md", "kit.sql"): 4,
    ("docs/pik_nb.md", "kit.search"): 1,
    ("docs/scale.md", "kit.search"): 1,
    ("docs/scale.md", "sql block"): 1,
    ("docs/scale.md", "pik sql"): 3,
    ("docs/scale.md", "pik search"): 3,
}
#: What a doc's search leaves to a variable (``start=day``, ``--source "$SOURCE"``) is asked with these.
STAND_IN = {"source": "checkout", "event_type": "order_placed", "start": "2026-11-20", "end": "2026-11-27"}
SHELL_STOPS = {"|", "||", "&&", ";", "&", ">", ">>", "<", "(", ")"}


def doc_pages() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """``(language, code)`` of each fenced block of a Markdown page, indented ones (in a list) too."""
    found = re.finditer(r"^( *)```(\w*)\n(.*?)^\1```", text, re.M | re.S)
    return [(m.group(2), textwrap.dedent(m.group(3))) for m in found]


def searched(**given: object) -> str:
    """The query ``kit.search``/``pik search`` sends for a doc's arguments (stand-ins for variables)."""
    scope = {
        name: value if isinstance(value, str) and "$" not in value else STAND_IN[name]
        for name, value in ((name, given.get(name)) for name in STAND_IN)
    }
    limit = given.get("limit")
    return queries.search(**scope, where=given.get("where"), limit=limit if isinstance(limit, int) else None)


def python_examples(code: str) -> list[tuple[str, str]]:
    """``("kit.sql", query)`` for each ``kit.sql("...")`` call of a python block, ``("kit.search", query)``
    for each ``kit.search(...)``, however the call is laid out (the formatter splits long ones)."""
    tree = ast.parse("\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!"))))
    found = []
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "kit"
            and node.func.attr in ("sql", "search")
        ):
            continue
        constants = {k.arg: k.value.value for k in node.keywords if isinstance(k.value, ast.Constant)}
        where = (node.lineno, node.col_offset)
        if node.func.attr == "search":
            found.append((where, "kit.search", searched(**constants)))
            continue
        query = node.args[0] if node.args else None
        assert isinstance(query, ast.Constant) and isinstance(query.value, str), (
            f"kit.sql(...) at line {node.lineno} does not show its query as one string: {ast.unparse(node)}"
        )
        found.append((where, "kit.sql", query.value))
    return [(kind, query) for _, kind, query in sorted(found)]  # in the order the block shows them


def shell_commands(code: str) -> list[list[str]]:
    """The words of each command line of a shell block, as the shell splits them: a line continued
    by a backslash, or by a quoted string that spans lines, is one command."""
    commands, pending = [], ""
    for line in code.replace("\\\n", " ").splitlines():
        pending += line
        lexer = shlex.shlex(pending, posix=True, punctuation_chars=True)
        lexer.whitespace_split, lexer.commenters = True, "#"
        try:
            commands.append(list(lexer))
        except ValueError:  # "No closing quotation": the string goes on on the next line
            pending += "\n"
            continue
        pending = ""
    assert pending == "", f"a shell block ends inside a quoted string: {pending!r}"
    return commands


def shell_examples(code: str) -> list[tuple[str, str]]:
    """``("pik sql", query)`` and ``("pik search", query)`` for each command of a shell block, its
    arguments split as the shell does (shlex) and read by the command's own click parser."""
    from pik_cli import cli

    found = []
    for words in shell_commands(code):
        for i, word in enumerate(words[:-1]):
            if word.rsplit("/", 1)[-1] != "pik" or words[i + 1] not in ("sql", "search"):
                continue
            args = list(itertools.takewhile(lambda w: w not in SHELL_STOPS, words[i + 2 :]))
            command = words[i + 1]
            params = cli.commands[command].make_context(command, args, resilient_parsing=True).params
            found.append(("pik sql", params["query"]) if command == "sql" else ("pik search", searched(**params)))
    return found


def doc_examples() -> dict[str, str]:
    """The SQL the docs show, every page: ```sql blocks, ``kit.sql``/``kit.search`` calls of python
    blocks (read with ``ast``) and ``pik sql``/``pik search`` commands of shell blocks (``shlex``)."""
    found = {}
    for path in doc_pages():
        page = path.relative_to(ROOT).as_posix()
        kinds: dict[str, int] = {}
        for language, code in fenced_blocks(path.read_text()):
            if language == "sql":
                examples = [("sql block", code)]
            elif language == "python":
                examples = python_examples(code)
            elif language in ("bash", "sh", "shell", "console"):
                examples = shell_examples(code)
            else:
                continue
            for kind, query in examples:
                found[f"{page} {kind} {kinds.setdefault(kind, 0)}"] = query
                kinds[kind] += 1
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


def test_the_enumeration_finds_every_doc_example():
    found = Counter(tuple(name.rsplit(" ", 1)[0].split(" ", 1)) for name in doc_examples())
    assert dict(found) == DOC_EXAMPLES


def test_the_enumeration_reads_calls_however_they_are_laid_out():
    """What the formatter does to a long call (one argument a line, a trailing comma, a line
    continuation in a shell block) changes nothing the enumeration finds."""
    one_line = python_examples('late = kit.sql("SELECT 1 FROM attempts", arrow=True)')
    split = python_examples('late = kit.sql(\n    "SELECT 1 "\n    "FROM attempts",\n    arrow=True,\n)\n')
    assert one_line == split == [("kit.sql", "SELECT 1 FROM attempts")]
    hits = python_examples('hits = kit.search(\n    source="web",\n    start=day,\n    where="amount > 2",\n)')
    assert hits == [("kit.search", searched(source="web", where="amount > 2"))]
    assert "source = 'web'" in hits[0][1] and "event_date >= '2026-11-20'" in hits[0][1]
    shell = (
        'pik sql --stack p \\\n  "SELECT 2\nFROM events" | head  # a comment\n'
        '.venv/bin/pik search --where "x > 1" --limit 3'
    )
    assert shell_examples(shell) == [
        ("pik sql", "SELECT 2\nFROM events"),
        ("pik search", searched(where="x > 1", limit=3)),
    ]
    with pytest.raises(AssertionError, match="does not show its query as one string"):
        python_examples("kit.sql(query)")


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
    assert "quantile_cont" in lateness.query(dialect=dialect.of("duckdb"))
    assert functions(lateness.query(dialect=dialect.of(Kit().sql))) <= TRINO_FUNCTIONS


# --- every table and column an Athena query names exists in the Glue catalog (issue 18, findings 6-7) --
#: Queries whose condition is the user's own text (``where=``): checked with the columns the docs tell a
#: user to add before naming payload fields on Athena.
USER_CONDITIONS = {"search in a stream"}


def glue_tables() -> dict[str, dict[str, str]]:
    """The tables and columns Athena has: the template's Glue tables (columns and partition keys)."""
    resources = template.load()["Resources"]
    tables = {}
    for logical in ("RawEventsTable", "CuratedAttemptsTable", "CuratedEventsTable"):
        spec = resources[logical]["Properties"]["TableInput"]
        declared = spec["StorageDescriptor"]["Columns"] + spec["PartitionKeys"]
        tables[spec["Name"]] = {column["Name"]: column["Type"] for column in declared}
    return tables


def documented_columns() -> dict[str, str]:
    """The payload columns docs/scale.md tells a user to add to Athena's ``events`` (ALTER TABLE ... ADD COLUMNS)."""
    [added] = re.findall(r"ALTER TABLE events ADD COLUMNS \(([^)]*)\)", (DOCS / "scale.md").read_text())
    return dict(column.split() for column in added.split(", "))


def unresolved(query: str, tables: dict[str, dict[str, str]]) -> str | None:
    """Why Athena would refuse ``query``'s names (an unknown table or column), or None."""
    tree = sqlglot.parse_one(query, read="athena")
    ctes = {cte.alias_or_name for cte in tree.find_all(sqlglot.exp.CTE)}
    unknown = sorted({t.name for t in tree.find_all(sqlglot.exp.Table) if t.name} - ctes - set(tables))
    if unknown:  # qualify resolves columns only: a table it does not know is left as it is
        return f"Table {', '.join(unknown)} does not exist"
    try:
        qualify(tree, schema=tables, dialect="athena", validate_qualify_columns=True)
    except OptimizeError as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_every_athena_query_names_only_tables_and_columns_athena_has(name):
    """Athena's ``events`` declares the common columns and ``payload``, not the typed payload columns
    DuckDB's view has, and has no ``aggregates`` or ``replays`` (DynamoDB tables): pik's own queries use
    only what the Glue tables declare; a doc example may name the payload columns the docs say to add."""
    query, tables = QUERIES[name], glue_tables()
    if engine.named_views(query) - set(engine.ATHENA_VIEWS):
        assert engine.engine_of(None, None, query) == "duckdb"  # kit.sql sends it to DuckDB on any stack
        return
    if name in USER_CONDITIONS or name.startswith(("docs/", "README")):
        tables = {**tables, "events": {**tables["events"], **documented_columns()}}
    assert unresolved(query, tables) is None, (name, unresolved(query, tables))
    assert catalog.unresolved(query, tables.get) == []  # so the kit's own check sends it to Athena


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_the_kit_refuses_exactly_what_the_catalog_lacks(name):
    """``pik_nb.sql.catalog`` (the check before a query goes to Athena) agrees with sqlglot's ``qualify``
    on every pik query and doc example, against the template's Glue tables as deployed: the doc searches
    naming ``amount``/``country`` are refused (before their ALTER TABLE), everything else is sent."""
    query, tables = QUERIES[name], glue_tables()
    if engine.named_views(query) - set(engine.ATHENA_VIEWS):
        return  # DuckDB's
    refused = catalog.unresolved(query, tables.get)
    assert bool(refused) == (unresolved(query, tables) is not None), (name, refused)
    assert {column for column, _ in refused} <= set(documented_columns()), (name, refused)


def test_the_kit_resolves_names_through_the_scopes_athena_has():
    """Joins, CTEs, UNNEST aliases and subqueries: a name is refused only where Athena would not find it;
    a source whose columns the check cannot see (a ``*`` subquery, another database) is left to Athena."""
    tables = glue_tables()
    cases = {
        "SELECT e.amount FROM events e JOIN attempts a ON a.event_id = e.event_id": [("amount", ("events",))],
        "SELECT amount FROM attempts a JOIN events e ON a.event_id = e.event_id": [("amount", ("attempts", "events"))],
        "WITH x AS (SELECT event_id, Country FROM events) SELECT x.event_id FROM x": [("country", ("events",))],
        "SELECT d, source FROM events CROSS JOIN UNNEST(sequence(0, 3)) AS t(d)": [],
        "SELECT json_extract_scalar(payload, '$.amount') AS amount FROM events ORDER BY amount": [],
        "SELECT source, count(*) AS n FROM events GROUP BY source ORDER BY n DESC": [],
        "SELECT * FROM events e WHERE EXISTS (SELECT 1 FROM attempts a WHERE a.event_id = e.event_id "
        "AND payload IS NOT NULL)": [],  # the outer query's payload
        "SELECT * FROM events WHERE event_id IN (SELECT event_id FROM attempts WHERE amount > 1)": [
            ("amount", ("attempts",))
        ],
        "SELECT * FROM (SELECT * FROM events) s WHERE amount > 1": [],
        "SELECT * FROM other_db.events WHERE amount > 1": [],
        "SELECT r.event.payload, envelope.event_id FROM raw_events r WHERE source = 'a'": [],  # struct fields
        "SELECT event_id FROM raw_events WHERE source = 'a'": [("event_id", ("raw_events",))],
        "SELEC amount": [],  # sqlglot cannot parse it: Athena's parser answers
    }
    assert {query: catalog.unresolved(query, tables.get) for query in cases} == cases


def test_the_name_check_sees_a_column_athena_lacks():
    """The check above can fail: the dashboard's DuckDB spelling of a summed field names the typed column."""
    duckdb_spelling = dashboard.selected(WINDOW, "amount")
    assert "Column 'amount' could not be resolved" in unresolved(duckdb_spelling, glue_tables())
    assert unresolved(dashboard.selected(WINDOW, "amount", ATHENA), glue_tables()) is None
    assert unresolved("SELECT * FROM replays", glue_tables()) == "Table replays does not exist"
