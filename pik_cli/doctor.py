"""``pik doctor``: a thin skin over ``pik_nb.doctor`` (``kit.doctor()``)."""

from __future__ import annotations

import click

from ._common import connection, echo_json


@click.command()
@click.option(
    "--write",
    is_flag=True,
    help="Also ingest one probe event (reserved source pik.doctor) and read its raw object back.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@connection
def doctor(kit, write: bool, as_json: bool) -> None:
    """Check every path pik relies on, one line each: ok, or the exact fix. Exit 1 if any check fails.

    Run it right after `sam deploy` (as the deployer, then with the investigator's --profile), or
    on the local stack (the default target).

    \b
    Example:
      pik doctor --stack pik-prod --write
    """
    report = kit.doctor(write=write)
    echo_json(report.to_dict()) if as_json else click.echo(str(report))
    if not report.ok:
        raise click.exceptions.Exit(1)
