"""Incident notebooks: a parameterised copy of ``notebooks/incident.ipynb`` per incident.

``open_incident`` writes ``incidents/<date>-<name>.ipynb`` with papermill (executed unless asked
not to); ``report`` turns the executed notebook into one HTML file for the postmortem.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from pik.core.timefmt import parse_bound

from .._errors import KitError
from .runner import NotebookRun, next_free, run_notebook, write_html

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
TEMPLATE = NOTEBOOKS / "incident.ipynb"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class IncidentError(KitError):
    """An incident name, scope or file that cannot be used; the message says why."""


def incident_parameters(
    *,
    entity_id: str | None = None,
    source: str | None = None,
    event_type: str | None = None,
    start: str,
    end: str,
    local_file: str | None = None,
    stack: str | None = None,
    profile: str | None = None,
    region: str | None = None,
    dashboard: str | None = None,
) -> dict:
    """The notebook parameters for a scope; exactly one of entity or source+type. ``dashboard``: a
    file of a dashboard's numbers, explained in the section "what the dashboard shows".

    >>> incident_parameters(entity_id="customer-42", start="2026-11-20", end="2026-11-21")["entity_id"]
    'customer-42'
    """
    if bool(entity_id) == bool(source and event_type) or (entity_id and (source or event_type)):
        raise IncidentError("give --entity, or --source and --event-type (not both)")
    try:
        first, last = parse_bound(start), parse_bound(end)
    except ValueError as exc:
        raise IncidentError(str(exc)) from None
    if last <= first:
        raise IncidentError(f"the window ends ({end}) before it starts ({start}): --end must be after --start")
    params = {
        "entity_id": entity_id or "",
        "source": source or "",
        "event_type": event_type or "",
        "start": start,
        "end": end,
        "stack": stack or "",
        "profile": profile or "",
        "region": region or "",
    }
    if local_file:
        params["local_file"] = str(Path(local_file).resolve())
    if dashboard:
        params["dashboard_file"] = str(Path(dashboard).resolve())
    return params


def open_incident(
    name: str,
    *,
    parameters: dict,
    execute: bool = True,
    directory: Path | str = "incidents",
    template: Path | str = TEMPLATE,
    today: datetime | None = None,
) -> NotebookRun:
    """Create ``<directory>/<date>-<name>.ipynb`` from the template (``-2``, ``-3``... when taken);
    run it unless ``execute=False``. A failed run keeps its partial notebook and names the error.

    >>> open_incident("checkout-drop", parameters=incident_parameters(entity_id="c-42", start="2026-11-20",
    ...               end="2026-11-21"), execute=False).path
    PosixPath('incidents/2026-11-24-checkout-drop.ipynb')
    """
    if not NAME_RE.match(name):
        raise IncidentError(f"incident name {name!r} must match {NAME_RE.pattern}")
    day = (today or datetime.now(UTC)).date().isoformat()
    path = next_free(Path(directory) / f"{day}-{name}.ipynb")
    return run_notebook(template, path, parameters=parameters, execute=execute, cwd=Path.cwd())


def find_incident(name: str, directory: Path | str = "incidents") -> Path:
    """The newest notebook of incident ``name`` (the last one written); a failed run's
    ``.failed.ipynb`` is never picked."""
    folder = Path(directory)
    pattern = re.compile(rf"\d{{4}}-\d{{2}}-\d{{2}}-{re.escape(name)}(-\d+)?\.ipynb")
    matches = [path for path in folder.glob(f"*-{name}*.ipynb") if pattern.fullmatch(path.name)]
    if not matches:
        raise IncidentError(f"no incident named {name!r} in {directory}/ (create it with `pik incident open {name}`)")
    return max(matches, key=lambda path: path.stat().st_mtime_ns)


def report(notebook: Path | str, output: Path | str | None = None) -> Path:
    """Write an executed notebook as a single HTML file next to it (or at ``output``)."""
    notebook = Path(notebook)
    return write_html(notebook, Path(output) if output else notebook.with_suffix(".html"))
