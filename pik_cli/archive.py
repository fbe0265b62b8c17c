"""``pik compact``, ``pik search``, ``pik sql``: the curated archive from the shell (skins over
``kit.compact``, ``kit.search`` and ``kit.sql``)."""

from __future__ import annotations

import sys
from datetime import datetime

import click

from ._common import ISO_TIME, connection, echo_json, json_option

FORMATS = ("table", "csv", "jsonl", "ids")


def _check_range(
    source: str | None,
    event_type: str | None,
    start: datetime | None,
    end: datetime | None,
    everything: bool,
    **_: object,
) -> None:
    given = [v is not None for v in (source, event_type, start, end)]
    if any(given) and not all(given):
        raise click.UsageError("a range needs --source, --event-type, --start and --end together")
    if everything and any(given):
        raise click.UsageError("give --all or a range, not both")


@click.command("compact")
@click.option("--source", default=None, help="Compact this source's partitions (with --event-type, --start, --end).")
@click.option("--event-type", default=None, help="Event type of the range.")
@click.option("--start", type=ISO_TIME, default=None, help="First day of the range (event time).")
@click.option("--end", type=ISO_TIME, default=None, help="End of the range (exclusive).")
@click.option("--all", "everything", is_flag=True, help="Every partition that has attempts (idempotent).")
@click.option(
    "--settle",
    default="60s",
    show_default=True,
    help="The watermark stays this far behind now (writes in flight land before it).",
)
@json_option("the counts and the watermark")
@connection(check=_check_range)
def compact(
    kit,
    source: str | None,
    event_type: str | None,
    start: datetime | None,
    end: datetime | None,
    everything: bool,
    settle: str,
    as_json: bool,
) -> None:
    """Compact raw events and attempts into Parquet under curated/ (what the scheduled Lambda does).

    Without options: the partitions attempts were recorded in since the watermark; a re-run writes
    nothing. One run at a time: while another holds the compaction lease, it says so and stops.

    \b
    Example:
      pik compact
      pik compact --source checkout --event-type order_placed --start 2026-11-20 --end 2026-11-27
    """
    result = kit.compact(
        source=source, event_type=event_type, start=start, end=end, everything=everything, settle=settle
    )
    if as_json:
        return echo_json(result)
    from pik_nb._format import counted

    click.echo(
        f"{counted(result['partitions'], 'partition')}: {result['written']:,} written, {result['unchanged']:,} "
        f"unchanged; {counted(result['attempts'], 'attempt')}, {counted(result['events'], 'event')}; "
        f"watermark {result['watermark']}"
        + (f"; {counted(result['orphans'], 'orphan part')} collected" if result.get("orphans") else "")
    )


def _echo(frame, output: str, as_json: bool = False) -> None:
    if as_json:
        echo_json(frame)
    elif output == "ids":
        click.echo("\n".join(frame["event_id"].astype(str)))
    elif output == "csv":
        frame.to_csv(sys.stdout, index=False)
    elif output == "jsonl":
        for record in frame.to_json(orient="records", lines=True, date_format="iso").splitlines():
            click.echo(record)
    else:  # as a person reads it (pik_nb's one formatting helper): lags as durations, shares as percentages
        import pandas as pd

        from pik_nb._format import readable

        with pd.option_context("display.max_rows", 200, "display.max_columns", 20, "display.width", 160):
            click.echo(readable(frame).to_string(index=False, max_colwidth=40) if len(frame) else "(no rows)")


@click.command("search")
@click.option("--source", default=None, help="Source of the events.")
@click.option("--event-type", default=None, help="Event type of the events.")
@click.option("--start", type=ISO_TIME, required=True, help="Event time from (a date is UTC midnight).")
@click.option("--end", type=ISO_TIME, required=True, help="Event time until (exclusive).")
@click.option("--where", default=None, help="SQL over payload columns, e.g. \"amount > 100 AND country = 'DE'\".")
@click.option("--limit", type=int, default=None, help="At most this many events.")
@click.option(
    "--format",
    "output",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="ids: one event id a line (for a replay).",
)
@click.option(
    "--engine", type=click.Choice(["duckdb", "athena"]), default=None, help="[default: athena if deployed with it]"
)
@json_option("the events (an array of row objects)")
@connection
def search(
    kit,
    source: str | None,
    event_type: str | None,
    start: datetime,
    end: datetime,
    where: str | None,
    limit: int | None,
    output: str,
    engine: str | None,
    as_json: bool,
) -> None:
    """Find events by payload: one row per matching ACCEPTED event with its event id and raw key.

    \b
    Example:
      pik search --source checkout --event-type order_placed --start 2026-11-20 --end 2026-11-27 \\
                 --where "amount > 10000 AND country = 'DE'" --format ids
    """
    _echo(
        kit.search(source=source, event_type=event_type, start=start, end=end, where=where, limit=limit, engine=engine),
        output,
        as_json,
    )


@click.command("sql", context_settings={"ignore_unknown_options": True})  # "-- a comment" is a query
@click.argument("query")
@click.option("--format", "output", type=click.Choice(FORMATS[:3]), default="table", show_default=True)
@click.option(
    "--engine", type=click.Choice(["duckdb", "athena"]), default=None, help="[default: athena if deployed with it]"
)
@click.option("--no-fresh", is_flag=True, help="Only compacted rows (skip the rows past the watermark).")
@click.option(
    "--unconfined",
    is_flag=True,
    help="Allow any statement and file/network access (DuckDB); by default one read-only SELECT.",
)
@json_option("the rows (an array of row objects)")
@connection
def sql(kit, query: str, output: str, engine: str | None, no_fresh: bool, unconfined: bool, as_json: bool) -> None:
    """SQL over the views attempts, events, aggregates and replays.

    \b
    Example:
      pik sql "SELECT source, count(*) AS late FROM attempts WHERE ingest_lag_ms > 3600000 GROUP BY source"
    """
    _echo(kit.sql(query, fresh=not no_fresh, engine=engine, confined=not unconfined), output, as_json)


__all__ = ["compact", "search", "sql"]
