"""``pik``: the command line, a thin skin over ``pik_nb`` and ``pik_local``. Nothing imports it.

Each command group lives in its own module and is attached here, explicitly. Command bodies
import the libraries they drive when they run, so ``pik --help`` loads neither pandas,
matplotlib, ipywidgets nor moto.
"""

from __future__ import annotations

import click

from . import archive, dashboard, doctor, incident, investigate, local, replay_options
from ._errors import PikGroup

__all__ = ["cli", "main"]


@click.group(cls=PikGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pik")
def cli() -> None:
    """Pipeline Investigation Kit: explain, replay and re-aggregate pipeline events.

    \b
    Start here:  pik demo            (local stack + incident + JupyterLab)
                 pik local up        (just the local stack)
    """


for _command in (
    local.local,
    local.ingest_command,
    local.demo_command,
    investigate.explain,
    investigate.replay,
    investigate.reconcile,
    investigate.status,
    incident.incident,
    archive.compact,
    archive.search,
    archive.sql,
    replay_options.steer,
    doctor.doctor,
    dashboard.explain_dashboard,
):
    cli.add_command(_command)


def main() -> None:
    """The ``pik`` console script (errors become messages and exit codes in ``pik_cli._errors``)."""
    cli.main(prog_name="pik")
