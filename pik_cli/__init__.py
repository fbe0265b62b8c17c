"""``pik``: the command line, a thin skin over ``pik_nb`` and ``pik_local``. Nothing imports it.

Each command group lives in its own module and is attached here, explicitly. Command bodies
import the libraries they drive when they run, so ``pik --help`` loads neither pandas,
matplotlib, ipywidgets nor moto.
"""

from __future__ import annotations

import sys

import click

from . import archive, dashboard, doctor, incident, investigate, local, replay_options

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pik")
def cli() -> None:
    """Pipeline Investigation Kit: explain, replay and re-aggregate pipeline events.

    \b
    Start here:  pik demo            (local stack + incident + JupyterLab)
                 pik local up        (just the local stack)
    """


for _command in (local.local, local.ingest_command, local.demo_command, investigate.explain, investigate.replay,
                 investigate.reconcile, investigate.status, incident.incident,
                 archive.compact, archive.search, archive.sql, replay_options.steer, doctor.doctor,
                 dashboard.explain_dashboard):
    cli.add_command(_command)


def main() -> None:
    """The ``pik`` console script: usage errors are one line naming the option (exit code 2)."""
    try:
        code = cli(prog_name="pik", standalone_mode=False)  # a command's Exit(n) comes back as n
    except click.UsageError as exc:
        hint = f" (see: {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
        click.echo(f"Error: {exc.format_message()}{hint}", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("Aborted!", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
