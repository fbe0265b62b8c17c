"""``pik explain``, ``pik replay``, ``pik reconcile``, ``pik status``: thin skins over ``pik_nb``.

Every command talks to the local stack by default (``.pik/local.json``), or to a deployed stack
with ``--stack NAME`` (``--profile``/``--region`` choose the AWS credentials). Library errors
become one-line CLI errors, never tracebacks.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

import click

from pik.core.records import REJECTED
from pik.core.replay import parse_request

from ._common import ISO_TIME, check_scope, connection, echo_json
from .impact import impact_lines
from .replay_options import already_delivered, next_step, parse_target, refused, show_step, target_options


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


def _check_replay(
    entity_id: str | None,
    source: str | None,
    event_type: str | None,
    start: datetime | None,
    end: datetime | None,
    event_ids: list[str] | None,
    statuses: tuple[str, ...],
    dead_letters: bool,
    run_id: str | None,
    execute: bool,
    **rest: Any,
) -> None:
    """``pik replay``'s options together: ``--run`` (with ``--execute``) alone, else one scope."""
    if run_id:
        _check_run(
            run_id, execute, entity_id, source, event_type, start, end, event_ids, statuses, dead_letters, **rest
        )
    else:
        _check(entity_id, source, event_type, start, end, event_ids, statuses, dead_letters)


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
@click.option(
    "--run",
    "run_id",
    default=None,
    help="With --execute: execute this reviewed dry run (RP_ID), exactly its scope, once.",
)
@click.option("--yes", is_flag=True, help="Execute a scope already executed before (without --client-token).")
@click.option(
    "--resend",
    is_flag=True,
    help="Send an external target again the events it already got (default: skipped, and counted so).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON.")
@target_options
@connection(check=_check_replay)
def replay(
    kit,
    entity_id: str | None,
    source: str | None,
    event_type: str | None,
    start: datetime | None,
    end: datetime | None,
    limit: int | None,
    include_duplicates: bool,
    client_token: str | None,
    execute: bool,
    run_id: str | None,
    yes: bool,
    resend: bool,
    as_json: bool,
    target: str | None,
    fifo_group_id: str | None,
    envelope: str | None,
    rate_per_second: float | None,
    event_ids: list[str] | None,
    dead_letters: bool,
    statuses: tuple[str, ...],
) -> None:
    """Replay a scope (or --ids) through POST /replay: a dry run (counts by day) unless --execute.

    \b
    Example:
      pik replay --entity customer-42 --start 2026-11-20 --end 2026-11-21
      pik replay --entity customer-42 --start 2026-11-20 --end 2026-11-21 --execute --client-token inc-7
      pik replay --ids ids.txt --target sqs=https://sqs.eu-west-1.amazonaws.com/1111/orders --rate 50 --execute
      pik replay --ids ids.txt --target eventbridge=orders --envelope cloudevents --execute
      pik replay --status REJECTED --start 2026-11-20 --end 2026-11-21 --execute   # repair after a contract fix
      pik replay --dead-letters --execute                                           # redrive the DLQ, recorded
      pik replay --run rp-4c1d... --execute                  # execute the dry run you reviewed, exactly its scope
    """
    scope = dict(
        entity_id=entity_id,
        source=source,
        event_type=event_type,
        start=start,
        end=end,
        limit=limit,
        include_duplicates=include_duplicates,
        client_token=client_token,
        target=parse_target(target, fifo_group_id, envelope),
        envelope=envelope,
        rate_per_second=rate_per_second,
        event_ids=event_ids,
        statuses=list(statuses) or None,
        dead_letters=dead_letters,
        resend=resend,
    )
    if run_id:
        run = kit.replay(run=run_id, on_step=show_step)
    else:
        if execute and not (client_token or yes or dead_letters) and (scope["target"] is None or resend):
            _confirm_a_second_execution(kit, scope)  # an external target is sent only what it lacks, unless resend
        run = kit.replay(**scope, dry_run=not execute, on_step=show_step)
    if as_json:
        from pik_nb.read.impact import as_json as jsonable

        echo_json(jsonable(run))
        if refused(run):  # the exit code without --json too: the target refused every event
            raise click.exceptions.Exit(1)
        return
    _show_run(run, scope, client_token)


def _show_run(run: dict, scope: dict, client_token: str | None) -> None:
    """What a replay did, as ``pik replay`` prints it; exit 1 when the target refused every event."""
    mode = "DRY RUN (nothing sent; add --execute)" if run["dry_run"] else "EXECUTED"
    click.echo(f"{run['replay_id']}  {mode}  {run['status']}  -> {run['target']}")
    click.echo(
        f"scanned {run['scanned']}  matched {run['matched']}  sent {run['sent']}  failed {run.get('failed') or 0}"
        f"  retried {run.get('retried') or 0}" + (f"  skipped {run['skipped']}" if run.get("skipped") else "")
    )
    if run.get("last_error"):
        click.echo(f"last target error: {run['last_error']}")
    for day, count in (run.get("by_day") or {}).items():
        click.echo(f"  {day}  {count}")
    if already_delivered(run):
        click.echo(already_delivered(run))
    for line in impact_lines(run):
        click.echo(line)
    if refused(run):  # counts move only with delivered batches: "nothing matched" would be untrue here
        click.echo(f"target refused: nothing delivered ({run['failed']} events refused by {run['target']})")
        click.echo(next_step(run, client_token) or "fix the target, then repeat this command")
        raise click.exceptions.Exit(1)
    if not run["matched"]:
        click.echo(_nothing_matched(run, scope))
    if next_step(run, client_token):
        click.echo(next_step(run, client_token))
    elif run.get("continuation"):  # a dry run bounded by --limit
        click.echo("stopped at --limit: the counts cover the first events of the scope")


def _nothing_matched(run: dict, scope: dict) -> str:
    """Why a run matched nothing, in the terms of its scope (for ``--run``, the dry run's recorded one)."""
    if scope.get("dead_letters"):
        return "nothing matched: the replay queue's DLQ holds no replay messages"
    if scope.get("statuses"):
        return f"nothing matched: no {'/'.join(scope['statuses'])} attempts in the window"
    if scope.get("event_ids") or "event_ids_count" in (run.get("request") or {}):
        return "nothing matched: none of the listed event ids is a known ACCEPTED event (in the window)"
    if not (scope.get("entity_id") or scope.get("source")):
        return "nothing matched: the dry run's scope selects no events now"
    what = f"entity {scope['entity_id']}" if scope.get("entity_id") else f"{scope['source']}/{scope['event_type']}"
    return (
        f"nothing matched: no ACCEPTED events of {what} with event times in [{scope['start'].isoformat()}, "
        f"{scope['end'].isoformat()}). Check the id and the window (`pik_nb`: kit.events(...))."
    )


# may differ: still the same events (recorded_by: an execution of a reviewed dry run, bounded by its review)
_NOT_SCOPE = ("dry_run", "client_token", "limit", "rate_per_second", "resend", "recorded_by")


def _confirm_a_second_execution(kit: Any, scope: dict) -> None:
    """Warn when an executed run already had this scope (events, window, target): going on sends its
    events again. On a terminal, ask; elsewhere refuse: ``--yes`` (or a ``--client-token``) says it is meant.
    The scope is compared as the API records it (``pik.core.replay.parse_request``), read from ``kit.replays()``."""
    from pik_nb.kit import replay_body

    request, _, _ = parse_request(replay_body(**scope, dry_run=False))
    wanted = {k: v for k, v in request.scope().items() if k not in _NOT_SCOPE}
    runs = kit.replays()
    for earlier in runs[~runs["dry_run"].astype(bool)].itertuples():
        if {k: v for k, v in (earlier.request or {}).items() if k not in _NOT_SCOPE} != wanted:
            continue
        click.echo(
            f"warning: this scope was already executed by {earlier.replay_id} at {earlier.created_at} "
            f"(sent {earlier.sent}); executing it again sends its events again",
            err=True,
        )
        if not _interactive():
            raise click.UsageError(
                "not executing the same scope twice: add --yes if you mean it (or give "
                "--client-token; to execute a reviewed dry run: --run RP_ID --execute)"
            )
        if not click.confirm("execute it again?", default=False, err=True):
            raise click.exceptions.Exit(1)
        return


def _interactive() -> bool:
    """True when a person can answer a question (stdin is a terminal)."""
    return sys.stdin.isatty()


def _check_run(
    run_id: str,
    execute: bool,
    *scope: object,
    target: str | None = None,
    fifo_group_id: str | None = None,
    envelope: str | None = None,
    rate_per_second: float | None = None,
    limit: int | None = None,
    include_duplicates: bool = False,
    client_token: str | None = None,
    resend: bool = False,
    **_: object,
) -> None:
    """``--run`` executes the dry run it names, exactly its recorded scope: nothing may change it."""
    if (
        any(scope)
        or target
        or fifo_group_id
        or envelope
        or rate_per_second
        or limit
        or include_duplicates
        or client_token
        or resend
    ):
        raise click.UsageError(
            "--run executes the dry run it names, exactly its scope: no scope, --ids, window, "
            "--target, --envelope, --rate, --limit, --resend or --client-token beside it"
        )
    if not execute:
        raise click.UsageError("--run executes a reviewed dry run: add --execute")


def _check(
    entity_id: str | None,
    source: str | None,
    event_type: str | None,
    start: datetime | None,
    end: datetime | None,
    event_ids: list[str] | None,
    statuses: tuple[str, ...] = (),
    dead_letters: bool = False,
) -> None:
    if dead_letters:
        if entity_id or source or event_type or event_ids or statuses or start or end:
            raise click.UsageError("--dead-letters redrives the DLQ as it stands: no scope, --ids, --status or window")
    elif tuple(statuses) == (REJECTED,):
        if entity_id or source or event_type or event_ids or start is None or end is None:
            raise click.UsageError(
                "--status REJECTED re-submits a window's quarantined requests: give --start and --end only"
            )
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
    """What the stack holds per stream (attempts, events, duplicates, conflicts, newest arrival), where
    pik points, replay queue depths and the latest replay run.

    \b
    Example:
      pik status
      pik status --json | jq '.streams[] | {source, event_type, events, newest_arrival}'
    """
    info = kit.status()
    if as_json:
        echo_json(info)
        return
    latest = info["latest_replay"]
    rows = [
        ("endpoint", info["endpoint"]),
        *((name, value) for name, value in info["resources"].items() if value and name != "extra"),
        *(
            (name, f"{depth['visible']} waiting, {depth['in_flight']} in flight")
            for name, depth in info["queues"].items()
        ),
        ("replay runs", str(info["replay_runs"])),
        ("latest replay", f"{latest['replay_id']} ({latest['status']})" if latest else "none"),
    ]
    click.echo(columns(rows))
    click.echo("")
    click.echo(held(info["streams"], info.get("streams_error")))


def held(streams: list[dict], error: str | None = None) -> str:
    """One line per stream: ``mobile_app/workout_completed  1,234 events in 1,301 attempts (...)``."""
    from pik_nb._format import counted

    if error:
        return f"streams: cannot read the archive ({error})"
    if not streams:
        return "streams: none yet (nothing was ingested; `pik ingest FILE` or POST /ingest sends events)"
    rows = [
        (
            f"{s['source']}/{s['event_type']}",
            f"{counted(s['events'], 'event')} in {counted(s['attempts'], 'attempt')} "
            f"({counted(s['duplicates'], 'duplicate')}, {counted(s['conflicts'], 'conflict')}), "
            f"{counted(s['entities'], 'entity', 'entities')}; "
            f"newest arrival {s['newest_arrival']:%Y-%m-%d %H:%M:%S} UTC",
        )
        for s in streams
    ]
    total = sum(s["attempts"] for s in streams)
    return f"streams ({counted(len(streams), 'stream')}, {counted(total, 'attempt')}):\n" + columns(rows)


def columns(rows: list[tuple[str, Any]]) -> str:
    """Key/value lines with the values aligned: ``columns([("a", 1), ("long", 2)]) == "a     1\nlong  2"``."""
    width = max(len(key) for key, _ in rows)
    return "\n".join(f"{key:<{width}}  {value}" for key, value in rows)
