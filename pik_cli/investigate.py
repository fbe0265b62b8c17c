"""``pik explain``, ``pik replay``, ``pik reconcile``, ``pik status``: thin skins over ``pik_nb``.

Every command talks to the local stack by default (``.pik/local.json``), or to a deployed stack
with ``--stack NAME`` (``--profile``/``--region`` choose the AWS credentials). Library errors
become one-line CLI errors, never tracebacks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from ._common import ISO_TIME, check_scope, connection, echo_json
from .replay_options import next_step, parse_target, show_step, target_options


@click.command()
@click.argument("event_id")
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON.")
@connection
def explain(kit, event_id: str, as_json: bool) -> None:
    """Everything about one event: attempts, lag, raw bytes and hash, dedup, replays, aggregate versions.

    \b
    Example:
      pik explain 3f2a9c...e1 --json | jq '.attempts[].status'
    """
    explained = kit.explain(event_id)
    echo_json(explained.to_dict()) if as_json else click.echo(str(explained))


@click.command()
@click.option("--entity", "entity_id", default=None, help="Replay one entity ...")
@click.option("--source", default=None, help="... or a source (with --event-type).")
@click.option("--event-type", default=None, help="Event type, with --source.")
@click.option("--start", default=None, type=ISO_TIME, help="Window start: a date (UTC midnight) or a time with offset.")
@click.option("--end", default=None, type=ISO_TIME, help="Window end (exclusive), same forms.")
@click.option("--limit", type=int, default=None, help="At most this many events.")
@click.option("--include-duplicates", is_flag=True, help="Also re-send DUPLICATE attempts.")
@click.option("--client-token", default=None, help="Idempotency token: repeating it never enqueues twice.")
@click.option("--execute", is_flag=True, help="Really enqueue; without it this is a dry run.")
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON.")
@target_options
@connection(check=lambda entity_id, source, event_type, start, end, event_ids, statuses, dead_letters, **_: _check(
    entity_id, source, event_type, start, end, event_ids, statuses, dead_letters))
def replay(kit, entity_id: str | None, source: str | None, event_type: str | None, start: datetime | None,
           end: datetime | None, limit: int | None, include_duplicates: bool, client_token: str | None, execute: bool,
           as_json: bool, target: str | None, fifo_group_id: str | None, envelope: bool, rate_per_second: float | None,
           event_ids: list[str] | None, dead_letters: bool, statuses: tuple[str, ...]) -> None:
    """Replay a scope (or --ids) through POST /replay: a dry run (counts by day) unless --execute.

    \b
    Example:
      pik replay --entity customer-42 --start 2026-11-20 --end 2026-11-21
      pik replay --entity customer-42 --start 2026-11-20 --end 2026-11-21 --execute --client-token inc-7
      pik replay --ids ids.txt --target sqs=https://sqs.eu-west-1.amazonaws.com/1111/orders --rate 50 --execute
      pik replay --status REJECTED --start 2026-11-20 --end 2026-11-21 --execute   # repair after a contract fix
      pik replay --dead-letters --execute                                           # redrive the DLQ, recorded
    """
    run = kit.replay(entity_id=entity_id, source=source, event_type=event_type, start=start, end=end, limit=limit,
                     include_duplicates=include_duplicates, dry_run=not execute, client_token=client_token,
                     target=parse_target(target, fifo_group_id, envelope), rate_per_second=rate_per_second,
                     event_ids=event_ids, statuses=list(statuses) or None, dead_letters=dead_letters,
                     on_step=show_step)
    if as_json:
        echo_json(run)
        return
    mode = "DRY RUN (nothing sent; add --execute)" if run["dry_run"] else "EXECUTED"
    click.echo(f"{run['replay_id']}  {mode}  {run['status']}  -> {run['target']}")
    click.echo(f"scanned {run['scanned']}  matched {run['matched']}  sent {run['sent']}  failed {run.get('failed') or 0}"
               f"  retried {run.get('retried') or 0}")
    if run.get("last_error"):
        click.echo(f"last target error: {run['last_error']}")
    for day, count in (run.get("by_day") or {}).items():
        click.echo(f"  {day}  {count}")
    if not run["matched"]:
        if dead_letters:
            click.echo("nothing matched: the replay queue's DLQ holds no replay messages")
        elif statuses:
            click.echo(f"nothing matched: no {'/'.join(statuses)} attempts in the window")
        elif event_ids:
            click.echo("nothing matched: none of the listed event ids is a known ACCEPTED event (in the window)")
        else:
            scope = f"entity {entity_id}" if entity_id else f"{source}/{event_type}"
            click.echo(f"nothing matched: no ACCEPTED events of {scope} with event times in [{start.isoformat()}, "
                       f"{end.isoformat()}). Check the id and the window (`pik_nb`: kit.events(...)).")
    if next_step(run, client_token):
        click.echo(next_step(run, client_token))
    elif run.get("continuation"):  # a dry run bounded by --limit
        click.echo("stopped at --limit: the counts cover the first events of the scope")


def _check(entity_id: str | None, source: str | None, event_type: str | None, start: datetime | None,
           end: datetime | None, event_ids: list[str] | None, statuses: tuple[str, ...] = (), dead_letters: bool = False) -> None:
    if dead_letters:
        if entity_id or source or event_type or event_ids or statuses or start or end:
            raise click.UsageError("--dead-letters redrives the DLQ as it stands: no scope, --ids, --status or window")
    elif tuple(statuses) == ("REJECTED",):
        if entity_id or source or event_type or event_ids or start is None or end is None:
            raise click.UsageError("--status REJECTED re-submits a window's quarantined requests: give --start and "
                                   "--end only")
    elif event_ids is None:
        check_scope(entity_id, source, event_type)
        if start is None or end is None:
            raise click.UsageError("give --start and --end (or --ids FILE)")
    elif entity_id or source or event_type:
        raise click.UsageError("give --ids, or a scope (--entity / --source with --event-type), not both")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@connection
def reconcile(kit, as_json: bool) -> None:
    """Raw objects without metadata and metadata without raw; exit status 1 when any is found.

    \b
    Example:
      pik reconcile --stack pik-prod --profile oncall
    """
    found = kit.reconcile()
    if as_json:
        echo_json(found.to_dict(orient="records"))
    elif found.empty:
        click.echo("consistent: every raw object has metadata and every event's raw object exists")
    else:
        for row in found.itertuples():
            click.echo(f"{row.problem}: {row.s3_key}")
    if not found.empty:
        raise click.exceptions.Exit(1)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@connection
def status(kit, as_json: bool) -> None:
    """Where pik points, replay queue depths and the latest replay run.

    \b
    Example:
      pik status --json | jq .queues
    """
    info = kit.status()
    if as_json:
        echo_json(info)
        return
    latest = info["latest_replay"]
    rows = [("endpoint", info["endpoint"]),
            *((name, value) for name, value in info["resources"].items() if value and name != "extra"),
            *((name, f"{depth['visible']} waiting, {depth['in_flight']} in flight") for name, depth in info["queues"].items()),
            ("replay runs", str(info["replay_runs"])),
            ("latest replay", f"{latest['replay_id']} ({latest['status']})" if latest else "none")]
    click.echo(columns(rows))


def columns(rows: list[tuple[str, Any]]) -> str:
    """Key/value lines with the values aligned: ``columns([("a", 1), ("long", 2)]) == "a     1\nlong  2"``."""
    width = max(len(key) for key, _ in rows)
    return "\n".join(f"{key:<{width}}  {value}" for key, value in rows)
