"""``pik incident open|report``: one notebook per incident, and its HTML for the postmortem."""

from __future__ import annotations

import shlex
from datetime import datetime

import click

from ._common import ISO_TIME, check_scope, echo_json, json_option
from .lab import lab_command_line, run_lab


@click.group()
def incident() -> None:
    """Incident notebooks: open one per incident, report it as HTML."""


@incident.command("open")
@click.argument("name")
@click.option("--entity", "entity_id", help="Scope: one entity id.")
@click.option("--source", help="Scope: a source (with --event-type).")
@click.option("--event-type", help="Scope: an event type (with --source).")
@click.option(
    "--start", required=True, type=ISO_TIME, help="Window start: a date (UTC midnight) or a time with offset."
)
@click.option("--end", required=True, type=ISO_TIME, help="Window end (exclusive), same forms.")
@click.option("--stack", help="A deployed stack's name (default: the local stack).")
@click.option("--profile", default=None, help="AWS profile for --stack.")
@click.option("--region", default=None, help="AWS region for --stack.")
@click.option(
    "--local-file", type=click.Path(dir_okay=False), help="The local stack's info file (default .pik/local.json)."
)
@click.option("--dir", "directory", default="incidents", show_default=True, help="Where incident notebooks live.")
@click.option("--no-execute", is_flag=True, help="Only write the parameterised notebook.")
@click.option("--no-lab", is_flag=True, help="Print the JupyterLab command instead of starting it.")
@click.option(
    "--dashboard",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="A dashboard's numbers (CSV/Parquet: window,value): adds 'what the dashboard shows'.",
)
@json_option("the notebook's path, whether it ran, and the command that opens it")
def open_command(
    name: str,
    entity_id: str | None,
    source: str | None,
    event_type: str | None,
    start: datetime,
    end: datetime,
    stack: str | None,
    profile: str | None,
    region: str | None,
    local_file: str | None,
    directory: str,
    no_execute: bool,
    no_lab: bool,
    dashboard: str | None,
    as_json: bool,
) -> None:
    """Create incidents/<date>-NAME.ipynb for a scope, run it, and open it in JupyterLab.

    \b
    Example:
      pik incident open checkout-drop --entity customer-42 \\
          --start 2026-11-20T00:00:00Z --end 2026-11-21T00:00:00Z --no-lab
      pik incident open wrong-dashboard --source checkout --event-type order_placed \\
          --start 2026-11-20 --end 2026-11-27 --dashboard dash.csv --no-lab
      pik incident open checkout-drop --entity customer-42 --start 2026-11-20 --end 2026-11-21 --no-lab --json
    """
    from pik_nb.notebook.incident import incident_parameters, open_incident

    check_scope(entity_id, source, event_type)
    params = incident_parameters(
        entity_id=entity_id,
        source=source,
        event_type=event_type,
        start=start.isoformat(),
        end=end.isoformat(),
        local_file=local_file,
        stack=stack,
        profile=profile,
        region=region,
        dashboard=dashboard,
    )
    run = open_incident(name, parameters=params, execute=not no_execute, directory=directory)
    if as_json:  # printed whether or not it ran: a script finds the partial notebook too
        echo_json(
            {
                "notebook": str(run.path),
                "executed": not no_execute,
                "ok": run.ok,
                "error": run.error or None,
                "lab_command": lab_command_line(run.path),
            }
        )
    if not run.ok:
        raise click.ClickException(f"the incident notebook failed: {run.error}; the partial notebook is {run.path}")
    if not as_json:
        click.echo(f"incident notebook: {run.path}")
    if no_lab:
        if not as_json:
            click.echo(f"open it with: {shlex.join(lab_command_line(run.path))}")
        return
    run_lab(run.path, say=(lambda text: click.echo(text, err=True)) if as_json else print)  # stdout: one document


@incident.command("report")
@click.argument("name")
@click.option("--dir", "directory", default="incidents", show_default=True, help="Where incident notebooks live.")
@click.option("--output", type=click.Path(dir_okay=False), help="HTML path (default: next to the notebook).")
@json_option("the report's path and the notebook it came from")
def report_command(name: str, directory: str, output: str | None, as_json: bool) -> None:
    """Write the newest notebook of incident NAME as one HTML file.

    \b
    Example:
      pik incident report checkout-drop --output postmortem.html
    """
    from pik_nb.notebook.incident import find_incident, report

    notebook = find_incident(name, directory)
    path = report(notebook, output)
    if as_json:
        echo_json({"report": str(path), "notebook": str(notebook)})
    else:
        click.echo(f"report: {path} (from {notebook})")
