"""``pik local up``, ``pik ingest`` and ``pik demo``: the local stack and its data."""

from __future__ import annotations

import functools
import json
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

import click

from pik.core.records import AttemptStatus

from ._common import DEMO_EVENTS, DEMO_WORKERS, echo_json, json_option, setup_logging
from ._errors import exit_on_sigterm

if TYPE_CHECKING:
    from pik_api import ApiClient, IngestResult
    from pik_local.stack import LocalStack


@click.group()
def local() -> None:
    """The local stack: moto + the Lambda handlers on 127.0.0.1, no AWS account needed."""


@local.command("up")
@click.option(
    "--aws-port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default="a free port",
    help="Port of moto's AWS endpoint.",
)
@click.option(
    "--api-port", type=click.IntRange(0, 65535), default=0, show_default="a free port", help="Port of the pik HTTP API."
)
@click.option(
    "--info-file",
    type=click.Path(path_type=Path),
    default=None,
    help="Where to write the endpoints [default: $PIK_LOCAL_FILE or .pik/local.json].",
)
@click.option(
    "--state-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Keep state here across restarts, kill -9 included (a journal of every write before each "
    "answer, a snapshot on stop) [default: memory only].",
)
@click.option("--prefix", default="pik", show_default=True, help="Prefix of the bucket, table and queue names.")
@click.option(
    "--simulated-arrival",
    is_flag=True,
    help="Honour the X-Pik-Simulated-Arrival header (for replaying a generated history; never in AWS).",
)
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]),
    default="INFO",
    show_default=True,
    help="The handlers' log level (the template's LogLevel parameter); "
    "their logs go to lambda.log next to the info file.",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="A template parameter, as sam deploy --parameter-overrides sets it (repeatable), "
    "e.g. --param SqsTapQueueArn=arn:aws:sqs:us-east-1:123456789012:orders (docs/capture.md).",
)
@json_option("the endpoints (the info file's content and its path), once the stack is up,")
def local_up(
    aws_port: int,
    api_port: int,
    info_file: Path | None,
    state_dir: Path | None,
    prefix: str,
    simulated_arrival: bool,
    log_level: str,
    params: tuple[str, ...],
    as_json: bool,
) -> None:
    """Run the local stack in the foreground until Ctrl-C or SIGTERM.

    \b
    Example:
      pik local up --state-dir .pik/state
      pik local up --param KinesisTapStreamArn=arn:aws:kinesis:us-east-1:123456789012:stream/orders
      curl -s -XPOST "$(jq -r .api_url .pik/local.json)/ingest" -d @event.json
    """
    from pik_local.stack import LocalStack

    setup_logging()
    stack = LocalStack(
        aws_port=aws_port,
        api_port=api_port,
        info_file=info_file,
        state_dir=state_dir,
        prefix=prefix,
        log_level=log_level,
        simulated_arrival=simulated_arrival,
        parameters=_parameters(params),
    )
    stopping = _stop_on_signals()
    say = functools.partial(click.echo, err=as_json)  # with --json, stdout holds the one document
    if state_dir:
        say(f"starting, with the state saved in {state_dir} (if any) ...")
    stack.start()
    try:
        if as_json:
            info = json.loads(stack.info_file.read_text(encoding="utf-8"))
            echo_json({**info, "info_file": str(stack.info_file.resolve())})
        else:
            say(_summary(stack))
        stopping.wait()
        say("stopping ..." + (f" saving state to {state_dir}" if state_dir else ""))
    finally:
        saved = stack.stop()
    if saved is not None:
        say(f"saved {sum(saved.values())} objects, items and messages to {state_dir}")
    say("stopped")


def _parameters(pairs: tuple[str, ...]) -> dict[str, str]:
    """``("A=1", "B=x=y")`` -> ``{"A": "1", "B": "x=y"}``; a pair without ``=`` is a usage error."""
    parameters = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="--param")
        parameters[name] = value
    return parameters


def _stop_on_signals() -> threading.Event:
    """SIGINT (Ctrl-C) and SIGTERM both ask for a clean stop."""
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    return stopping


def _summary(stack: LocalStack) -> str:
    info, names = stack.info, stack.resources.names
    replayed = (
        f", replayed {stack.replayed['writes']} journaled writes"
        + (f" ({stack.replayed['refused']} refused: see docs/local.md)" if stack.replayed["refused"] else "")
        if stack.replayed and (stack.replayed["writes"] or stack.replayed["refused"])
        else ""
    )
    persisted = (
        f"{stack.state_dir} (restored {sum(stack.restored.values())} records{replayed})"
        if stack.restored is not None
        else f"{stack.state_dir} (no snapshot{replayed})"
        if replayed
        else f"{stack.state_dir} (empty, saved on stop)"
        if stack.state_dir
        else "memory only: everything is lost on stop (use --state-dir DIR to keep it)"
    )
    taps = {key: value for key, value in info.outputs.items() if "_tap_" in key and value not in names.values()}
    rows = {
        "API": f"{info.api_url}   POST /ingest, POST /replay",
        "AWS": f"{info.endpoint_url}   (moto; region {info.region}, credentials testing/testing)",
        **names,
        **taps,
        "info file": stack.info_file,
        "Lambda log": stack.lambda_log_path,
        "state": persisted,
    }
    width = max(map(len, rows))
    return "\n".join(
        [
            f"pik local stack is up (pid {info.pid})",
            *(f"  {label:<{width}}  {value}" for label, value in rows.items()),
            "Ctrl-C or SIGTERM stops it.",
        ]
    )


@click.command("ingest")
@click.argument("source", type=click.File("rb"))
@click.option("--api-url", help="Base URL of an unauthenticated API [default: the local stack's, from its info file].")
@click.option(
    "--local-file",
    type=click.Path(path_type=Path),
    default=None,
    help="The local stack's info file [default: $PIK_LOCAL_FILE or .pik/local.json].",
)
@click.option(
    "--stack", default=None, help="A deployed stack's name: its API, SigV4-signed [default: the local stack]."
)
@click.option("--profile", default=None, help="AWS profile for --stack.")
@click.option("--region", default=None, help="AWS region for --stack.")
@click.option("--workers", type=click.IntRange(1, 64), default=8, show_default=True, help="Concurrent requests.")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 500),
    default=100,
    show_default=True,
    help='Events per POST /ingest request ({"events": [...]}); 1 sends one event per request.',
)
@click.option(
    "--output",
    type=click.File("w", encoding="utf-8"),
    default=None,
    help="Write each answer as a JSON line here ('-' for stdout).",
)
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar.")
@json_option("the counts per status and each line's answer")
def ingest_command(
    source: IO[bytes],
    api_url: str | None,
    local_file: Path | None,
    stack: str | None,
    profile: str | None,
    region: str | None,
    workers: int,
    batch_size: int,
    output: IO[str] | None,
    progress: bool,
    as_json: bool,
) -> None:
    """POST every JSON line of SOURCE (a file, or - for stdin) to /ingest, in batches, concurrently.

    A line that is not JSON is sent on its own, as it is (the API rejects it with the rule json and
    quarantines it). Lines are UTF-8 (a UTF-8 byte-order mark is dropped): a line that is not, e.g. of a
    UTF-16 file, is refused before anything is sent, with its line number and the API's own rule. Prints
    the count per status and, for each line not stored, its line number and the API's reasons; exits
    with 1 when any line was not stored (REJECTED, or no answer) or the file holds no events. With --json,
    stdout is one document ``{"counts": {...}, "lines": [{"line": 1, "http_status": 202, ...}, ...]}`` and
    the sentences go to stderr.

    \b
    Example:
      pik ingest events.jsonl
      pik ingest events.jsonl --stack pik-prod --profile producer
      pik ingest events.jsonl --json > answers.json
      echo '{"source":"app","event_type":"click","entity_id":"u1","event_time":"2026-11-20T10:00:00Z","payload":{}}' | pik ingest -
    """  # noqa: E501 (the example is one command to copy)
    from pik_api import ApiClient, count_statuses

    if as_json and output is not None and output.name == "<stdout>":
        raise click.UsageError("--json prints the answers on stdout: give --output a file, not -")
    lines = list(_json_lines(source))
    if not lines:
        raise click.ClickException(f"{source.name} holds no events (it is empty or only blank lines)")
    session = None
    if stack:
        from pik_nb.connect import connect

        kit = connect(stack, profile=profile, region=region)
        api_url, session = kit.resources.api_url, kit.session
    with ApiClient(api_url or _local_api(local_file), session=session, workers=workers) as api:
        results = _send(api, [event for _, event in lines], batch_size, progress)
    numbered = [(number, result) for (number, _), result in zip(lines, results, strict=True)]
    answers = [{"line": number, "http_status": result.http_status, **result.body} for number, result in numbered]
    if output:
        output.writelines(json.dumps(answer) + "\n" for answer in answers)
    counts = dict(sorted(count_statuses(results).items()))
    if as_json:
        echo_json({"counts": counts, "lines": answers})
    else:
        click.echo(json.dumps(counts))
    refused = [(number, result) for number, result in numbered if result.status not in STORED]
    if refused:
        _say_refused(refused, len(results), keep_hint=not (output or as_json))
        raise click.exceptions.Exit(1)


def _say_refused(refused: list[tuple[int, IngestResult]], total: int, keep_hint: bool) -> None:
    """On stderr: each refused line's number, status and reasons (the first ``MAX_REASONS``), then the tally."""
    from pik_nb._format import counted

    for number, result in refused[:MAX_REASONS]:
        click.echo(f"line {number}: {result.status} {_reasons(result.body)}", err=True)
    more = f" ({len(refused) - MAX_REASONS} more not shown)" if len(refused) > MAX_REASONS else ""
    click.echo(
        f"{len(refused)} of {counted(total, 'line')} were not stored{more}"
        + ("; --output FILE keeps each answer with its line number" if keep_hint else ""),
        err=True,
    )


STORED = (AttemptStatus.ACCEPTED, AttemptStatus.DUPLICATE, AttemptStatus.CONFLICT)
MAX_REASONS = 20  # lines whose reasons are printed; --output keeps them all


def _send(api: ApiClient, events: list[object], batch_size: int, progress: bool) -> list[IngestResult]:
    """Answers in line order: JSON lines in batches (unless ``batch_size`` is 1), each broken line
    alone as it is, so the API names its rule (``json``) instead of a batch element's."""
    broken = [i for i, event in enumerate(events) if isinstance(event, str)]
    good = [i for i, event in enumerate(events) if not isinstance(event, str)]
    results: list = [None] * len(events)
    sent = (
        (
            api.ingest_batches([events[i] for i in good], batch_size=batch_size, progress=progress)
            if batch_size > 1
            else api.ingest([events[i] for i in good], progress=progress)
        )
        if good
        else []
    )
    for index, result in zip(good, sent, strict=True):
        results[index] = result
    alone = api.ingest([events[i] for i in broken], progress=False) if broken else []
    for index, result in zip(broken, alone, strict=True):
        results[index] = result
    return results


def _reasons(body: dict) -> str:
    """``body/json: body is not valid JSON: ...; entity_id/required: ...`` from an API answer."""
    details = body.get("details") or []
    if details:
        return "; ".join(f"{d.get('field')}/{d.get('rule')}: {d.get('message')}" for d in details)
    return str(body.get("error") or body)


def _json_lines(source: IO[bytes]) -> Iterator[tuple[int, object]]:
    """``(line number, event)`` of every non-blank line; a line that is not JSON stays its text. A line
    that is not UTF-8 is refused, naming its number, by the rule ``POST /ingest`` applies to a body
    (``pik.core.contract.not_utf8``: ``body``/``utf8``)."""
    from pik.core.contract import not_utf8

    for number, raw in enumerate(source, start=1):
        problem = not_utf8(raw)
        if problem is not None:
            raise click.ClickException(
                f"{source.name} line {number}: {problem.field}/{problem.rule}: {problem.message}; nothing was sent "
                "(pik ingest reads UTF-8 JSON lines)"
            )
        line = raw.decode("utf-8").removeprefix("\ufeff")
        if line.strip():
            try:
                yield number, json.loads(line)
            except ValueError:
                yield number, line.rstrip("\r\n")


def _local_api(info_file: Path | None) -> str:
    from pik_local.info import default_path
    from pik_local.stack import running

    path = info_file or default_path()
    info = running(path)
    if info is None:
        raise click.ClickException(
            f"no local stack is running ({path} is missing or stale): start `pik local up`, or pass --api-url"
        )
    return info.api_url


@click.command("demo")
@click.option(
    "--events",
    type=click.IntRange(60, None),
    default=DEMO_EVENTS,
    show_default=True,
    help="Size of the generated incident (requests sent); 20000 tells it at scale (minutes).",
)
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the generator.")
@click.option(
    "--workers", type=click.IntRange(1, 64), default=DEMO_WORKERS, show_default=True, help="Concurrent ingest requests."
)
@click.option("--lab/--no-lab", default=True, show_default=True, help="Open JupyterLab on the incident notebook.")
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Execute the incident notebook and write it as HTML here.",
)
@click.option(
    "--info-file",
    type=click.Path(path_type=Path),
    default=None,
    help="Where the stack writes its endpoints [default: $PIK_LOCAL_FILE or .pik/local.json].",
)
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show progress bars.")
def demo_command(
    events: int, seed: int, workers: int, lab: bool, report: Path | None, info_file: Path | None, progress: bool
) -> None:
    """Local stack + a generated incident + replay + processing, then the incident notebook.

    \b
    Example:
      pik demo                                   # JupyterLab on the incident (URL printed)
      pik demo --no-lab --report out.html --events 2000
    """
    from .demo import run_demo

    setup_logging()
    exit_on_sigterm()
    outcome = run_demo(
        events=events,
        seed=seed,
        workers=workers,
        lab=lab,
        report=report,
        info_file=info_file,
        progress=progress,
        say=click.echo,
    )
    click.echo(f"answers per phase: {json.dumps(outcome.statuses)}")
