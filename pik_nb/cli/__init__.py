"""``pik``: the command line, a thin skin over ``pik_nb`` and ``pik_local``.

Each command group lives in its own module and is registered here.
"""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pik")
def cli() -> None:
    """Pipeline Investigation Kit: explain, replay and re-aggregate pipeline events.

    \b
    Start here:  pik demo            (local stack + incident + JupyterLab)
                 pik local up        (just the local stack)
    """


def main() -> None:
    from . import _register  # noqa: F401  (imports every command module)

    cli()
