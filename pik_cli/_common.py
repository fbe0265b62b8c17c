"""What the command modules share: the stack connection options, logging, option types, ``--json``
(errors: ``pik_cli._errors``)."""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from pik.core.timefmt import parse_bound

DEMO_EVENTS = 2_500  # every playbook shows, and a working link in about a minute on 2 cores
DEMO_WORKERS = 16  # concurrent ingest requests: the local stack's API runs in worker processes


def connection(command: Callable | None = None, *, check: Callable[..., None] | None = None) -> Callable:
    """Add ``--stack/--profile/--region/--local-file`` and pass a connected ``kit``; ``check`` sees the
    command's other arguments first (usage errors before any connection is made)."""
    if command is None:
        return functools.partial(connection, check=check)

    @click.option("--stack", default=None, help="A deployed stack's CloudFormation name [default: the local stack].")
    @click.option("--profile", default=None, help="AWS profile for --stack.")
    @click.option("--region", default=None, help="AWS region for --stack.")
    @click.option(
        "--local-file",
        type=click.Path(path_type=Path),
        default=None,
        help="The local stack's info file [default: $PIK_LOCAL_FILE or .pik/local.json].",
    )
    @functools.wraps(command)
    def wrapper(
        stack: str | None, profile: str | None, region: str | None, local_file: Path | None, **kwargs: Any
    ) -> Any:
        from pik_nb.connect import connect

        if check is not None:
            check(**kwargs)
        kit = connect(stack, profile=profile, region=region) if stack else connect(path=local_file)
        kit.progress = False
        return command(kit, **kwargs)

    return wrapper


def json_option(what: str = "the result") -> Callable:
    """``--json``: print one JSON document on stdout (progress and logs stay on stderr; exit codes unchanged)."""
    return click.option("--json", "as_json", is_flag=True, help=f"Print {what} as one JSON document on stdout.")


def echo_json(value: Any) -> None:
    """``value`` as one JSON document on stdout: a DataFrame as an array of row objects (times in ISO-8601,
    missing values as null), anything else as ``json.dumps`` writes it (other types by ``str``)."""
    if hasattr(value, "to_json") and hasattr(value, "columns"):  # a DataFrame, without importing pandas here
        value = json.loads(value.to_json(orient="records", date_format="iso", date_unit="us"))
    click.echo(json.dumps(value, indent=2, default=str))


def setup_logging() -> None:
    """Warnings and errors of the libraries on stderr, one line each."""
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


class IsoTime(click.ParamType):
    """An ISO-8601 date (midnight UTC) or date-time with an offset, as an aware ``datetime``.

    Anything else (``2026-13-01``, ``yesterday``, ``11/28/2026``, a time without offset) is a usage
    error naming the option: exit code 2, one line, no traceback.
    """

    name = "ISO-8601"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return parse_bound(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


ISO_TIME = IsoTime()


def check_scope(entity_id: str | None, source: str | None, event_type: str | None) -> None:
    """Exactly one scope: ``--entity``, or ``--source`` with ``--event-type`` (a usage error otherwise)."""
    if entity_id and (source or event_type):
        raise click.UsageError("give --entity, or --source with --event-type, not both")
    if not entity_id and not (source and event_type):
        raise click.UsageError("give --entity, or --source with --event-type")
