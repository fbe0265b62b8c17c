"""What the command modules share: the stack connection options, error mapping, logging."""

from __future__ import annotations

import functools
import logging
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import click

from pik.core.errors import PikError


def connection(command: Callable) -> Callable:
    """Add ``--stack/--profile/--region/--local-file`` and pass a connected ``kit``."""
    @click.option("--stack", default=None, help="A deployed stack's CloudFormation name [default: the local stack].")
    @click.option("--profile", default=None, help="AWS profile for --stack.")
    @click.option("--region", default=None, help="AWS region for --stack.")
    @click.option("--local-file", type=click.Path(path_type=Path), default=None,
                  help="The local stack's info file [default: $PIK_LOCAL_FILE or .pik/local.json].")
    @functools.wraps(command)
    def wrapper(stack: str | None, profile: str | None, region: str | None, local_file: Path | None, **kwargs: Any) -> Any:
        from pik_nb.connect import connect

        with errors():
            kit = connect(stack, profile=profile, region=region) if stack else connect(path=local_file)
            kit.progress = False
            return command(kit, **kwargs)
    return wrapper


@contextmanager
def errors() -> Iterator[None]:
    """Library errors (bad scope, missing stack, AWS failures) as clean ``click`` errors."""
    try:
        yield
    except PikError as exc:
        raise click.ClickException(str(exc)) from exc


def setup_logging() -> None:
    """Warnings and errors of the libraries on stderr, one line each."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
