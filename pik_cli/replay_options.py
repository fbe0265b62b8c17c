"""``pik replay``'s target, rate and id-list options, and ``pik steer``: pause, resume or cancel a run."""

from __future__ import annotations

import json
from typing import Any

import click

from pik.core.records import AttemptStatus
from pik.core.replay import RunStatus, StopReason
from pik.core.targets import ENVELOPES

from ._common import connection, echo_json

KINDS = ("sqs", "eventbridge", "kinesis", "http")


def parse_target(value: str | None, fifo_group_id: str | None, envelope: str | None) -> dict | None:
    """``--target sqs=URL`` (or eventbridge=BUS, kinesis=ARN, http=URL, or the JSON object) -> the API's
    target (``--envelope`` goes beside it, as the request's ``envelope``)."""
    if value is None:
        if fifo_group_id or envelope:
            raise click.UsageError("--fifo-group-id and --envelope need --target")
        return None
    if value.lstrip().startswith("{"):
        try:
            target = json.loads(value)
        except ValueError as exc:
            raise click.UsageError(f"--target: not a JSON object ({exc})") from exc
    else:
        kind, sep, address = value.partition("=")
        if not sep or kind not in KINDS or not address:
            raise click.UsageError(
                f"--target must be KIND=ADDRESS with KIND one of {', '.join(KINDS)}, e.g. sqs=https://..."
            )
        target = {kind: address}
    if fifo_group_id:
        target["fifo_group_id"] = fifo_group_id
    return target


def read_ids(path: str | None) -> list[str] | None:
    """Event ids from FILE (one per line; blank lines and ``#`` comments skipped; ``-`` is stdin);
    a file without ids is a ``click.BadParameter``: ``read_ids("ids.txt") == ["3f2a...", ...]``."""
    if path is None:
        return None
    with click.open_file(path, "r", encoding="utf-8") as handle:
        ids = [line.strip() for line in handle if line.strip() and not line.lstrip().startswith("#")]
    if not ids:
        raise click.BadParameter(
            f"{path} has no event ids (one per line; blank lines and # comments are skipped)", param_hint="--ids"
        )
    return ids


def target_options(command: Any) -> Any:
    """The options ``pik replay`` adds for where, how fast and which events."""
    for option in reversed(
        (
            click.option(
                "--target",
                default=None,
                metavar="KIND=ADDRESS",
                help="Where to send: sqs=QUEUE_URL, eventbridge=BUS, kinesis=STREAM_ARN or http=URL "
                "(default: the stack's replay queue, for its processor).",
            ),
            click.option(
                "--fifo-group-id", default=None, help="MessageGroupId for a FIFO queue (default: each event's entity)."
            ),
            click.option(
                "--envelope",
                type=click.Choice(ENVELOPES),
                is_flag=False,
                flag_value="pik",
                help="What the target gets: raw (each event as sent, the default), pik (event + replay "
                "envelope; a bare --envelope means pik) or cloudevents (CloudEvents 1.0).",
            ),
            click.option(
                "--rate", "rate_per_second", type=float, default=None, help="At most this many events per second."
            ),
            click.option(
                "--ids",
                "event_ids",
                default=None,
                metavar="FILE",
                type=click.Path(exists=True, dir_okay=False, allow_dash=True),
                callback=lambda _ctx, _param, path: read_ids(path),
                help="Replay exactly these event ids (one per line, - for stdin) instead of a scope.",
            ),
            click.option(
                "--dead-letters",
                is_flag=True,
                help="Redrive the replay queue's DLQ (to the replay queue, or --target) as a recorded run.",
            ),
            click.option(
                "--status",
                "statuses",
                multiple=True,
                type=click.Choice([status.value for status in AttemptStatus]),
                help="Attempt statuses to replay (repeatable); --status REJECTED alone re-submits the window's "
                "quarantined requests to ingest (the repair path, audited).",
            ),
        )
    ):
        command = option(command)
    return command


@click.command()
@click.argument("replay_id")
@click.argument("action", type=click.Choice(["pause", "resume", "cancel"]))
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON.")
@connection
def steer(kit, replay_id: str, action: str, as_json: bool) -> None:
    """Pause, resume or cancel a replay run (POST /replay/{id}).

    A run another call is executing stops at its next batch; resume executes the rest now, following the
    run across API calls (a progress line per call on stderr) until it completes, pauses or stops at its limit.

    \b
    Example:
      pik steer rp-3f2a9c0d1e2f4a5b6c7d8e9f0a1b2c3d pause
    """
    run = kit.steer(replay_id, action, on_step=show_step)
    if as_json:
        echo_json(run)
        return
    click.echo(f"{run['replay_id']}  {state(run)}")
    click.echo(
        f"target {run['target']}  sent {run['sent']}  failed {run.get('failed', 0)}  retried {run.get('retried', 0)}"
    )
    if next_step(run):
        click.echo(next_step(run))


STOPPED = {
    StopReason.LIMIT: "at its limit",
    StopReason.TIME: "when the function's time ran low",
    StopReason.TARGET_ERRORS: "because the target refused every event of a batch",
    StopReason.PAUSED: "paused",
    StopReason.CANCELLED: "cancelled",
    StopReason.COMPLETED: "completed",
}


def state(run: dict) -> str:
    """A run's status in words: ``state({"status": "PAUSED", "stopped": "paused"}) == "PAUSED"``."""
    if run.get("requested"):
        return (
            f"{run['status']}: {run['requested']} requested; the run stops after its current batch"
            if run["requested"] != "resume"
            else f"{run['status']}: resume requested"
        )
    if run["status"] == RunStatus.RUNNING:
        return "RUNNING: another call is executing it (steer it, or repeat later to follow it)"
    if run["status"] == RunStatus.PARTIAL:
        return f"PARTIAL: stopped {STOPPED.get(run.get('stopped'), 'early')}"
    return run["status"]


def next_step(run: dict, client_token: str | None = None) -> str | None:
    """The command that moves a stopped (``PARTIAL``) or ``PAUSED`` executed run on; ``None`` for any other.

    >>> next_step({"replay_id": "rp-1", "status": "PAUSED", "dry_run": False})
    'paused: resume it with `pik steer rp-1 resume`'
    """
    if run.get("dry_run") or run["status"] not in (RunStatus.PARTIAL, RunStatus.PAUSED):
        return None
    resume = f"`pik steer {run['replay_id']} resume`" + (
        " (or repeat this command, same --client-token)" if client_token else ""
    )
    if run["status"] == RunStatus.PAUSED:
        return f"paused: resume it with {resume}"
    if run.get("stopped") == StopReason.TARGET_ERRORS:
        return f"stopped {STOPPED[StopReason.TARGET_ERRORS]}: fix the target, then {resume}"
    return f"stopped {STOPPED.get(run.get('stopped'), 'early')}: go on with {resume}"


def already_delivered(run: dict) -> str | None:
    """What the target already had of the run's events, by which runs when, and what that means; None
    when it had none (or the target is the stack's processor, which is not tracked).

    >>> print(already_delivered({"dry_run": True, "target": "sqs:q", "matched": 5, "already_delivered": {
    ...     "count": 3, "runs": [{"replay_id": "rp-a", "count": 3, "first_at": "t1", "last_at": "t2"}]}}))
    already delivered to sqs:q: 3 of the 5 selected events, by rp-a (3, last at t2)
    executing skips them; --resend sends them again
    """
    seen = run.get("already_delivered") or {}
    if not seen.get("count"):
        return None
    runs = ", ".join(f"{r['replay_id']} ({r['count']}, last at {r['last_at']})" for r in seen["runs"])
    if seen.get("other_runs"):
        runs += f" and {seen['other_runs']} by other runs"
    resend = (run.get("request") or {}).get("resend")
    if run.get("dry_run"):
        then = "executing sends them again (resend)" if resend else "executing skips them; --resend sends them again"
    else:
        then = "sent again (resend)" if resend else f"skipped {run.get('skipped') or 0}; --resend sends them again"
    return (
        f"already delivered to {run['target']}: {seen['count']} of the {run['matched']} selected events, "
        f"by {runs}\n{then}"
    )


def refused(run: dict) -> bool:
    """An executed run whose target took nothing and refused something: ``refused({"dry_run": False,
    "sent": 0, "failed": 3}) is True``."""
    return not run.get("dry_run") and not run.get("sent") and bool(run.get("failed"))


def show_step(run: dict) -> None:
    """Progress while a run is followed across continuations, on stderr (``--json`` output stays clean)."""
    going_on = "trying the target once more" if run.get("stopped") == StopReason.TARGET_ERRORS else "continuing"
    click.echo(
        f"... {run['replay_id']}: sent {run['sent']} so far, stopped {STOPPED.get(run.get('stopped'), 'early')}; "
        f"{going_on}",
        err=True,
    )
