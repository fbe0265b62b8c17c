"""The one place where the command line turns errors into messages and exit codes.

    exit 0    done
    exit 1    a pik error (``PikError``: bad scope, no stack, AWS failure, a refused request, ...):
              ``Error: <its message>`` on stderr; a command's own ``click.ClickException`` alike
    exit 2    a usage error: one line naming the option, and which ``--help`` to read
    exit 1    Ctrl-C (``Aborted!``)
    exit 143  SIGTERM (``exit_on_sigterm``: the stack stops cleanly, as after Ctrl-C)
    exit 1    a command that said what went wrong itself (``pik replay``: "target refused: nothing
              delivered"; ``pik doctor``: a check failed) and raises ``click.exceptions.Exit(1)``

Commands raise; they never catch a pik error to re-word it (``tests/unit/test_errors.py`` checks).
"""

from __future__ import annotations

import signal
import sys
from typing import Any, NoReturn

import click

from pik.core.errors import PikError

USAGE, FAILED, ABORTED, TERMINATED = 2, 1, 1, 143


class PikGroup(click.Group):
    """The ``pik`` group: runs a command and maps what it raised (``pik`` and ``CliRunner`` alike)."""

    def main(
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> NoReturn:
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            hint = f" (see: {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
            click.echo(f"Error: {exc.format_message()}{hint}", err=True)
            sys.exit(USAGE)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except PikError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(FAILED)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(ABORTED)
        sys.exit(code if isinstance(code, int) else 0)  # a command's Exit(n) comes back as n


def exit_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C (``finally`` blocks run, the stack stops), then exits 143."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(TERMINATED))
