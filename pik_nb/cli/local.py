"""``pik local up``, ``pik ingest`` and ``pik demo``: the local stack and its data."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import IO, Iterator

import click

from . import cli


@cli.group()
def local() -> None:
    """The local stack: moto + the Lambda handlers on 127.0.0.1, no AWS account needed."""


@local.command("up")
@click.option("--aws-port", type=int, default=0, show_default="a free port", help="Port of moto's AWS endpoint.")
@click.option("--api-port", type=int, default=0, show_default="a free port", help="Port of the pik HTTP API.")
@click.option("--info-file", type=click.Path(path_type=Path), default=None,
              help="Where to write the endpoints [default: $PIK_LOCAL_FILE or .pik/local.json].")
@click.option("--state-dir", type=click.Path(path_type=Path), default=None,
              help="Keep state here across restarts (saved on stop, loaded on start) [default: memory only].")
@click.option("--prefix", default="pik", show_default=True, help="Prefix of the bucket, table and queue names.")
@click.option("--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]), default="WARNING",
              show_default=True, help="The handlers' log level (the template's LogLevel parameter).")
def local_up(aws_port: int, api_port: int, info_file: Path | None, state_dir: Path | None, prefix: str,
             log_level: str) -> None:
    """Run the local stack in the foreground until Ctrl-C or SIGTERM.

    \b
    Example:
      pik local up --state-dir .pik/state
      curl -s -XPOST "$(jq -r .api_url .pik/local.json)/ingest" -d @event.json
    """
    from pik_local.stack import LocalStack, StackError

    _logging()
    stack = LocalStack(aws_port=aws_port, api_port=api_port, info_file=info_file, state_dir=state_dir,
                       prefix=prefix, log_level=log_level)
    stopping = _stop_on_signals()
    try:
        stack.start()
    except StackError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        click.echo(_summary(stack))
        stopping.wait()
        click.echo("stopping ..." + (f" saving state to {state_dir}" if state_dir else ""))
    finally:
        saved = stack.stop()
    if saved is not None:
        click.echo(f"saved {sum(saved.values())} objects, items and messages to {state_dir}")
    click.echo("stopped")


def _logging() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def _stop_on_signals() -> threading.Event:
    """SIGINT (Ctrl-C) and SIGTERM both ask for a clean stop."""
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    return stopping


def _summary(stack) -> str:
    info, names = stack.info, stack.resources.names
    persisted = (f"{stack.state_dir} (restored {sum(stack.restored.values())} records)" if stack.restored is not None
                 else f"{stack.state_dir} (empty, saved on stop)" if stack.state_dir
                 else "memory only: everything is lost on stop (use --state-dir DIR to keep it)")
    lines = [
        f"pik local stack is up (pid {info.pid})",
        f"  API        {info.api_url}   POST /ingest, POST /replay",
        f"  AWS        {info.endpoint_url}   (moto; region {info.region}, credentials testing/testing)",
        *(f"  {logical:<22} {name}" for logical, name in names.items()),
        f"  info file  {stack.info_file}",
        f"  state      {persisted}",
        "Ctrl-C or SIGTERM stops it.",
    ]
    return "\n".join(lines)
