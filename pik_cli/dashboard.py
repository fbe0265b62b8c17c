"""``pik explain-dashboard``: a thin skin over ``kit.explain_dashboard``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ._common import connection, echo_json


def _check(
    source: str | None, event_type: str | None, entity_id: str | None, metric: str, field: str | None, **_: object
) -> None:
    if not entity_id and not (source and event_type):
        raise click.UsageError("give --source with --event-type (and --entity for one entity), or --entity")
    if metric == "sum" and not field:
        raise click.UsageError("--metric sum needs --field (the payload field the dashboard sums)")


@click.command("explain-dashboard")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--source", default=None, help="The stream the dashboard counts (with --event-type).")
@click.option("--event-type", default=None, help="Event type, with --source.")
@click.option("--entity", "entity_id", default=None, help="One entity (a per-entity dashboard's row, or its scope).")
@click.option(
    "--metric",
    type=click.Choice(["count", "sum"]),
    default="count",
    show_default=True,
    help="What the dashboard shows: events counted, or a payload field summed.",
)
@click.option("--field", default=None, help="The payload field --metric sum adds up.")
@click.option("--freq", default="1D", show_default=True, help="Window length: 1D or 1h.")
@click.option(
    "--engine",
    type=click.Choice(["duckdb", "athena"]),
    default=None,
    help="SQL engine [default: Athena for a deployed stack with EnableAthena, else DuckDB].",
)
@click.option("--json", "as_json", is_flag=True, help="Print semantics, table and summary as JSON.")
@connection(check=_check)
def explain_dashboard(
    kit,
    file: Path,
    source: str | None,
    event_type: str | None,
    entity_id: str | None,
    metric: str,
    field: str | None,
    freq: str,
    engine: str | None,
    as_json: bool,
) -> None:
    """Why a dashboard's numbers (FILE: CSV or Parquet with window,value[,entity_id]) differ from the truth.

    Prints one row per window with the signed causes adding up to dashboard - truth, the semantics
    that reproduce the dashboard best, and sentences for the incident channel.

    \b
    Example:
      pik explain-dashboard .pik/demo-dashboard.csv --source checkout --event-type order_placed
      pik explain-dashboard revenue.csv --source checkout --event-type order_placed \\
          --metric sum --field amount
    """
    ex = kit.explain_dashboard(
        file,
        source=source,
        event_type=event_type,
        entity_id=entity_id,
        metric=metric,
        field=field,
        freq=freq,
        engine=engine,
    )
    if as_json:
        table = json.loads(ex.table.to_json(orient="records", date_format="iso"))
        echo_json({"semantics": ex.semantics.to_dict(), "table": table, "summary": ex.summary()})
        return
    click.echo(str(ex))
